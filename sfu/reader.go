package sfu

import (
	"encoding/binary"
	"net"
	"time"

	"github.com/parleyhq/parley/sfu/voicecrypto"
	"golang.org/x/net/ipv4"
)

const (
	// maxDatagram bounds what a reader accepts; larger datagrams are cut
	// by the kernel and then fail authentication.
	maxDatagram = 1500
	// opusPT is Discord's Opus payload type.
	opusPT = 120
)

// silenceFrame is the Opus frame clients send five of before they stop
// (voice-protocol.md §3.5).
var silenceFrame = [3]byte{0xF8, 0xFF, 0xFE}

// reader is one socket reader goroutine with its own buffers: a receive
// batch, a decryption scratch buffer, and an outgoing batch it flushes
// after each receive batch. No goroutine per packet, no lock held while
// sending.
type reader struct {
	n     *Node
	sock  *socket
	in    []ipv4.Message
	plain []byte
	out   *sender
	ls    localStats
}

func newReader(n *Node, sock *socket) *reader {
	r := &reader{n: n, sock: sock, in: make([]ipv4.Message, n.cfg.BatchSize), plain: make([]byte, 0, maxDatagram)}
	for i := range r.in {
		r.in[i].Buffers = [][]byte{make([]byte, maxDatagram)}
		r.in[i].OOB = make([]byte, 64)
	}
	r.out = newSender(n, sock, 2048)
	return r
}

func (r *reader) run() {
	for {
		k, err := r.sock.bc.ReadBatch(r.in, 0)
		if err != nil {
			if isClosedErr(err) {
				return
			}
			r.n.log.Warn("udp read", "err", err)
			time.Sleep(time.Millisecond)
			continue
		}
		t0 := now()
		if k > 0 {
			r.countOverflows(&r.in[k-1])
		}
		for i := 0; i < k; i++ {
			m := &r.in[i]
			from, _ := m.Addr.(*net.UDPAddr)
			if from == nil {
				continue
			}
			r.handle(m.Buffers[0][:m.N], from)
		}
		if sent := r.out.flush(&r.ls); sent > 0 {
			r.n.metrics.latency.Observe(now().Sub(t0).Seconds())
		}
		r.ls.flush(&r.n.stats)
	}
}

// countOverflows adds the kernel's receive-queue drops since the last
// batch (SO_RXQ_OVFL is cumulative per socket, little-endian host order).
func (r *reader) countOverflows(m *ipv4.Message) {
	n, ok := rxqOverflow(m.OOB[:m.NN])
	if !ok || n == r.sock.overflows {
		return
	}
	r.ls.drops[DropSocketOverflow] += uint64(n - r.sock.overflows)
	r.sock.overflows = n
}

// handle classifies one datagram by shape (voice-protocol.md §3).
func (r *reader) handle(pkt []byte, from *net.UDPAddr) {
	switch voicecrypto.Classify(pkt) {
	case voicecrypto.KindDiscovery:
		r.discovery(pkt, from)
	case voicecrypto.KindKeepalive:
		r.ls.keepalives++
	case voicecrypto.KindRTCP:
		r.ls.rtcp++ // desktop clients multiplex RTCP; tolerated, unused
	case voicecrypto.KindRTP:
		r.rtp(pkt, from)
	default:
		r.ls.drops[DropUnknownKind]++
	}
}

// discovery answers an IP discovery request with the address the request
// came from (voice-protocol.md §3.1). It teaches the node where to send a
// listen-only client's media, but never overrides an address that an
// authenticated packet has proven.
func (r *reader) discovery(pkt []byte, from *net.UDPAddr) {
	ssrc := binary.BigEndian.Uint32(pkt[4:8])
	p := r.n.participant(ssrc)
	if p == nil {
		r.ls.drops[DropUnknownSSRC]++
		return
	}
	if !p.learnAddr(from) {
		r.ls.drops[DropSpoofedDiscovery]++
		return
	}
	var resp [voicecrypto.DiscoveryLen]byte
	binary.BigEndian.PutUint16(resp[0:2], 2)
	binary.BigEndian.PutUint16(resp[2:4], 70)
	binary.BigEndian.PutUint32(resp[4:8], ssrc)
	ip := from.IP
	if v4 := ip.To4(); v4 != nil {
		ip = v4
	}
	copy(resp[8:71], ip.String())
	binary.BigEndian.PutUint16(resp[72:74], uint16(from.Port))
	if _, err := r.sock.conn.WriteToUDP(resp[:], from); err != nil {
		r.ls.drops[DropSendError]++
	}
}

// rtp authenticates a media packet and fans it out.
func (r *reader) rtp(pkt []byte, from *net.UDPAddr) {
	if len(pkt) < voicecrypto.FixedHeaderLen {
		r.ls.drops[DropMalformed]++
		return
	}
	p := r.n.participant(binary.BigEndian.Uint32(pkt[8:12]))
	if p == nil {
		r.ls.drops[DropUnknownSSRC]++
		return
	}
	t := p.transport.Load()
	if t == nil {
		r.ls.drops[DropNoTransport]++
		return
	}
	// Nothing past the clear header is read until the packet decrypts.
	plain, err := t.cipher.Open(r.plain[:0], pkt)
	if err != nil {
		r.ls.drops[DropDecrypt]++
		return
	}
	h, err := voicecrypto.ParseHeader(plain)
	if err != nil {
		r.ls.drops[DropMalformed]++
		return
	}
	if h.PayloadType != opusPT {
		r.ls.drops[DropNotOpus]++
		return
	}
	p.setAddr(from)
	if h.Marker && !p.marker.Load() {
		p.marker.Store(true)
	}
	r.ls.in++
	members := p.room.snapshot()
	if r.out.free() < len(members) {
		r.out.flush(&r.ls) // before taking the source's lock
	}
	p.forward(r, members, &h, plain[h.PayloadStart:h.PayloadEnd])
	if r.out.used >= flushAt {
		// Send what is ready rather than holding it for the whole receive
		// batch: a full batch fanned out is hundreds of datagrams.
		r.out.flush(&r.ls)
	}
}

// flushAt is how many queued datagrams trigger a send mid-batch.
const flushAt = 64
