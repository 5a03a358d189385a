package testkit

import (
	"errors"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// UDPShaper relays one client's UDP flow to a target through a loopback
// socket and shapes each direction as a bad link would, in user space
// (netem needs privileges a test does not have): a token-bucket rate cap
// (a policer: a datagram that finds too few tokens is dropped) and random
// loss, both changeable while the flow runs. Every drop is counted.
//
// The client sends to Addr; the first source address seen there is the
// client, to which the target's answers go. The target sees the shaper's
// own socket as the client's address. It owns two goroutines, one per
// direction; Close stops and waits for both.
type UDPShaper struct {
	ln, up *net.UDPConn
	client atomic.Pointer[net.UDPAddr]
	down   shapedDir // target -> client
	upDir  shapedDir // client -> target
	wg     sync.WaitGroup
	once   sync.Once
}

// UDPShape is how one direction of a UDPShaper treats datagrams.
type UDPShape struct {
	// Rate caps the direction's bit rate (bits/s of UDP payload); 0: no
	// cap.
	Rate int64
	// Burst is the bucket's depth in bytes; 0: 100 ms at Rate (at least
	// 1500 bytes).
	Burst int
	// Loss drops each datagram with this probability (0-1) before the
	// rate cap.
	Loss float64
}

// UDPShaperStats count one direction's datagrams.
type UDPShaperStats struct {
	Passed    uint64 // relayed
	RateDrops uint64 // dropped by the rate cap
	LossDrops uint64 // dropped at random (Loss)
}

// shapedDir is one direction's shape and counters.
type shapedDir struct {
	mu     sync.Mutex
	shape  UDPShape   // +checklocks:mu
	tokens float64    // bytes; +checklocks:mu
	last   time.Time  // last refill; +checklocks:mu
	rng    *rand.Rand // +checklocks:mu

	passed, rateDrops, lossDrops atomic.Uint64
}

// NewUDPShaper starts a shaper on 127.0.0.1 relaying to target
// (host:port), unshaped until SetDown or SetUp; t's cleanup closes it.
// seed makes its random loss repeatable.
func NewUDPShaper(t testing.TB, target string, seed uint64) *UDPShaper {
	t.Helper()
	raddr, err := net.ResolveUDPAddr("udp", target)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	up, err := net.DialUDP("udp", nil, raddr)
	if err != nil {
		_ = ln.Close()
		t.Fatal(err)
	}
	_ = ln.SetReadBuffer(1 << 20)
	_ = up.SetReadBuffer(1 << 20)
	s := &UDPShaper{ln: ln, up: up}
	s.down.rng = rand.New(rand.NewPCG(seed, 1))
	s.upDir.rng = rand.New(rand.NewPCG(seed, 2))
	s.wg.Add(2)
	go s.fromClient()
	go s.fromTarget()
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// Addr is the address the client sends to.
func (s *UDPShaper) Addr() string { return s.ln.LocalAddr().String() }

// SetDown shapes what the target sends the client from now on.
func (s *UDPShaper) SetDown(sh UDPShape) { s.down.set(sh) }

// SetUp shapes what the client sends the target from now on.
func (s *UDPShaper) SetUp(sh UDPShape) { s.upDir.set(sh) }

// Down returns the counters of the target-to-client direction.
func (s *UDPShaper) Down() UDPShaperStats { return s.down.stats() }

// Up returns the counters of the client-to-target direction.
func (s *UDPShaper) Up() UDPShaperStats { return s.upDir.stats() }

// Close closes both sockets and waits for the relay goroutines. It is
// idempotent.
func (s *UDPShaper) Close() error {
	var err error
	s.once.Do(func() {
		err = errors.Join(s.ln.Close(), s.up.Close())
	})
	s.wg.Wait()
	return err
}

func (s *UDPShaper) fromClient() {
	defer s.wg.Done()
	buf := make([]byte, 64<<10)
	for {
		n, from, err := s.ln.ReadFromUDP(buf)
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			continue
		}
		if c := s.client.Load(); c == nil || !c.IP.Equal(from.IP) || c.Port != from.Port {
			if c != nil {
				continue // one client per shaper
			}
			s.client.Store(from)
		}
		if s.upDir.admit(time.Now(), n) {
			_, _ = s.up.Write(buf[:n])
		}
	}
}

func (s *UDPShaper) fromTarget() {
	defer s.wg.Done()
	buf := make([]byte, 64<<10)
	for {
		n, err := s.up.Read(buf)
		if errors.Is(err, net.ErrClosed) {
			return
		}
		c := s.client.Load()
		if err != nil || c == nil {
			continue // ICMP errors while the target is away; nobody to send to yet
		}
		if s.down.admit(time.Now(), n) {
			_, _ = s.ln.WriteToUDP(buf[:n], c)
		}
	}
}

func (d *shapedDir) set(sh UDPShape) {
	if sh.Burst <= 0 {
		sh.Burst = max(int(sh.Rate/8/10), 1500)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.shape = sh
	d.tokens = float64(sh.Burst)
	d.last = time.Time{}
}

// admit decides whether an n-byte datagram passes at now.
func (d *shapedDir) admit(now time.Time, n int) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	sh := d.shape
	if sh.Loss > 0 && d.rng.Float64() < sh.Loss {
		d.lossDrops.Add(1)
		return false
	}
	if sh.Rate > 0 {
		if !d.last.IsZero() {
			d.tokens = min(d.tokens+now.Sub(d.last).Seconds()*float64(sh.Rate)/8, float64(sh.Burst))
		}
		d.last = now
		if d.tokens < float64(n) {
			d.rateDrops.Add(1)
			return false
		}
		d.tokens -= float64(n)
	}
	d.passed.Add(1)
	return true
}

func (d *shapedDir) stats() UDPShaperStats {
	return UDPShaperStats{Passed: d.passed.Load(), RateDrops: d.rateDrops.Load(), LossDrops: d.lossDrops.Load()}
}
