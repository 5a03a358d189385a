package main

import (
	"context"
	"flag"
	"io"

	"github.com/parleyhq/parley/bench/voicebench"
	"github.com/parleyhq/parley/internal/cli"
)

// `parley bench reflector` is the baseline child process of `parley bench
// voice`: a raw UDP relay with the SFU's batching and static rooms, printing
// a JSON ready line like `parley serve`.
func init() {
	register(&command{name: "bench reflector", summary: "UDP reflector baseline for bench voice", hidden: true, run: runBenchReflector})
}

func runBenchReflector(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("bench reflector", flag.ContinueOnError)
	udpAddr := fs.String("udp-addr", "127.0.0.1:0", "media listen address")
	statsAddr := fs.String("stats-addr", "127.0.0.1:0", "counters (/metrics) listen address, or off")
	readers := fs.Int("readers", 0, "reader goroutines (default GOMAXPROCS, as the SFU)")
	batch := fs.Int("batch", 64, "datagrams per recvmmsg/sendmmsg (as the SFU)")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	return voicebench.ServeReflector(ctx, voicebench.ReflectorConfig{
		UDPAddr: *udpAddr, StatsAddr: *statsAddr, Readers: *readers, BatchSize: *batch,
	}, stdout)
}
