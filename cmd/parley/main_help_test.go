package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestHelpAndVersion: the ways a newcomer asks for help print the command
// list and succeed; version prints the build's version.
func TestHelpAndVersion(t *testing.T) {
	for _, args := range [][]string{nil, {"help"}, {"-h"}, {"--help"}} {
		var out bytes.Buffer
		if err := dispatch(context.Background(), args, &out); err != nil {
			t.Errorf("parley %v: %v", args, err)
		}
		if !strings.Contains(out.String(), "usage: parley COMMAND") || !strings.Contains(out.String(), "serve") {
			t.Errorf("parley %v printed %q, want the command list", args, out.String())
		}
		if strings.Contains(out.String(), "gateway-clients") {
			t.Errorf("parley %v lists an internal command", args)
		}
	}
	for _, args := range [][]string{{"version"}, {"--version"}} {
		var out bytes.Buffer
		if err := dispatch(context.Background(), args, &out); err != nil || !strings.HasPrefix(out.String(), "parley ") {
			t.Errorf("parley %v = %q, %v", args, out.String(), err)
		}
	}
}
