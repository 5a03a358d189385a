package cli

import (
	"errors"
	"flag"
	"io"
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
