package main

import (
	"context"
	"flag"
	"io"

	"github.com/parleyhq/parley/bench/mediabench"
	"github.com/parleyhq/parley/internal/cli"
)

func init() {
	register(&command{name: "bench mediaproxy", summary: "measure the media proxy against a bare govips loop and fasthttp against net/http", run: runBenchMediaProxy})
}

func runBenchMediaProxy(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("bench mediaproxy", flag.ContinueOnError)
	d := cli.Duration(fs, "duration", "PARLEY_BENCH_DURATION", 3e9, "measuring time per phase")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	conc := fs.Int("concurrency", 2, "clients for resize phases")
	hits := fs.Int("hit-concurrency", 32, "clients for cache-hit phases")
	if err := fs.Parse(args); err != nil {
		return err
	}
	rep, err := mediabench.Run(ctx, mediabench.Options{Duration: *d, Concurrency: *conc, HitConcurrency: *hits})
	if err != nil {
		return err
	}
	if *asJSON {
		return cli.PrintJSON(stdout, rep)
	}
	rep.Text(stdout)
	return nil
}
