package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"testing"
)

func TestParseOneArg(t *testing.T) {
	tests := []struct {
		args    []string
		arg     string
		dir     string
		channel string
		err     error
	}{
		{[]string{"f.png", "--channel", "1"}, "f.png", "./data", "1", nil},
		{[]string{"--channel", "1", "f.png"}, "f.png", "./data", "1", nil},
		{[]string{"--data-dir", "d", "f.png", "--channel", "1"}, "f.png", "d", "1", nil},
		{[]string{"--data-dir", "d", "--channel", "1"}, "", "d", "1", nil},
		{[]string{"f.png", "--channel", "1", "--", "-odd"}, "", "", "", ErrExtraArg},
		{[]string{"a.png", "b.png"}, "", "", "", ErrExtraArg},
		{[]string{"a.png", "--channel", "1", "b.png"}, "", "", "", ErrExtraArg},
		{nil, "", "./data", "", nil},
	}
	for _, tt := range tests {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		dir := fs.String("data-dir", "./data", "")
		channel := fs.String("channel", "", "")
		arg, err := ParseOneArg(fs, tt.args)
		if !errors.Is(err, tt.err) {
			t.Errorf("%q: err %v, want %v", tt.args, err, tt.err)
			continue
		}
		if err == nil && (arg != tt.arg || *dir != tt.dir || *channel != tt.channel) {
			t.Errorf("%q: arg %q dir %q channel %q, want %q %q %q", tt.args, arg, *dir, *channel, tt.arg, tt.dir, tt.channel)
		}
	}
}

// TestParse: a positional argument anywhere is ErrExtraArg naming it, not
// the silent end of the flags (the flag package stops at the first word,
// so `serve foo --data-dir D` would have run on ./data).
func TestParse(t *testing.T) {
	tests := []struct {
		name string
		args []string
		dir  string
		err  error
		word string
	}{
		{"flags only", []string{"--data-dir", "d"}, "d", nil, ""},
		{"none", nil, "./data", nil, ""},
		{"word before a flag", []string{"foo", "--data-dir", "d"}, "", ErrExtraArg, `"foo"`},
		{"word after the flags", []string{"--data-dir", "d", "bar"}, "", ErrExtraArg, `"bar"`},
		{"after --", []string{"--data-dir", "d", "--", "-x"}, "", ErrExtraArg, `"-x"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := flag.NewFlagSet("t", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			dir := fs.String("data-dir", "./data", "")
			err := Parse(fs, tt.args)
			if !errors.Is(err, tt.err) {
				t.Fatalf("err %v, want %v", err, tt.err)
			}
			if err != nil {
				if !strings.Contains(err.Error(), tt.word) {
					t.Fatalf("err %q does not name %s", err, tt.word)
				}
				return
			}
			if *dir != tt.dir {
				t.Fatalf("data-dir %q, want %q", *dir, tt.dir)
			}
		})
	}
}

// TestUsageError: a usage error says what is wrong and nothing more, and
// is ErrUsage (and its sentinel) through any wrapping.
func TestUsageError(t *testing.T) {
	err := fmt.Errorf("media: %w", Usagef("--channel is required"))
	if !errors.Is(err, ErrUsage) || err.Error() != "media: --channel is required" {
		t.Fatalf("%q: Is(ErrUsage) %v", err, errors.Is(err, ErrUsage))
	}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	err = Parse(fs, []string{"foo"})
	if !errors.Is(err, ErrUsage) || !errors.Is(err, ErrExtraArg) || err.Error() != `unexpected argument "foo"` {
		t.Fatalf("%q: Is(ErrUsage) %v, Is(ErrExtraArg) %v", err, errors.Is(err, ErrUsage), errors.Is(err, ErrExtraArg))
	}
	fs.SetOutput(io.Discard)
	for _, args := range [][]string{{"--frob"}, {"--n", "x"}} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		fs.Int("n", 0, "")
		if err := Parse(fs, args); !errors.Is(err, ErrUsage) {
			t.Errorf("Parse(%q) = %v, want a usage error", args, err)
		}
		if _, err := ParseOneArg(fs, args); !errors.Is(err, ErrUsage) {
			t.Errorf("ParseOneArg(%q) = %v, want a usage error", args, err)
		}
	}
	if err := Parse(fs, []string{"-h"}); err != flag.ErrHelp {
		t.Errorf("Parse(-h) = %v, want flag.ErrHelp as it is", err)
	}
	if errors.Is(errors.New("usage"), ErrUsage) {
		t.Fatal("a plain error is ErrUsage")
	}
}
