package gatewaybench

import (
	"context"
	"flag"
	"log/slog"
	"net"
	"net/netip"
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

// TestClientDialerSpreads: each bench connection comes from its own
// loopback address in 127.128.0.0/10, so the bench stays within the
// gateway's per-IP caps with their defaults; a remote gateway is dialled
// from the default address.
func TestClientDialerSpreads(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	prefix := netip.MustParsePrefix("127.128.0.0/10")
	seen := map[netip.Addr]bool{}
	for _, idx := range []int{0, 1, 300, 70_000} {
		d := clientDialer("ws://"+ln.Addr().String(), idx)
		if d.NetDial == nil {
			t.Fatal("no source address for a loopback gateway")
		}
		nc, err := d.NetDial(context.Background(), "tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		sc, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		src := netip.MustParseAddrPort(sc.RemoteAddr().String()).Addr()
		sc.Close()
		nc.Close()
		if !prefix.Contains(src) || seen[src] {
			t.Fatalf("connection %d came from %v", idx, src)
		}
		seen[src] = true
	}
	if d := clientDialer("ws://192.0.2.1:4001", 5); d.NetDial != nil {
		t.Fatal("a source address for a remote gateway")
	}
}
