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

// ParseOneArg parses fs and returns the one positional argument ("" if
// there is none), which may stand anywhere among the flags: before them,
// after them or between two of them. A second positional argument is
// ErrExtraArg.
func ParseOneArg(fs *flag.FlagSet, args []string) (string, error) {
	var arg string
	for {
		if err := fs.Parse(args); err != nil {
			return "", err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return arg, nil
		}
		if arg != "" {
			return "", fmt.Errorf("%w: %q after %q", ErrExtraArg, rest[0], arg)
		}
		arg, args = rest[0], rest[1:]
	}
}

// ErrExtraArg: a command that takes one positional argument got more.
var ErrExtraArg = errors.New("more than one argument")
