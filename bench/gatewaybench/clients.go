package gatewaybench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"golang.org/x/sys/unix"

	"github.com/parleyhq/parley/bench"
)

// ClientConfig configures the client process.
type ClientConfig struct {
	GatewayURL string
	Token      string
	Conns      int
	// DialConcurrency bounds simultaneous handshakes.
	DialConcurrency int
	Intents         int
}

// clientStats is what the client process reports on "report".
type clientStats struct {
	Phase      string  `json:"phase"`
	Connected  int64   `json:"connected"`
	Failed     int64   `json:"failed"`
	Closed     int64   `json:"closed"`
	Deliveries int64   `json:"deliveries"`
	FirstNS    int64   `json:"first_ns"`
	LastNS     int64   `json:"last_ns"`
	P50US      float64 `json:"p50_us"`
	P99US      float64 `json:"p99_us"`
	MaxUS      float64 `json:"max_us"`
	Error      string  `json:"error,omitempty"`
}

type clients struct {
	connected, failed, closed, deliveries atomic.Int64
	first, last, maxUS                    atomic.Int64
	h                                     hist
	mu                                    sync.Mutex
	conns                                 []net.Conn
}

// RaiseNoFile lifts RLIMIT_NOFILE's soft limit to the hard limit.
func RaiseNoFile() (uint64, error) {
	var r unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &r); err != nil {
		return 0, err
	}
	r.Cur = r.Max
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &r); err != nil {
		return 0, err
	}
	return r.Cur, nil
}

// RunClients is the child process: it connects cfg.Conns gateway clients,
// reports {"phase":"connected"}, then answers "reset" and "report" lines
// on in with JSON lines on out until in closes.
func RunClients(ctx context.Context, cfg ClientConfig, in io.Reader, out io.Writer) error {
	if _, err := RaiseNoFile(); err != nil {
		return err
	}
	c := &clients{}
	sem := make(chan struct{}, max(1, cfg.DialConcurrency))
	var wg sync.WaitGroup
	for i := range cfg.Conns {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ready := make(chan struct{})
			go c.run(ctx, cfg, i, ready, sem)
			<-ready
		}()
	}
	wg.Wait()
	enc := json.NewEncoder(out)
	_ = enc.Encode(c.stats("connected"))
	go c.heartbeat(ctx)
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		switch sc.Text() {
		case "reset":
			c.deliveries.Store(0)
			c.first.Store(0)
			c.last.Store(0)
			c.maxUS.Store(0)
			c.h.reset()
			_ = enc.Encode(c.stats("reset"))
		case "report":
			_ = enc.Encode(c.stats("report"))
		}
	}
	c.mu.Lock()
	for _, nc := range c.conns {
		nc.Close()
	}
	c.mu.Unlock()
	return nil
}

func (c *clients) stats(phase string) clientStats {
	return clientStats{Phase: phase, Connected: c.connected.Load(), Failed: c.failed.Load(), Closed: c.closed.Load(),
		Deliveries: c.deliveries.Load(), FirstNS: c.first.Load(), LastNS: c.last.Load(),
		P50US: c.h.quantile(0.5), P99US: c.h.quantile(0.99), MaxUS: float64(c.maxUS.Load())}
}

// heartbeat sends op 1 on every connection every 30 s from one goroutine.
func (c *clients) heartbeat(ctx context.Context) {
	t := time.NewTicker(30 * time.Second)
	defer t.Stop()
	frame := ws.MustCompileFrame(ws.MaskFrame(ws.NewTextFrame([]byte(`{"op":1,"d":null}`))))
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		c.mu.Lock()
		conns := append([]net.Conn(nil), c.conns...)
		c.mu.Unlock()
		for _, nc := range conns {
			_ = nc.SetWriteDeadline(time.Now().Add(time.Second))
			_, _ = nc.Write(frame)
		}
	}
}

var contentKey = []byte(`"content":"t=`)

