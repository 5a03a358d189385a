package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
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

// TestCommandGroups: a group's name lists its commands and nothing else (a
// word boundary: "media" is not "mediaproxy"), on stdout and with success
// when asked for, and names the unknown command when given one.
func TestCommandGroups(t *testing.T) {
	for _, tt := range []struct {
		args     []string
		code     int
		unknown  string // the unknown command named on stderr ("" none)
		lists    string // a command the listing shows
		notLists string // a command it must not show
	}{
		{[]string{"voice"}, 0, "", "voice join", "voice-token"},
		{[]string{"media"}, 0, "", "media put", "mediaproxy"},
		{[]string{"bot", "-h"}, 0, "", "bot create", "serve"},
		{[]string{"help", "bot"}, 0, "", "bot reset", "serve"},
		{[]string{"bench", "--help"}, 0, "", "bench voice", "gateway-clients"},
		{[]string{"voice", "frob"}, 2, "voice frob", "voice kick", "voice-token"},
		{[]string{"voice", "frob", "-h"}, 2, "voice frob", "voice kick", "serve"},
		{[]string{"help", "frob"}, 2, "frob", "serve", "gateway-clients"},
		{[]string{"frob", "--data-dir", "x"}, 2, "frob", "serve", "gateway-clients"},
	} {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), tt.args, &stdout, &stderr)
		listing := stdout.String()
		if tt.code != 0 {
			listing = stderr.String()
		}
		unknown := strings.Contains(stderr.String(), "unknown command")
		switch {
		case code != tt.code:
			t.Errorf("parley %v: exit %d, want %d", tt.args, code, tt.code)
		case tt.code == 0 && stderr.Len() > 0:
			t.Errorf("parley %v: stderr %q, want the listing on stdout", tt.args, stderr.String())
		case (tt.unknown != "") != unknown, tt.unknown != "" && !strings.Contains(stderr.String(), fmt.Sprintf("unknown command %q\n", tt.unknown)):
			t.Errorf("parley %v: stderr %q, want unknown command %q", tt.args, stderr.String(), tt.unknown)
		case !strings.Contains(listing, "  "+tt.lists+" "), strings.Contains(listing, "  "+tt.notLists+" "):
			t.Errorf("parley %v: listing %q, want %q and not %q", tt.args, listing, tt.lists, tt.notLists)
		}
	}
}

// TestExitCodes: 2 for a usage error (the command line is wrong), 1 for a
// failure at run time, 0 for help.
func TestExitCodes(t *testing.T) {
	dir := t.TempDir() // no server runs on it
	for _, tt := range []struct {
		args []string
		code int
	}{
		{[]string{"version", "--bogus"}, 2},
		{[]string{"voice-token", "--data-dir", dir, "--user", "1", "--guild", "2", "--channel", "3", "--ttl", "x"}, 2},
		{[]string{"voice-token", "--data-dir", dir, "--user", "1", "--guild", "2", "--channel", "3", "--ttl", "-1s"}, 2},
		{[]string{"frob"}, 2},
		{[]string{"media", "put", "a", "b"}, 2},
		{[]string{"voice-token", "--data-dir", dir, "--user", "1", "--guild", "2", "--channel", "3"}, 1},
		{[]string{"voice", "list", "--data-dir", dir}, 1},
		{[]string{"media", "put", dir + "/missing.png", "--channel", "1", "--data-dir", dir}, 1},
		{[]string{"version", "-h"}, 0},
	} {
		if code := run(context.Background(), tt.args, io.Discard, io.Discard); code != tt.code {
			t.Errorf("parley %v: exit %d, want %d", tt.args, code, tt.code)
		}
	}
}
