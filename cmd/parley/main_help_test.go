package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/parleyhq/parley/internal/cli"
)

// TestHelpAndVersion: the ways a newcomer asks for help print the command
// list and succeed; version prints the build's version.
func TestHelpAndVersion(t *testing.T) {
	for _, args := range [][]string{nil, {"help"}, {"-h"}, {"--help"}} {
		var out bytes.Buffer
		if err := dispatch(context.Background(), args, &out, io.Discard); err != nil {
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
		if err := dispatch(context.Background(), args, &out, io.Discard); err != nil || !strings.HasPrefix(out.String(), "parley ") {
			t.Errorf("parley %v = %q, %v", args, out.String(), err)
		}
	}
}

// TestStrayArgument: a word among the flags of a command that takes none
// is refused, naming the word, before the command does anything; the flag
// package alone stops at it and drops every later flag. (The flags that
// keep a server off the default ports and data dir come before the word,
// and the context is cancelled, should a command ever run regardless.)
func TestStrayArgument(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, args := range [][]string{
		{"serve", "--data-dir", dir, "--only", "none", "--metrics-addr", "127.0.0.1:0", "foo", "--log-level", "debug"},
		{"version", "foo", "--json"},
		{"voice-token", "foo", "--data-dir", dir, "--user", "1", "--guild", "2", "--channel", "3"},
		{"voice kick", "--data-dir", dir, "foo", "--guild", "1", "--user", "2"},
		{"voice join", "foo", "--credentials", "-"},
		{"bot create", "foo", "--name", "b", "--data-dir", dir},
		{"bench voice", "--rooms", "1", "--duration", "1ms", "--warmup", "0s", "--no-reflector", "foo", "--json"},
		{"mediaproxy", "--data-dir", dir, "--media-addr", "127.0.0.1:0", "foo", "--log-level", "debug"},
		{"media upload-token", "--data-dir", dir, "foo"},
	} {
		args = append(strings.Fields(args[0]), args[1:]...)
		err := dispatch(ctx, args, io.Discard, io.Discard)
		if !errors.Is(err, cli.ErrExtraArg) || !strings.Contains(err.Error(), `"foo"`) {
			t.Errorf("parley %v: %v, want %v naming \"foo\"", args, err, cli.ErrExtraArg)
		}
	}
}

// TestUsageMessages: a usage error prints what is wrong once, without a
// ": usage" tail.
func TestUsageMessages(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"voice", "join"}, "parley: --credentials is required\n"},
		{[]string{"media", "put", "--data-dir", dir}, "parley: usage: parley media put FILE --channel C [--data-dir DIR]\n"},
		{[]string{"voice-token", "--data-dir", dir}, "parley: --user, --guild and --channel are required\n"},
		{[]string{"version", "a"}, "parley: unexpected argument \"a\"\n"},
	} {
		var stderr bytes.Buffer
		if code := run(context.Background(), tt.args, io.Discard, &stderr); code != 2 || !strings.HasSuffix(stderr.String(), tt.want) {
			t.Errorf("parley %v: exit %d, stderr ends %q, want exit 2 and %q", tt.args, code, lastLine(stderr.String()), tt.want)
		}
	}
}

// lastLine is the last line of s with its newline.
func lastLine(s string) string {
	i := strings.LastIndex(strings.TrimSuffix(s, "\n"), "\n")
	return s[i+1:]
}