// clientDialer returns the dialer of connection idx: from its own loopback
// address in 127.128.0.0/10 (bench.LoopbackSource) when the gateway is on
// IPv4 loopback.
func clientDialer(gatewayURL string, idx int) ws.Dialer {
	u, err := url.Parse(gatewayURL)
	if err != nil {
		return ws.Dialer{}
	}
	ip := bench.LoopbackSource(u.Hostname(), 128, idx)
	if ip == nil {
		return ws.Dialer{}
	}
	src := &net.TCPAddr{IP: ip}
	return ws.Dialer{NetDial: func(ctx context.Context, network, addr string) (net.Conn, error) {
		d := net.Dialer{LocalAddr: src}
		return d.DialContext(ctx, network, addr)
	}}
}

// run is connection idx: dial, identify, wait for GUILD_CREATE (then
// signal ready), then count MESSAGE_CREATE deliveries.
func (c *clients) run(ctx context.Context, cfg ClientConfig, idx int, ready chan struct{}, sem chan struct{}) {
	signal := sync.OnceFunc(func() { close(ready); <-sem })
	defer signal()
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	d := clientDialer(cfg.GatewayURL, idx)
	nc, br, _, err := d.Dial(dctx, cfg.GatewayURL+"/?v=10&encoding=json")
	cancel()
	if err != nil {
		c.failed.Add(1)
		return
	}
	var r io.Reader = nc
	if br != nil {
		r = io.MultiReader(br, nc)
	}
	rd := bufio.NewReaderSize(r, 4096)
	ident, _ := json.Marshal(map[string]any{"op": 2, "d": map[string]any{"token": cfg.Token, "intents": cfg.Intents,
		"properties": map[string]string{"os": "linux", "browser": "parley-bench", "device": "parley-bench"}}})
	if err := wsutil.WriteClientText(nc, ident); err != nil {
		c.failed.Add(1)
		nc.Close()
		return
	}
	c.mu.Lock()
	c.conns = append(c.conns, nc)
	c.mu.Unlock()
	buf := make([]byte, 0, 4096)
	_ = nc.SetReadDeadline(time.Now().Add(60 * time.Second))
	identified := false
	for {
		h, err := ws.ReadHeader(rd)
		if err != nil {
			break
		}
		if int64(cap(buf)) < h.Length {
			buf = make([]byte, h.Length)
		}
		p := buf[:h.Length]
		if _, err := io.ReadFull(rd, p); err != nil {
			break
		}
		if h.OpCode == ws.OpClose {
			break
		}
		if !identified {
			if bytes.Contains(p, []byte(`"t":"GUILD_CREATE"`)) {
				identified = true
				c.connected.Add(1)
				_ = nc.SetReadDeadline(time.Time{})
				signal()
			} else if bytes.Contains(p, []byte(`"op":9`)) {
				break
			}
			continue
		}
		if i := bytes.Index(p, contentKey); i >= 0 {
			now := time.Now().UnixNano()
			rest := p[i+len(contentKey):]
			if j := bytes.IndexByte(rest, '"'); j > 0 {
				if sent, err := strconv.ParseInt(string(rest[:j]), 10, 64); err == nil {
					us := float64(now-sent) / 1e3
					c.h.add(us)
					for {
						m := c.maxUS.Load()
						if int64(us) <= m || c.maxUS.CompareAndSwap(m, int64(us)) {
							break
						}
					}
				}
			}
			c.first.CompareAndSwap(0, now)
			c.last.Store(now)
			c.deliveries.Add(1)
		}
	}
	if !identified {
		c.failed.Add(1)
	} else {
		c.closed.Add(1)
	}
	nc.Close()
}

// String formats stats for logs.
func (s clientStats) String() string {
	return fmt.Sprintf("%s: connected %d failed %d closed %d deliveries %d", s.Phase, s.Connected, s.Failed, s.Closed, s.Deliveries)
}
