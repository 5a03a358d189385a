package voicebench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/parleyhq/parley/internal/datadir"
	"github.com/parleyhq/parley/internal/voicetoken"
	"github.com/parleyhq/parley/voicenode"
)

// AttachSource is the server already running on dataDir (found through
// ready.json); it is left running.
func AttachSource(dataDir string) Source {
	return func(context.Context) (*Target, func(), error) {
		t, err := AttachDataDir(dataDir)
		return t, func() {}, err
	}
}

// ChildServerSource starts the voice server as a child process: cmd must run
// `parley serve --data-dir dataDir --only voice ...` with every listener on
// port 0, printing its ready line on stdout.
func ChildServerSource(cmd func() *exec.Cmd, dataDir string) Source {
	return func(ctx context.Context) (*Target, func(), error) {
		c, err := StartChild(ctx, cmd())
		if err != nil {
			return nil, nil, err
		}
		t, err := ServerTarget(dataDir, c.Ready)
		if err != nil {
			c.Stop()
			return nil, nil, err
		}
		t.PID = c.PID()
		return t, func() { c.Stop() }, nil
	}
}

// ChildReflectorSource starts the reflector as a child process (cmd runs
// `parley bench reflector`).
func ChildReflectorSource(cmd func() *exec.Cmd) Source {
	return func(ctx context.Context) (*Target, func(), error) {
		c, err := StartChild(ctx, cmd())
		if err != nil {
			return nil, nil, err
		}
		t, err := ReflectorTarget(c.Ready)
		if err != nil {
			c.Stop()
			return nil, nil, err
		}
		t.PID = c.PID()
		return t, func() { c.Stop() }, nil
	}
}

// InProcessServerSource runs a voice server inside this process on dataDir
// (tests, and profiling runs where one CPU profile should cover both), with
// WebRTC on as the child server has it. Its CPU cannot be told apart from
// the generator's.
func InProcessServerSource(dataDir string, log *slog.Logger) Source {
	return func(ctx context.Context) (*Target, func(), error) {
		dir, err := datadir.Open(dataDir)
		if err != nil {
			return nil, nil, err
		}
		key, err := dir.Key(voicetoken.KeyName)
		if err != nil {
			return nil, nil, err
		}
		tcfg, err := dir.TLSConfig("", "")
		if err != nil {
			return nil, nil, err
		}
		pool, err := dir.CertPool()
		if err != nil {
			return nil, nil, err
		}
		srv, err := voicenode.New(voicenode.Config{TLS: tcfg, TokenKey: key, WebRTCAddr: "127.0.0.1:0", Logger: log,
			Metrics: prometheus.NewRegistry()})
		if err != nil {
			return nil, nil, err
		}
		if err := srv.Start(ctx); err != nil {
			_ = srv.Close(ctx)
			return nil, nil, err
		}
		node := srv.SFU()
		t := &Target{Name: "sfu", Gateway: srv.GatewayAddr(), RootCAs: pool, TokenKey: key, PID: os.Getpid(),
			Counters: func(context.Context) (Counters, error) {
				s := node.Stats().Snapshot()
				return Counters{In: s.PacketsIn, Out: s.PacketsOut, Drops: s.Drops}, nil
			}}
		stop := func() {
			sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = srv.Close(sctx)
		}
		return t, stop, nil
	}
}

// InProcessReflectorSource runs the reflector inside this process.
func InProcessReflectorSource(cfg ReflectorConfig) Source {
	return func(ctx context.Context) (*Target, func(), error) {
		cfg.StatsAddr = "off"
		r, err := NewReflector(cfg)
		if err != nil {
			return nil, nil, err
		}
		if err := r.Start(ctx); err != nil {
			return nil, nil, err
		}
		t := &Target{Name: "reflector", Reflector: true, UDP: r.UDPAddr(), PID: os.Getpid(),
			Counters: func(context.Context) (Counters, error) { return r.Counters(), nil }}
		stop := func() {
			sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = r.Close(sctx)
		}
		return t, stop, nil
	}
}

// ServeReflector runs a reflector until ctx ends, after printing its ready
// line ({"ready":true,"udp":...,"stats":...,"pid":...}) on stdout. It is
// `parley bench reflector`.
func ServeReflector(ctx context.Context, cfg ReflectorConfig, stdout io.Writer) error {
	r, err := NewReflector(cfg)
	if err != nil {
		return err
	}
	if err := r.Start(ctx); err != nil {
		return err
	}
	ready := map[string]any{"ready": true, "udp": r.UDPAddr(), "stats": r.StatsAddr(), "pid": os.Getpid()}
	b, _ := json.Marshal(ready)
	if _, err := fmt.Fprintf(stdout, "%s\n", b); err != nil {
		_ = r.Close(context.Background())
		return err
	}
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return r.Close(sctx)
}
