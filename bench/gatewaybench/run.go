package gatewaybench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/parleyhq/parley/chat"
	"github.com/parleyhq/parley/chat/gateway"
	"github.com/parleyhq/parley/chat/model"
	"github.com/parleyhq/parley/chat/service"
	"github.com/parleyhq/parley/chat/store"
	"golang.org/x/sys/unix"
)

// ErrConfig means the bench options are invalid.
var ErrConfig = errors.New("gatewaybench: invalid config")

// Config configures a run.
type Config struct {
	Conns           int
	DialConcurrency int
	// Messages is the burst size for the throughput phase.
	Messages int
	// PacedRate (messages/s) and PacedMessages make the latency phase.
	PacedRate     float64
	PacedMessages int
	// Child returns the command running `parley bench gateway-clients`
	// with the given arguments.
	Child func(ctx context.Context, args ...string) *exec.Cmd
	// Logger receives the server's logs; nil discards them.
	Logger *slog.Logger
}

// Validate checks the configuration.
func (c Config) Validate() error {
	if c.Conns < 1 || c.Messages < 1 || c.Child == nil || c.PacedRate <= 0 {
		return fmt.Errorf("%w: need conns, messages, paced rate and child", ErrConfig)
	}
	return nil
}

// Phase is one fan-out measurement.
type Phase struct {
	Messages         int     `json:"messages"`
	Deliveries       int64   `json:"deliveries"`
	Expected         int64   `json:"expected"`
	Seconds          float64 `json:"seconds"`
	DeliveriesPerSec float64 `json:"deliveries_per_sec"`
	ServerCPUus      float64 `json:"server_cpu_us_per_delivery"`
	P50us            float64 `json:"p50_us"`
	P99us            float64 `json:"p99_us"`
	MaxUS            float64 `json:"max_us"`
}

// Result is the bench report.
type Result struct {
	Conns            int     `json:"conns"`
	Connected        int64   `json:"connected"`
	Failed           int64   `json:"failed"`
	ConnectSeconds   float64 `json:"connect_seconds"`
	GoMemPerIdleConn float64 `json:"go_bytes_per_idle_conn"`
	RSSPerIdleConn   float64 `json:"rss_bytes_per_idle_conn"`
	Burst            Phase   `json:"burst"`
	Paced            Phase   `json:"paced"`
	GOMAXPROCS       int     `json:"gomaxprocs"`
	NumCPU           int     `json:"num_cpu"`
	Writes           int64   `json:"socket_writes"`
	Dispatches       int64   `json:"dispatches"`
}

func goMem() uint64 {
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse + ms.StackInuse
}

func rss() uint64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	n, _ := strconv.ParseUint(f[1], 10, 64)
	return n * uint64(os.Getpagesize())
}

