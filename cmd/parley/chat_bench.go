package main

import (
	"context"
	"flag"
	"io"
	"os"
	"os/exec"

	"github.com/parleyhq/parley/bench/gatewaybench"
	"github.com/parleyhq/parley/internal/cli"
)

func init() {
	register(&command{name: "bench gateway", summary: "chat gateway load: N connections, memory per idle connection, fan-out deliveries/s, p99 latency", run: runBenchGateway})
	register(&command{name: "bench gateway-clients", summary: "(internal) client process for bench gateway", hidden: true, run: runBenchGatewayClients})
}

func runBenchGateway(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("bench gateway", flag.ContinueOnError)
	conns := fs.Int("conns", 10000, "concurrent gateway connections")
	dial := fs.Int("dial-concurrency", 256, "simultaneous handshakes")
	msgs := fs.Int("messages", 100, "messages in the throughput burst (each fans out to every connection)")
	rate := fs.Float64("paced-rate", 5, "messages per second in the latency phase")
	paced := fs.Int("paced-messages", 30, "messages in the latency phase (0 skips it)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	logLevel := cli.String(fs, "log-level", "PARLEY_LOG_LEVEL", "warn", "log level")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	res, err := gatewaybench.Run(ctx, gatewaybench.Config{
		Conns: *conns, DialConcurrency: *dial, Messages: *msgs, PacedRate: *rate, PacedMessages: *paced,
		Logger: newLogger(*logLevel, os.Stderr),
		Child: func(ctx context.Context, a ...string) *exec.Cmd {
			return exec.CommandContext(ctx, exe, append([]string{"bench", "gateway-clients"}, a...)...)
		},
	})
	if err != nil {
		return err
	}
	if *asJSON {
		return cli.PrintJSON(stdout, res)
	}
	res.Text(stdout)
	return nil
}

func runBenchGatewayClients(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("bench gateway-clients", flag.ContinueOnError)
	var cfg gatewaybench.ClientConfig
	fs.StringVar(&cfg.GatewayURL, "url", "", "gateway ws:// URL")
	fs.StringVar(&cfg.Token, "token", "", "bot token")
	fs.IntVar(&cfg.Conns, "conns", 100, "connections")
	fs.IntVar(&cfg.DialConcurrency, "dial-concurrency", 256, "simultaneous handshakes")
	fs.IntVar(&cfg.Intents, "intents", 33281, "identify intents")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	return gatewaybench.RunClients(ctx, cfg, os.Stdin, stdout)
}
