package sfu

import (
	"crypto/sha256"
	"crypto/tls"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/pion/dtls/v3/pkg/crypto/selfsign"
	"github.com/pion/ice/v4"

	"github.com/parleyhq/parley/voiceproto"
)

// rtcHub is the server's WebRTC side (shared/docs/webrtc.md §2, design A):
// one UDP address shared by every browser, read by Parley's own readers;
// pion does ICE (lite) and DTLS only, through icePacketConn, and Parley
// seals and opens SRTP itself in the same batched path as native media.
//
// RFC 7983 demultiplexes the socket by the first byte of a datagram: STUN
// 0-3 and DTLS 20-63 go to pion, SRTP and SRTCP 128-191 to the
// browser's transport the source address belongs to (byAddr, set once ICE
// chose the pair and DTLS keyed it).
type rtcHub struct {
	socks []*socket
	local *net.UDPAddr
	// public is the address answers give browsers.
	public netip.AddrPort
	pconn  *icePacketConn
	mux    *ice.UDPMuxDefault
	logs   pionLogs
	// cert is the DTLS certificate every browser sees; fingerprint its
	// SHA-256 for the answers.
	cert        tls.Certificate
	fingerprint voiceproto.Fingerprint

	// unrouted counts what pion's mux could route to no browser (it is
	// Stats.WebRTCUnrouted).
	unrouted *atomic.Uint64

	// byAddr is a copy-on-write map read on every SRTP packet; each
	// transport is bound at one address at most.
	byAddr atomic.Pointer[map[netip.AddrPort]*rtcTransport]
	mu     sync.Mutex // serialises writers of byAddr
}

// newRTCHub binds readers sockets on addr (SO_REUSEPORT, as native).
func newRTCHub(addr string, readers int, publicIP string, logs pionLogs, unrouted *atomic.Uint64) (*rtcHub, error) {
	ua, err := net.ResolveUDPAddr("udp4", addr)
	if err != nil {
		return nil, fmt.Errorf("%w: WebRTCAddr: %v", ErrConfig, err)
	}
	first, err := listenReusePort(ua)
	if err != nil {
		return nil, fmt.Errorf("sfu: listen webrtc %s: %w", addr, err)
	}
	h := &rtcHub{socks: []*socket{first}, local: first.conn.LocalAddr().(*net.UDPAddr), logs: logs, unrouted: unrouted}
	for len(h.socks) < readers {
		sock, err := listenReusePort(h.local)
		if err != nil {
			h.closeSockets()
			return nil, fmt.Errorf("sfu: listen webrtc %s: %w", h.local, err)
		}
		h.socks = append(h.socks, sock)
	}
	ip, _ := netip.ParseAddr(publicIP)
	h.public = netip.AddrPortFrom(ip.Unmap(), uint16(h.local.Port))
	if h.cert, err = selfsign.GenerateSelfSigned(); err != nil {
		h.closeSockets()
		return nil, fmt.Errorf("sfu: DTLS certificate: %w", err)
	}
	sum := sha256.Sum256(h.cert.Certificate[0])
	h.fingerprint = voiceproto.Fingerprint{Algorithm: "sha-256", Value: sum[:]}
	h.pconn = newICEPacketConn(first)
	h.mux = ice.NewUDPMuxDefault(ice.UDPMuxParams{UDPConn: h.pconn, Logger: logs.NewLogger("ice_mux"),
		// STUN for no agent (a wrong or stale ufrag) and DTLS from an
		// address no ICE check came from: dropped and counted.
		OnUnhandledPacket: func([]byte, netip.AddrPort) { h.unrouted.Add(1) }})
	empty := map[netip.AddrPort]*rtcTransport{}
	h.byAddr.Store(&empty)
	return h, nil
}

// transport finds the browser transport SRTP from src belongs to.
func (h *rtcHub) transport(src netip.AddrPort) *rtcTransport {
	return (*h.byAddr.Load())[src]
}

// bind routes SRTP from addr to t, and stops routing from old if it is
// still t's (a newer transport bound there keeps its route).
func (h *rtcHub) bind(t *rtcTransport, old, addr netip.AddrPort) {
	h.mu.Lock()
	defer h.mu.Unlock()
	cur := *h.byAddr.Load()
	next := make(map[netip.AddrPort]*rtcTransport, len(cur)+1)
	for k, v := range cur {
		if k != old || v != t {
			next[k] = v
		}
	}
	if addr.IsValid() {
		next[addr] = t
	}
	h.byAddr.Store(&next)
}

// close stops pion's mux; the sockets are closed by closeSockets.
func (h *rtcHub) close() {
	_ = h.mux.Close()
	_ = h.pconn.Close()
}

func (h *rtcHub) closeSockets() {
	for _, s := range h.socks {
		_ = s.conn.Close()
	}
}
