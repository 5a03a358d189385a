package voicebench

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/ipv4"

	"github.com/parleyhq/parley/internal/lifecycle"
)

// ReflectorConfig configures a Reflector.
type ReflectorConfig struct {
	// UDPAddr is the media listen address (default 127.0.0.1:0).
	UDPAddr string
	// StatsAddr serves Prometheus-style counters at /metrics (default
	// 127.0.0.1:0; "off" disables).
	StatsAddr string
	// Readers is the number of reader goroutines (default GOMAXPROCS, as
	// the SFU).
	Readers int
	// BatchSize is datagrams per recvmmsg/sendmmsg (default 64, as the SFU).
	BatchSize int
	Logger    *slog.Logger
}

// withDefaults returns c with its defaults set.
func (c ReflectorConfig) withDefaults() ReflectorConfig {
	if c.UDPAddr == "" {
		c.UDPAddr = "127.0.0.1:0"
	}
	if c.StatsAddr == "" {
		c.StatsAddr = "127.0.0.1:0"
	}
	if c.Readers <= 0 {
		c.Readers = runtime.GOMAXPROCS(0)
	}
	if c.BatchSize <= 0 {
		c.BatchSize = 64
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Validate reports what NewReflector cannot work with (ErrConfig); it
// changes nothing (NewReflector applies the defaults first).
func (c ReflectorConfig) Validate() error {
	if c.UDPAddr == "" || c.StatsAddr == "" {
		return fmt.Errorf("%w: reflector needs a UDP and a stats address (or \"off\")", ErrConfig)
	}
	if c.Readers <= 0 {
		return fmt.Errorf("%w: reflector readers %d", ErrConfig, c.Readers)
	}
	if c.BatchSize <= 0 || c.BatchSize > 1024 {
		return fmt.Errorf("%w: reflector batch size %d not in [1, 1024]", ErrConfig, c.BatchSize)
	}
	return nil
}

// Reflector is the minimal relay the SFU is compared with: static rooms
// learnt from join datagrams, and every other datagram sent unchanged to
// the other members of the sender's room, with the SFU's batched I/O and no
// crypto.
type Reflector struct {
	cfg   ReflectorConfig
	conn  *net.UDPConn
	bc    *ipv4.PacketConn
	stats *http.Server
	sln   net.Listener

	// members is copy-on-write, read on every datagram without a lock.
	members atomic.Pointer[membership]
	mu      sync.Mutex // serialises writers of members

	in, out, drops, joins, leaves atomic.Uint64
	wg                            sync.WaitGroup
	closeOnce                     sync.Once
	closeErr                      error // set once by Close
}

// membership maps a source address to its room's member addresses.
type membership struct {
	byAddr map[netip.AddrPort]*reflMember
	rooms  map[uint32][]*reflMember
}

type reflMember struct {
	room uint32
	addr *net.UDPAddr
}

// NewReflector binds the sockets.
func NewReflector(cfg ReflectorConfig) (*Reflector, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ua, err := net.ResolveUDPAddr("udp4", cfg.UDPAddr)
	if err != nil {
		return nil, fmt.Errorf("%w: reflector UDPAddr: %v", ErrConfig, err)
	}
	conn, err := net.ListenUDP("udp4", ua)
	if err != nil {
		return nil, fmt.Errorf("voicebench: reflector listen: %w", err)
	}
	_ = conn.SetReadBuffer(4 << 20) // as the SFU
	_ = conn.SetWriteBuffer(4 << 20)
	r := &Reflector{cfg: cfg, conn: conn, bc: ipv4.NewPacketConn(conn)}
	r.members.Store(&membership{byAddr: map[netip.AddrPort]*reflMember{}, rooms: map[uint32][]*reflMember{}})
	if cfg.StatsAddr != "off" {
		if r.sln, err = net.Listen("tcp", cfg.StatsAddr); err != nil {
			conn.Close()
			return nil, fmt.Errorf("voicebench: reflector stats listen: %w", err)
		}
		r.stats = &http.Server{Handler: http.HandlerFunc(r.serveStats), ReadHeaderTimeout: 5 * time.Second}
	}
	return r, nil
}

// UDPAddr is the media socket's address.
func (r *Reflector) UDPAddr() string { return r.conn.LocalAddr().String() }

// StatsAddr is the counters' HTTP address ("" when off).
func (r *Reflector) StatsAddr() string {
	if r.sln == nil {
		return ""
	}
	return r.sln.Addr().String()
}

// Counters returns the reflector's counters.
func (r *Reflector) Counters() Counters {
	return Counters{In: r.in.Load(), Out: r.out.Load(), Drops: map[string]uint64{"unknown_source": r.drops.Load()}}
}

func (r *Reflector) serveStats(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	fmt.Fprintf(w, "parley_reflector_packets_in_total %d\n", r.in.Load())
	fmt.Fprintf(w, "parley_reflector_packets_out_total %d\n", r.out.Load())
	fmt.Fprintf(w, "parley_reflector_drops_total{reason=\"unknown_source\"} %d\n", r.drops.Load())
	fmt.Fprintf(w, "parley_reflector_joins_total %d\n", r.joins.Load())
	fmt.Fprintf(w, "parley_reflector_leaves_total %d\n", r.leaves.Load())
}

// Start runs the readers (and the stats server) until Close; it returns
// at once.
func (r *Reflector) Start(context.Context) error {
	for range r.cfg.Readers {
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			r.read()
		}()
	}
	if r.stats != nil {
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			_ = r.stats.Serve(r.sln)
		}()
	}
	return nil
}

