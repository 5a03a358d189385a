// Command parley is Parley's single binary: `parley serve` runs every
// component on one machine on embedded defaults, and the other subcommands
// are clients and tools (tokens, voice client, bench, media, bots).
//
// Each feature registers its subcommands from its own file with register,
// and its part of `serve` with registerComponent, so features do not edit a
// shared switch.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"github.com/parleyhq/parley/internal/cli"
)

// command is one subcommand; name may have several words ("voice join").
type command struct {
	name    string
	summary string
	// hidden commands (internal children of other commands) are left
	// out of the usage listing.
	hidden bool
	run    func(ctx context.Context, args []string, stdout io.Writer) error
}

var commands = map[string]*command{}

func register(c *command) {
	if _, dup := commands[c.name]; dup {
		panic("parley: duplicate command " + c.name)
	}
	commands[c.name] = c
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is main without the process: it runs the command args names and
// returns the exit status, printing a failure to stderr: 0 on success (and
// for -h), 2 for a usage error (cli.ErrUsage: an unknown command, a bad or
// missing flag, a stray argument), 1 for any other failure.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	err := dispatch(ctx, args, stdout, stderr)
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != cli.ErrUsage { // a bare ErrUsage follows a printed usage
		fmt.Fprintln(stderr, "parley:", err)
	}
	if errors.Is(err, cli.ErrUsage) {
		return 2
	}
	return 1
}

// dispatch runs the command whose name (one to three words) begins args,
// the longest such name. No arguments, help, -h and --help print the
// command list; `help CMD` is `CMD -h`. Words that name a group of
// commands ("voice", "bench") print the group: on stdout when nothing or
// a help flag follows them, and after "unknown command" (on stderr, a
// usage error) when something else does.
func dispatch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || isHelp(args[0]) {
		if len(args) > 1 {
			return dispatch(ctx, append(args[1:], "-h"), stdout, stderr)
		}
		usage(stdout, "")
		return nil
	}
	if args[0] == "--version" {
		args = []string{"version"}
	}
	for n := min(len(args), 3); n > 0; n-- {
		if c, ok := commands[strings.Join(args[:n], " ")]; ok {
			return c.run(ctx, args[n:], stdout)
		}
	}
	group := 0
	for n := min(len(args), 2); n > 0 && group == 0; n-- {
		if len(groupNames(strings.Join(args[:n], " "))) > 0 {
			group = n
		}
	}
	prefix, rest := strings.Join(args[:group], " "), args[group:]
	if len(rest) == 0 || len(rest) == 1 && isHelp(rest[0]) {
		usage(stdout, prefix)
		return nil
	}
	fmt.Fprintf(stderr, "parley: unknown command %q\n\n", strings.Join(args[:group+1], " "))
	usage(stderr, prefix)
	return cli.ErrUsage
}

func isHelp(a string) bool { return a == "help" || a == "-h" || a == "--help" || a == "-help" }

// groupNames returns the sorted names of the listed commands in the group
// prefix: the command named prefix and those whose name begins with its
// words (not "mediaproxy" for "media"); every listed command for "".
func groupNames(prefix string) []string {
	var names []string
	for n, c := range commands {
		if !c.hidden && (prefix == "" || n == prefix || strings.HasPrefix(n, prefix+" ")) {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

// usage lists the commands of the group prefix ("" for all).
func usage(w io.Writer, prefix string) {
	fmt.Fprintln(w, "usage: parley COMMAND [flags]")
	for _, n := range groupNames(prefix) {
		fmt.Fprintf(w, "  %-24s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\n`parley COMMAND -h` describes a command's flags; `parley serve` runs every component on this machine (data in ./data, or --data-dir).")
}
