package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"github.com/parleyhq/parley/internal/datadir"
)

// TestAdminVoiceFlags: each voice admin command offers the flags it reads
// and no other: --off for mute and deafen only, --guild and --user
// (required) for all but list.
func TestAdminVoiceFlags(t *testing.T) {
	dir := t.TempDir() // no server runs on it: a command that parses fails with 1
	for _, tt := range []struct {
		args []string
		code int
	}{
		{[]string{"voice", "kick", "--guild", "1", "--user", "2", "--off"}, 2},
		{[]string{"voice", "list", "--guild", "1"}, 2},
		{[]string{"voice", "list", "--off"}, 2},
		{[]string{"voice", "mute", "--guild", "1"}, 2},
		{[]string{"voice", "mute", "--guild", "1", "--user", "2", "--off"}, 1},
		{[]string{"voice", "deafen", "--guild", "1", "--user", "2", "--off"}, 1},
		{[]string{"voice", "kick", "--guild", "1", "--user", "2"}, 1},
		{[]string{"voice", "list"}, 1},
	} {
		args := append(tt.args, "--data-dir", dir)
		if code := run(context.Background(), args, io.Discard, io.Discard); code != tt.code {
			t.Errorf("parley %v: exit %d, want %d", args, code, tt.code)
		}
	}
	for _, tt := range []struct {
		action      string
		has, hasNot []string
	}{
		{"mute", []string{"-off", "-guild string\n    \tguild id (required)", "-user string\n    \tuser id (required)"}, nil},
		{"kick", []string{"-guild", "-user"}, []string{"-off"}},
		{"list", []string{"-data-dir"}, []string{"-off", "-guild", "-user"}},
	} {
		out, _ := parleyCmd(context.Background(), "voice", tt.action, "-h").CombinedOutput()
		for _, s := range tt.has {
			if !strings.Contains(string(out), s) {
				t.Errorf("voice %s -h does not show %q:\n%s", tt.action, s, out)
			}
		}
		for _, s := range tt.hasNot {
			if strings.Contains(string(out), s) {
				t.Errorf("voice %s -h shows %q:\n%s", tt.action, s, out)
			}
		}
	}
}

// TestNoServerMessage: with no server the client commands say so once;
// with a server that runs without the listener they need, they name it.
func TestNoServerMessage(t *testing.T) {
	dir := t.TempDir()
	want := "parley: " + errNoServer.Error() + "\n"
	for _, args := range [][]string{
		{"voice", "list", "--data-dir", dir},
		{"voice-token", "--data-dir", dir, "--user", "1", "--guild", "2", "--channel", "3"},
	} {
		var stderr bytes.Buffer
		if code := run(context.Background(), args, io.Discard, &stderr); code != 1 || stderr.String() != want {
			t.Errorf("parley %v: exit %d, stderr %q, want 1 and %q", args, code, stderr.String(), want)
		}
	}
	d, err := datadir.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.WriteReady(map[string]any{"ready": true, "voice_gateway": "127.0.0.1:1"}); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	if code := run(context.Background(), []string{"voice", "list", "--data-dir", dir}, io.Discard, &stderr); code != 1 ||
		!strings.Contains(stderr.String(), `"admin"`) || strings.Contains(stderr.String(), errNoServer.Error()) {
		t.Errorf("voice list on a server without admin: exit %d, stderr %q", code, stderr.String())
	}
}