// Close stops the readers and the stats server, closes the sockets and
// waits for every goroutine Start started (ctx bounds the stats server's
// graceful shutdown and the wait). It is idempotent.
func (r *Reflector) Close(ctx context.Context) error {
	r.closeOnce.Do(func() {
		r.closeErr = r.conn.Close()
		if r.stats != nil {
			_ = r.stats.Shutdown(ctx)
		}
	})
	if werr := lifecycle.WaitContext(ctx, &r.wg); werr != nil {
		return werr
	}
	return r.closeErr
}

// read is one reader goroutine: recvmmsg a batch, queue a copy per other
// room member referencing the received buffer, sendmmsg, repeat.
func (r *Reflector) read() {
	bs := r.cfg.BatchSize
	in := make([]ipv4.Message, bs)
	for i := range in {
		in[i].Buffers = [][]byte{make([]byte, 1500)}
	}
	out := make([]ipv4.Message, 2048)
	for i := range out {
		out[i].Buffers = [][]byte{nil}
	}
	for {
		k, err := r.bc.ReadBatch(in, 0)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			r.cfg.Logger.Warn("reflector read", "err", err)
			time.Sleep(time.Millisecond)
			continue
		}
		mm := r.members.Load()
		used := 0
		var nin, ndrop uint64
		for i := 0; i < k; i++ {
			m := &in[i]
			from, _ := m.Addr.(*net.UDPAddr)
			if from == nil {
				continue
			}
			pkt := m.Buffers[0][:m.N]
			ap := from.AddrPort()
			ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
			if len(pkt) == joinLen {
				switch string(pkt[:4]) {
				case joinMagic:
					r.join(pkt, ap, from)
					mm = r.members.Load()
					continue
				case leaveMagic:
					r.leave(ap)
					mm = r.members.Load()
					continue
				}
			}
			src := mm.byAddr[ap]
			if src == nil {
				ndrop++
				continue
			}
			nin++
			members := mm.rooms[src.room]
			if len(out)-used < len(members) {
				used = r.flush(out, used)
			}
			for _, q := range members {
				if q == src {
					continue
				}
				o := &out[used]
				o.Buffers[0] = pkt
				o.Addr = q.addr
				used++
			}
		}
		r.flush(out, used)
		r.in.Add(nin)
		if ndrop > 0 {
			r.drops.Add(ndrop)
		}
	}
}

// flush sends out[:used] with sendmmsg and returns 0.
func (r *Reflector) flush(out []ipv4.Message, used int) int {
	pending := out[:used]
	sent := 0
	for len(pending) > 0 {
		k, err := r.bc.WriteBatch(pending, 0)
		sent += k
		pending = pending[k:]
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				break
			}
			if len(pending) > 0 {
				pending = pending[1:]
			}
		} else if k == 0 {
			break
		}
	}
	if sent > 0 {
		r.out.Add(uint64(sent))
	}
	return 0
}

// join records a member (idempotent) and echoes the datagram.
func (r *Reflector) join(pkt []byte, ap netip.AddrPort, from *net.UDPAddr) {
	room := binary.BigEndian.Uint32(pkt[4:8])
	r.mu.Lock()
	old := r.members.Load()
	if _, dup := old.byAddr[ap]; !dup {
		next := &membership{byAddr: make(map[netip.AddrPort]*reflMember, len(old.byAddr)+1), rooms: make(map[uint32][]*reflMember, len(old.rooms)+1)}
		for k, v := range old.byAddr {
			next.byAddr[k] = v
		}
		for k, v := range old.rooms {
			next.rooms[k] = v
		}
		m := &reflMember{room: room, addr: net.UDPAddrFromAddrPort(ap)}
		next.byAddr[ap] = m
		next.rooms[room] = append(append([]*reflMember(nil), old.rooms[room]...), m)
		r.members.Store(next)
		r.joins.Add(1)
	}
	r.mu.Unlock()
	_, _ = r.conn.WriteToUDP(pkt, from)
}

// leave forgets the member at ap (idempotent).
func (r *Reflector) leave(ap netip.AddrPort) {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.members.Load()
	m := old.byAddr[ap]
	if m == nil {
		return
	}
	next := &membership{byAddr: make(map[netip.AddrPort]*reflMember, len(old.byAddr)), rooms: make(map[uint32][]*reflMember, len(old.rooms))}
	for k, v := range old.byAddr {
		if k != ap {
			next.byAddr[k] = v
		}
	}
	for k, v := range old.rooms {
		if k != m.room {
			next.rooms[k] = v
			continue
		}
		var rest []*reflMember
		for _, q := range v {
			if q != m {
				rest = append(rest, q)
			}
		}
		if len(rest) > 0 {
			next.rooms[k] = rest
		}
	}
	r.members.Store(next)
	r.leaves.Add(1)
}
