package gatewaybench

import (
	"context"
	"flag"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestMain lets the test binary act as the client process.
func TestMain(m *testing.M) {
	if os.Getenv("GATEWAYBENCH_CHILD") == "1" {
		fs := flag.NewFlagSet("clients", flag.ExitOnError)
		var cfg ClientConfig
		fs.StringVar(&cfg.GatewayURL, "url", "", "")
		fs.StringVar(&cfg.Token, "token", "", "")
		fs.IntVar(&cfg.Conns, "conns", 1, "")
		fs.IntVar(&cfg.DialConcurrency, "dial-concurrency", 1, "")
		fs.IntVar(&cfg.Intents, "intents", 0, "")
		_ = fs.Parse(strings.Fields(os.Getenv("GATEWAYBENCH_ARGS")))
		if err := RunClients(context.Background(), cfg, os.Stdin, os.Stdout); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestRunSmall runs the whole bench with a few connections.
func TestRunSmall(t *testing.T) {
	res, err := Run(context.Background(), Config{
		Conns: 20, DialConcurrency: 8, Messages: 5, PacedRate: 50, PacedMessages: 3,
		Logger: slog.New(slog.DiscardHandler),
		Child: func(ctx context.Context, a ...string) *exec.Cmd {
			cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), "GATEWAYBENCH_CHILD=1", "GATEWAYBENCH_ARGS="+strings.Join(a, " "))
			return cmd
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Connected != 20 || res.Burst.Deliveries != 100 || res.Paced.Deliveries != 60 || res.Burst.DeliveriesPerSec <= 0 || res.Paced.P99us <= 0 {
		t.Fatalf("result %+v", res)
	}
	var sb strings.Builder
	res.Text(&sb)
	if !strings.Contains(sb.String(), "deliveries/s") {
		t.Fatalf("text %s", sb.String())
	}
}

func TestHist(t *testing.T) {
	var h hist
	for i := 1; i <= 100; i++ {
		h.add(float64(i * 1000))
	}
	p50, p99 := h.quantile(0.5), h.quantile(0.99)
	if p50 < 47_000 || p50 > 55_000 || p99 < 95_000 || p99 > 105_000 {
		t.Fatalf("p50 %.0f p99 %.0f", p50, p99)
	}
	h.reset()
	if h.quantile(0.5) != 0 {
		t.Fatal("reset")
	}
}
