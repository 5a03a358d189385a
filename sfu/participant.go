package sfu

import (
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parleyhq/parley/sfu/rtpmunger"
	"github.com/parleyhq/parley/voiceproto"
)

// Participant is one user in a room: a source of audio for the others and
// a receiver of theirs.
type Participant struct {
	srv  *Server
	room *Room
	user string
	ssrc uint32

	// transport is the downlink's wire format and keys (transport.go),
	// nil until Select Protocol.
	transport atomic.Pointer[transport]
	// addr is where media goes: the source of the client's authenticated
	// packets, or, until one arrives, the address it declared in Select
	// Protocol once a discovery request from there was answered. Nothing
	// unauthenticated alone ever sets or moves it (addr.go).
	addr atomic.Pointer[net.UDPAddr]
	// addrProven: an authenticated packet came from addr.
	addrProven atomic.Bool
	// disc is the discovery bookkeeping (addr.go); its lock is only taken
	// for discovery requests and Select Protocol, never per packet.
	disc       discovery
	serverMute atomic.Bool
	serverDeaf atomic.Bool
	// marker: the client sends RTP marker bits itself, so it accepts them
	// (disgo drops packets whose byte 1 is not exactly 0x78).
	marker atomic.Bool
	left   atomic.Bool
	// daveCapable: the client decrypts DAVE frames (it negotiated DAVE).
	daveCapable atomic.Bool

	// fwd is the forwarding state of this participant as a source; a
	// reader holds fwd.mu while it fans one of p's packets out.
	fwd forwarder

	// video is p's video streams as a source (video.go), nil until
	// AllocateVideo; vfwd their forwarding state; wants p's op 15 as a
	// receiver (nil: the best of everyone).
	video atomic.Pointer[videoState]
	vfwd  videoForwarder
	wants atomic.Pointer[sinkWants]
	// bwe is p's bandwidth estimate as a native video receiver
	// (video_bwe.go).
	bwe receiverBWE
}

// forwarder is a source's ingress and per-receiver munging state.
type forwarder struct {
	mu      sync.Mutex // guards all following fields
	unwrap  rtpmunger.Unwrapper
	started bool
	// switchSource: a new transport replaced the old one; the next packet
	// re-anchors every receiver's munger (rtpmunger.Munger.SwitchSource).
	switchSource bool
	lastAt       time.Time // when the last packet was forwarded
	silentRun    int       // consecutive silence frames received
	downs        map[*Participant]*rtpmunger.Munger
}

func newParticipant(srv *Server, r *Room, user string, ssrc uint32) *Participant {
	p := &Participant{srv: srv, room: r, user: user, ssrc: ssrc}
	p.fwd.downs = map[*Participant]*rtpmunger.Munger{}
	return p
}

// SSRC is the server-assigned SSRC the client must send with.
func (p *Participant) SSRC() uint32 { return p.ssrc }

// User is the participant's user id.
func (p *Participant) User() string { return p.user }

// SetTransport installs the encryption mode and key from Select Protocol,
// and the address the client declared there ("ip:port", what its IP
// discovery told it): media may go to that address once a discovery
// request from it has been answered, before the client sends anything
// authenticated. An empty or malformed declared address waits for
// authenticated media instead.
func (p *Participant) SetTransport(mode string, key []byte, declared string) error {
	if !slices.Contains(p.srv.modes, mode) {
		return fmt.Errorf("%w: %q", ErrUnknownMode, mode)
	}
	c, err := voiceproto.NewCipher(mode, key)
	if err != nil {
		return err
	}
	p.setTransport(&udpTransport{cipher: c})
	p.declare(declared)
	return nil
}

// setTransport installs t and closes a WebRTC transport it replaces. A
// replaced transport may bring a new uplink stream (a browser's new peer
// connection has its own SSRC and sequence numbers), so the source is
// re-anchored for every receiver at its next packet.
func (p *Participant) setTransport(t transport) {
	old := p.transport.Swap(&t)
	if old == nil {
		return
	}
	if ot, ok := (*old).(*rtcTransport); ok {
		ot.close()
	}
	p.fwd.mu.Lock()
	p.fwd.unwrap.Reset()
	p.fwd.switchSource = p.fwd.started
	p.fwd.mu.Unlock()
}

// transportAs returns p's transport if it is a T.
func transportAs[T transport](p *Participant) (T, bool) {
	var zero T
	t := p.transport.Load()
	if t == nil {
		return zero, false
	}
	v, ok := (*t).(T)
	return v, ok
}

// udpTransport returns p's native transport, if that is what it has.
func (p *Participant) udpTransport() (*udpTransport, bool) { return transportAs[*udpTransport](p) }

// rtcTransport returns p's WebRTC transport, if that is what it has.
func (p *Participant) rtcTransport() (*rtcTransport, bool) { return transportAs[*rtcTransport](p) }

// SetServerMute stops or resumes forwarding p's audio.
func (p *Participant) SetServerMute(m bool) { p.serverMute.Store(m) }

// SetServerDeaf stops or resumes forwarding others' audio to p.
func (p *Participant) SetServerDeaf(d bool) { p.serverDeaf.Store(d) }

// ServerMute reports the server mute.
func (p *Participant) ServerMute() bool { return p.serverMute.Load() }

// ServerDeaf reports the server deafen.
func (p *Participant) ServerDeaf() bool { return p.serverDeaf.Load() }

// SetDAVECapable records whether p's client decrypts DAVE (E2EE) frames;
// DAVE frames are never forwarded to a client that cannot.
func (p *Participant) SetDAVECapable(on bool) { p.daveCapable.Store(on) }

// SetRoomDAVE switches the room's E2EE enforcement: while on, only
// well-formed DAVE frames (and the Opus silence frame) are forwarded.
func (p *Participant) SetRoomDAVE(on bool) { p.room.dave.Store(on) }

// Leave removes p from its room.
func (p *Participant) Leave() {
	if p.left.Swap(true) {
		return
	}
	if t, ok := p.rtcTransport(); ok {
		t.close()
	}
	p.srv.leave(p)
}

// forgetReceiver drops the munging state kept for receiver r.
func (p *Participant) forgetReceiver(r *Participant) {
	p.fwd.mu.Lock()
	delete(p.fwd.downs, r)
	p.fwd.mu.Unlock()
	p.forgetVideoReceiver(r)
}
