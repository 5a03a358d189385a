// Package cli holds small helpers shared by Parley's subcommands: flags that
// fall back to environment variables, and JSON output.
package cli

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"
)

// String defines a string flag whose default comes from env when set.
func String(fs *flag.FlagSet, name, env, def, usage string) *string {
	if v, ok := os.LookupEnv(env); ok {
		def = v
	}
	return fs.String(name, def, usage+" (env "+env+")")
}

// Bool defines a bool flag whose default comes from env when set.
func Bool(fs *flag.FlagSet, name, env string, def bool, usage string) *bool {
	if v, ok := os.LookupEnv(env); ok {
		if b, err := strconv.ParseBool(v); err == nil {
			def = b
		}
	}
	return fs.Bool(name, def, usage+" (env "+env+")")
}

// Duration defines a duration flag whose default comes from env when set.
func Duration(fs *flag.FlagSet, name, env string, def time.Duration, usage string) *time.Duration {
	if v, ok := os.LookupEnv(env); ok {
		if d, err := time.ParseDuration(v); err == nil {
			def = d
		}
	}
	return fs.Duration(name, def, usage+" (env "+env+")")
}

// Int defines an int flag whose default comes from env when set.
func Int(fs *flag.FlagSet, name, env string, def int, usage string) *int {
	if v, ok := os.LookupEnv(env); ok {
		if n, err := strconv.Atoi(v); err == nil {
			def = n
		}
	}
	return fs.Int(name, def, usage+" (env "+env+")")
}

// DataDir defines the common --data-dir flag (env PARLEY_DATA_DIR).
func DataDir(fs *flag.FlagSet) *string {
	return String(fs, "data-dir", "PARLEY_DATA_DIR", "./data", "data directory")
}

// PrintJSON writes v as one JSON line.
func PrintJSON(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// Parse parses fs like fs.Parse, and rejects what the flag package lets
// through: a positional argument. The flag package stops at the first
// one, so a stray word would silently drop every flag after it (`parley
// serve foo --data-dir D` would run on ./data); Parse reports it as
// ErrExtraArg, naming the word. Its errors are *UsageError, except
// flag.ErrHelp (-h), returned as it is.
func Parse(fs *flag.FlagSet, args []string) error {
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return &UsageError{Msg: fmt.Sprintf("%v %q", ErrExtraArg, fs.Arg(0)), Err: ErrExtraArg}
	}
	return nil
}

// ParseOneArg parses fs and returns the one positional argument ("" if
// there is none), which may stand anywhere among the flags: before them,
// after them or between two of them. A second positional argument is
// ErrExtraArg. Errors are as Parse's.
func ParseOneArg(fs *flag.FlagSet, args []string) (string, error) {
	var arg string
	for {
		if err := parse(fs, args); err != nil {
			return "", err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return arg, nil
		}
		if arg != "" {
			return "", &UsageError{Msg: fmt.Sprintf("%v %q after %q", ErrExtraArg, rest[0], arg), Err: ErrExtraArg}
		}
		arg, args = rest[0], rest[1:]
	}
}

// parse is fs.Parse with its errors (a flag not defined, a bad value; the
// flag package has printed them and the usage) as *UsageError.
func parse(fs *flag.FlagSet, args []string) error {
	err := fs.Parse(args)
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return err
	}
	return &UsageError{Msg: err.Error()}
}
