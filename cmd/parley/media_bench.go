package main

import (
	"context"
	"flag"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/parleyhq/parley/bench/mediabench"
	"github.com/parleyhq/parley/internal/cli"
)

func init() {
	register(&command{name: "bench mediaproxy", summary: "measure the media proxy against a bare govips loop and fasthttp against net/http (child processes)", run: runBenchMediaProxy})
}

func runBenchMediaProxy(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("bench mediaproxy", flag.ContinueOnError)
	d := cli.Duration(fs, "duration", "PARLEY_BENCH_DURATION", 2e9, "measuring time per phase (one repetition)")
	reps := fs.Int("reps", 5, "A/B repetitions per case")
	slice := fs.Duration("slice", 250*time.Millisecond, "resize phases alternate proxy and bare loop in turns this long")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	conc := fs.Int("concurrency", 1, "clients in resize phases (and goroutines in the bare loop)")
	conns := fs.Int("hit-conns", 16, "keep-alive connections in cache-hit phases")
	depth := fs.Int("hit-depth", 4, "pipelined requests in flight per connection in cache-hit phases")
	genProcs := fs.Int("gen-procs", 1, "GOMAXPROCS of the load generator during cache-hit phases")
	cases := fs.String("cases", "", "comma-separated case names (default all)")
	// Child-process flags (internal: set by the bench on its children).
	role := fs.String("role", "", "internal: run as the bench's child (server or bare)")
	dataDir := fs.String("data-dir", "", "internal: the child's data dir")
	front := fs.String("http", "fasthttp", "internal: server child front (fasthttp or nethttp)")
	cache := fs.Bool("cache", false, "internal: server child caches on")
	cpuProfile := fs.String("cpuprofile", "", "write server CPU profiles to PREFIX-NAME.pprof (a child: to this file)")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	if *role != "" {
		return mediabench.RunChild(ctx, mediabench.ChildOptions{Role: *role, DataDir: *dataDir, HTTP: *front, Cache: *cache, CPUProfile: *cpuProfile}, os.Stdin, stdout)
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	var sel []string
	if *cases != "" {
		sel = strings.Split(*cases, ",")
	}
	rep, err := mediabench.Run(ctx, mediabench.Options{
		Duration: *d, Reps: *reps, Slice: *slice, Concurrency: *conc, HitConns: *conns, HitDepth: *depth, GenProcs: *genProcs,
		Cases: sel, CPUProfile: *cpuProfile,
		Command: func(ctx context.Context, args ...string) *exec.Cmd {
			return exec.CommandContext(ctx, exe, append([]string{"bench", "mediaproxy"}, args...)...)
		},
	})
	if err != nil {
		return err
	}
	if *asJSON {
		return cli.PrintJSON(stdout, rep)
	}
	rep.Text(stdout)
	return nil
}