func cpuTime() time.Duration {
	var ru unix.Rusage
	_ = unix.Getrusage(unix.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Run starts the server, the client process and the phases.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if err := cfg.Validate(); err != nil {
		return Result{}, err
	}
	if _, err := RaiseNoFile(); err != nil {
		return Result{}, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	res := Result{Conns: cfg.Conns, GOMAXPROCS: runtime.GOMAXPROCS(0), NumCPU: runtime.NumCPU()}
	dir, err := os.MkdirTemp("", "parley-gwbench")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	srv, err := chat.New(chat.Config{
		Logger: cfg.Logger, Store: store.Config{SQLitePath: filepath.Join(dir, "chat.db")},
		APIAddr: "127.0.0.1:0", GatewayAddr: "127.0.0.1:0", PasswordIterations: 1000,
		Gateway: gateway.Config{IdentifyBurst: 1 << 30, ReplayLimit: 4096},
	})
	if err != nil {
		return res, err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Close(sctx)
	}()
	if err := srv.Start(ctx); err != nil {
		return res, err
	}
	svc := srv.Service
	_, botTok, err := svc.CreateBot(ctx, "benchbot", false)
	if err != nil {
		return res, err
	}
	sender, _, err := svc.Register(ctx, "loadgen", "loadgen-password")
	if err != nil {
		return res, err
	}
	chans, err := svc.GuildChannels(sender.ID, svc.DefaultGuild())
	if err != nil || len(chans) == 0 {
		return res, fmt.Errorf("gatewaybench: no channel: %v", err)
	}
	channel := chans[0].ID

	memBefore, rssBefore := goMem(), rss()
	intents := int(model.IntentGuilds | model.IntentGuildMessages | model.IntentMessageContent)
	cmd := cfg.Child(ctx, "--url", "ws://"+srv.GatewayAddr(), "--token", botTok, "--conns", strconv.Itoa(cfg.Conns),
		"--dial-concurrency", strconv.Itoa(cfg.DialConcurrency), "--intents", strconv.Itoa(intents))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return res, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return res, err
	}
	cmd.Stderr = os.Stderr
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return res, err
	}
	defer func() { stdin.Close(); _ = cmd.Wait() }()
	lines := bufio.NewScanner(stdout)
	read := func() (clientStats, error) {
		if !lines.Scan() {
			return clientStats{}, fmt.Errorf("gatewaybench: client process ended: %v", lines.Err())
		}
		var st clientStats
		err := json.Unmarshal(lines.Bytes(), &st)
		return st, err
	}
	ask := func(cmd string) (clientStats, error) {
		if _, err := io.WriteString(stdin, cmd+"\n"); err != nil {
			return clientStats{}, err
		}
		return read()
	}
	st, err := read()
	if err != nil {
		return res, err
	}
	res.ConnectSeconds = time.Since(t0).Seconds()
	res.Connected, res.Failed = st.Connected, st.Failed
	log.Info("clients connected", "connected", st.Connected, "failed", st.Failed, "seconds", res.ConnectSeconds)
	time.Sleep(time.Second) // let flush goroutines and upgrade buffers settle
	memAfter, rssAfter := goMem(), rss()
	if st.Connected > 0 {
		res.GoMemPerIdleConn = (float64(memAfter) - float64(memBefore)) / float64(st.Connected)
		res.RSSPerIdleConn = (float64(rssAfter) - float64(rssBefore)) / float64(st.Connected)
	}

	phase := func(n int, rate float64) (Phase, error) {
		p := Phase{Messages: n, Expected: int64(n) * st.Connected}
		if _, err := ask("reset"); err != nil {
			return p, err
		}
		cpu0, start := cpuTime(), time.Now()
		for i := range n {
			if rate > 0 {
				time.Sleep(time.Until(start.Add(time.Duration(float64(i) / rate * float64(time.Second)))))
			}
			content := "t=" + strconv.FormatInt(time.Now().UnixNano(), 10)
			if _, err := svc.CreateMessage(ctx, sender.ID, channel, service.MessageCreate{Content: content}); err != nil {
				return p, err
			}
		}
		var last clientStats
		lastChange := time.Now()
		for {
			time.Sleep(100 * time.Millisecond)
			r, err := ask("report")
			if err != nil {
				return p, err
			}
			if r.Deliveries != last.Deliveries {
				lastChange = time.Now()
			}
			last = r
			if r.Deliveries >= p.Expected || time.Since(lastChange) > 5*time.Second || ctx.Err() != nil {
				break
			}
		}
		cpu := cpuTime() - cpu0
		p.Deliveries, p.P50us, p.P99us, p.MaxUS = last.Deliveries, last.P50US, last.P99US, last.MaxUS
		if last.LastNS > 0 {
			p.Seconds = float64(last.LastNS-start.UnixNano()) / 1e9
		}
		if p.Seconds > 0 {
			p.DeliveriesPerSec = float64(p.Deliveries) / p.Seconds
		}
		if p.Deliveries > 0 {
			p.ServerCPUus = float64(cpu.Microseconds()) / float64(p.Deliveries)
		}
		return p, nil
	}
	if res.Burst, err = phase(cfg.Messages, 0); err != nil {
		return res, err
	}
	log.Info("burst done", "deliveries_per_sec", res.Burst.DeliveriesPerSec)
	if cfg.PacedMessages > 0 {
		if res.Paced, err = phase(cfg.PacedMessages, cfg.PacedRate); err != nil {
			return res, err
		}
	}
	gs := srv.Gateway.Stats()
	res.Writes, res.Dispatches = gs.Writes, gs.Dispatches
	return res, nil
}

// Text writes a human-readable report.
func (r Result) Text(w io.Writer) {
	fmt.Fprintf(w, "gateway bench: %d connections (%d connected, %d failed) in %.1f s; GOMAXPROCS=%d NumCPU=%d\n",
		r.Conns, r.Connected, r.Failed, r.ConnectSeconds, r.GOMAXPROCS, r.NumCPU)
	fmt.Fprintf(w, "  memory per idle connection: %.0f B Go heap+stacks, %.0f B RSS (server process)\n", r.GoMemPerIdleConn, r.RSSPerIdleConn)
	for _, p := range []struct {
		name string
		p    Phase
	}{{"burst", r.Burst}, {"paced", r.Paced}} {
		if p.p.Messages == 0 {
			continue
		}
		fmt.Fprintf(w, "  %s: %d messages -> %d/%d deliveries in %.2f s = %.0f deliveries/s; server CPU %.2f µs/delivery; latency p50 %.1f ms p99 %.1f ms max %.1f ms\n",
			p.name, p.p.Messages, p.p.Deliveries, p.p.Expected, p.p.Seconds, p.p.DeliveriesPerSec, p.p.ServerCPUus,
			p.p.P50us/1e3, p.p.P99us/1e3, p.p.MaxUS/1e3)
	}
	if r.Writes > 0 {
		fmt.Fprintf(w, "  %d dispatches in %d socket writes (%.1f frames/write)\n", r.Dispatches, r.Writes, float64(r.Dispatches)/float64(r.Writes))
	}
}
