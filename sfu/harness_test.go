package sfu

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/parleyhq/parley/internal/testkit"
	"github.com/parleyhq/parley/voiceproto"
)

// harness is a running SFU on loopback with raw UDP peers: the packet path
// tested where it lives, without the gateway. A peer joins a room, gets a
// transport (mode and key, as Select Protocol would set), and sends and
// receives real encrypted datagrams; tests assert on what arrives and on
// the drop-reason counters.
type harness struct {
	t   *testing.T
	srv *Server
}

// newHarness starts a server with one reader (tests assert arrival order)
// and closes it when the test ends, checking that no goroutine is left.
func newHarness(t *testing.T, mod func(*Config)) *harness {
	t.Helper()
	testkit.NoLeaks(t)
	cfg := Config{UDPAddr: "127.0.0.1:0", Readers: 1}
	if mod != nil {
		mod(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Close(ctx); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return &harness{t: t, srv: srv}
}

// peer is one client: a UDP socket connected to the server, its
// participant, its cipher and a receive loop that decrypts what arrives.
type peer struct {
	t      *testing.T
	name   string
	p      *Participant
	conn   *net.UDPConn
	cipher *voiceproto.Cipher
	nonce  uint32

	mu      sync.Mutex
	got     []rtpFrame // decrypted media, in arrival order
	rtcp    [][]byte   // decrypted RTCP from the server, in arrival order
	discoOK chan discoResp
	done    chan struct{}
}

// discoResp is an IP discovery answer.
type discoResp struct {
	ssrc uint32
	addr netip.AddrPort
}

// rtpFrame is one received packet after decryption.
type rtpFrame struct {
	voiceproto.Header
	Opus []byte
}

// join adds a peer to room with a transport in mode (the best mode when
// empty) after IP discovery, declaring the address discovery found, as
// every client does; the server can then send to it before it speaks.
func (h *harness) join(room, name, mode string) *peer {
	h.t.Helper()
	return h.joinWith(room, name, mode, joinOpts{})
}

// joinOpts vary how a peer joins.
type joinOpts struct {
	// declared is the address declared in Select Protocol ("" declares the
	// one discovery found).
	declared string
	// beforeDiscovery runs once the SSRC is allocated, before the peer's
	// own discovery request.
	beforeDiscovery func(ssrc uint32)
}

// joinWith is join with options.
func (h *harness) joinWith(room, name, mode string, o joinOpts) *peer {
	h.t.Helper()
	declared := o.declared
	if mode == "" {
		mode = voiceproto.ModeAES256GCMRTPSize
	}
	p, err := h.srv.Join(room, name)
	if err != nil {
		h.t.Fatalf("join %s: %v", name, err)
	}
	key := make([]byte, voiceproto.KeySize)
	_, _ = rand.Read(key)
	c, err := voiceproto.NewCipher(mode, key)
	if err != nil {
		h.t.Fatal(err)
	}
	conn, err := net.DialUDP("udp", nil, h.srv.LocalAddr())
	if err != nil {
		h.t.Fatal(err)
	}
	pe := &peer{t: h.t, name: name, p: p, conn: conn, cipher: c,
		discoOK: make(chan discoResp, 1), done: make(chan struct{})}
	go pe.readLoop()
	h.t.Cleanup(func() { _ = conn.Close(); <-pe.done })
	if o.beforeDiscovery != nil {
		o.beforeDiscovery(p.SSRC())
	}
	found := pe.discover()
	if declared == "" {
		declared = found.String()
	}
	if err := p.SetTransport(mode, key, declared); err != nil {
		h.t.Fatalf("transport %s: %v", mode, err)
	}
	return pe
}

func (pe *peer) readLoop() {
	defer close(pe.done)
	buf := make([]byte, 2048)
	for {
		n, err := pe.conn.Read(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue // ICMP unreachable and the like
		}
		pkt := buf[:n]
		switch voiceproto.Classify(pkt) {
		case voiceproto.KindDiscoveryResponse:
			ssrc, addr, err := voiceproto.ParseDiscoveryResponse(pkt)
			if err == nil {
				select {
				case pe.discoOK <- discoResp{ssrc: ssrc, addr: addr}:
				default:
				}
			}
		case voiceproto.KindRTCP:
			plain, err := pe.cipher.OpenRTCP(nil, pkt)
			if err != nil {
				pe.t.Errorf("%s: undecryptable RTCP from the server: %v", pe.name, err)
				continue
			}
			pe.mu.Lock()
			pe.rtcp = append(pe.rtcp, plain)
			pe.mu.Unlock()
		case voiceproto.KindRTP:
			plain, err := pe.cipher.Open(nil, pkt)
			if err != nil {
				pe.t.Errorf("%s: undecryptable packet from the server: %v", pe.name, err)
				continue
			}
			h, err := voiceproto.ParseHeader(plain)
			if err != nil {
				pe.t.Errorf("%s: bad header from the server: %v", pe.name, err)
				continue
			}
			pe.mu.Lock()
			pe.got = append(pe.got, rtpFrame{Header: h, Opus: bytes.Clone(plain[h.PayloadStart:h.PayloadEnd])})
			pe.mu.Unlock()
		}
	}
}

// discover runs IP discovery until the server answers, and returns the
// address it reported.
func (pe *peer) discover() netip.AddrPort {
	pe.t.Helper()
	req := voiceproto.DiscoveryRequest(pe.p.SSRC())
	for range 50 {
		_, _ = pe.conn.Write(req[:])
		select {
		case r := <-pe.discoOK:
			if r.ssrc != pe.p.SSRC() || r.addr != pe.conn.LocalAddr().(*net.UDPAddr).AddrPort() {
				pe.t.Fatalf("%s: discovery answered %+v, want ssrc %d at %v", pe.name, r, pe.p.SSRC(), pe.conn.LocalAddr())
			}
			return r.addr
		case <-time.After(100 * time.Millisecond):
		}
	}
	pe.t.Fatalf("%s: no discovery response", pe.name)
	return netip.AddrPort{}
}

// pkt is one packet a peer sends.
type pkt struct {
	seq    uint16
	ts     uint32
	marker bool
	opus   []byte
}

// seqFrom numbers frames from seq, 20 ms apart from ts.
func seqFrom(frames [][]byte, seq uint16, ts uint32) []pkt {
	out := make([]pkt, len(frames))
	for i, f := range frames {
		out[i] = pkt{seq: seq + uint16(i), ts: ts + uint32(i)*960, opus: f}
	}
	return out
}

// send seals and sends packets with the peer's SSRC. One socket on
// loopback to one reader keeps them in order.
func (pe *peer) send(pkts ...pkt) {
	pe.t.Helper()
	for _, k := range pkts {
		b := make([]byte, voiceproto.FixedHeaderLen, voiceproto.FixedHeaderLen+len(k.opus)+64)
		voiceproto.PutFixedHeader(b, k.marker, voiceproto.PayloadTypeOpus, k.seq, k.ts, pe.p.SSRC())
		pe.nonce++
		sealed, err := pe.cipher.Seal(nil, append(b, k.opus...), voiceproto.ClientNonce(pe.nonce))
		if err != nil {
			pe.t.Fatal(err)
		}
		pe.raw(sealed)
	}
}

// attacker is a UDP socket that never joins: it sends spoofed discovery
// requests and reports whether the server ever sent it anything.
type attacker struct {
	t    *testing.T
	conn *net.UDPConn
}

func (h *harness) attacker() *attacker {
	h.t.Helper()
	conn, err := net.DialUDP("udp", nil, h.srv.LocalAddr())
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { _ = conn.Close() })
	return &attacker{t: h.t, conn: conn}
}

// spoof sends a discovery request for ssrc.
func (a *attacker) spoof(ssrc uint32) {
	req := voiceproto.DiscoveryRequest(ssrc)
	if _, err := a.conn.Write(req[:]); err != nil {
		a.t.Fatal(err)
	}
}

// received drains what arrived so far (loopback delivers a datagram into
// the socket's queue before the send returns) and returns the media count
// and whether a discovery answer came.
func (a *attacker) received() (media int, answered bool) {
	raw, err := a.conn.SyscallConn()
	if err != nil {
		a.t.Fatal(err)
	}
	buf := make([]byte, 2048)
	for {
		// A non-blocking receive: what is queued, and nothing more.
		var n int
		var rerr error
		if err := raw.Read(func(fd uintptr) bool {
			n, _, rerr = unix.Recvfrom(int(fd), buf, unix.MSG_DONTWAIT)
			return true
		}); err != nil || rerr != nil {
			return media, answered
		}
		switch voiceproto.Classify(buf[:n]) {
		case voiceproto.KindDiscoveryResponse:
			answered = true
		case voiceproto.KindRTP:
			media++
		}
	}
}

// raw sends a datagram as is.
func (pe *peer) raw(b []byte) {
	pe.t.Helper()
	if _, err := pe.conn.Write(b); err != nil {
		pe.t.Fatal(err)
	}
}

// frames returns what the peer received from sender's SSRC so far.
func (pe *peer) frames(from *peer) []rtpFrame {
	pe.mu.Lock()
	defer pe.mu.Unlock()
	var out []rtpFrame
	for _, f := range pe.got {
		if f.SSRC == from.p.SSRC() {
			out = append(out, f)
		}
	}
	return out
}

// waitFrames waits until the peer has n frames from sender.
func (pe *peer) waitFrames(from *peer, n int) []rtpFrame {
	pe.t.Helper()
	testkit.Eventually(pe.t, 5*time.Second, func() bool { return len(pe.frames(from)) >= n },
		"%s: %d frames from %s (have %d)", pe.name, n, from.name, len(pe.frames(from)))
	return pe.frames(from)
}

// marker is a frame no test sends otherwise: a sender's last packet, so a
// receiver that has it has everything forwarded before it ("nothing more
// arrived" without a sleep).
var marker = []byte{0xFC, 0xEE, 0xEE, 0xEE}

// untilMarker waits for the marker frame from sender and returns the
// frames before it.
func (pe *peer) untilMarker(from *peer) []rtpFrame {
	pe.t.Helper()
	return pe.untilMarkerFunc(from, func(f rtpFrame) bool { return bytes.Equal(f.Opus, marker) })
}

// untilMarkerFunc is untilMarker with the end frame recognised by isEnd.
func (pe *peer) untilMarkerFunc(from *peer, isEnd func(rtpFrame) bool) []rtpFrame {
	pe.t.Helper()
	var got []rtpFrame
	testkit.Eventually(pe.t, 5*time.Second, func() bool {
		got = pe.frames(from)
		return len(got) > 0 && isEnd(got[len(got)-1])
	}, "%s: end frame from %s", pe.name, from.name)
	return got[:len(got)-1]
}

// drops waits until the drop counters include want (and returns them).
func (h *harness) drops(want map[DropReason]uint64) map[string]uint64 {
	h.t.Helper()
	var got map[string]uint64
	ok := testkit.Poll(5*time.Second, func() bool {
		got = h.srv.Stats().Snapshot().Drops
		for r, n := range want {
			if got[r.String()] != n {
				return false
			}
		}
		return true
	})
	if !ok {
		h.t.Fatalf("drops %v, want %v", got, fmtDrops(want))
	}
	return got
}

func fmtDrops(m map[DropReason]uint64) string {
	s := ""
	for r, n := range m {
		s += fmt.Sprintf("%s:%d ", r, n)
	}
	return s
}

// contiguous fails unless consecutive frames have consecutive sequence
// numbers, and returns the timestamp deltas.
func contiguous(t *testing.T, fs []rtpFrame) []uint32 {
	t.Helper()
	var deltas []uint32
	for i := 1; i < len(fs); i++ {
		if fs[i].Seq != fs[i-1].Seq+1 {
			t.Fatalf("frame %d: seq %d after %d, not contiguous", i, fs[i].Seq, fs[i-1].Seq)
		}
		deltas = append(deltas, fs[i].Timestamp-fs[i-1].Timestamp)
	}
	return deltas
}
