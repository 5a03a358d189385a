package voicebench

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/parleyhq/parley/bench"
	"github.com/parleyhq/parley/internal/voicetoken"
	"github.com/parleyhq/parley/voiceproto"
)

// Ids the generator joins with: one guild, one channel per room.
const (
	benchGuild       = "7000"
	benchChannelBase = 800000
	benchUserBase    = 100000000
)

// participant is one lean voice client: a UDP socket, its transport key
// (or, for a web participant, its SRTP contexts), and (behind the SFU) a
// gateway connection kept alive by heartbeats.
type participant struct {
	idx     int
	room    int
	speaker bool
	// webrtc: the participant joins in the web dialect (set by setup
	// from Config.WebRTCShare; never behind the reflector).
	webrtc bool
	user   string
	ssrc   uint32
	sock   *udpSock
	cipher *voiceproto.Cipher // native participants
	link   *rtcLink           // web participants, once the handshake is done
	gw     *gatewayConn       // nil behind the reflector
	// peers counts the other members of the room by kind (native, web),
	// for the per-direction accounting of a mixed run.
	peers [numKinds]uint64
	// serverPort is the target's media port (from Ready, or the
	// reflector's address).
	serverPort uint16

	// Owned by the pacer.
	seq   uint16
	ts    uint32
	nonce uint32
	phase time.Duration
}

// kind is kindWeb or kindNative.
func (p *participant) kind() int {
	if p.webrtc {
		return kindWeb
	}
	return kindNative
}

// webRTCAt says whether the j-th of a sequence of participants joins in the
// web dialect when a share of them do: exactly floor(n·share) of the first
// n do, spread evenly (j is web when floor((j+1)·share) > floor(j·share)).
func webRTCAt(j int, share float64) bool {
	return math.Floor(float64(j+1)*share) > math.Floor(float64(j)*share)
}

// gatewayConn is a participant's voice gateway WebSocket after the
// handshake: a reader goroutine tracks the v8 seq and notices closes; the
// heartbeat goroutine is the only writer.
type gatewayConn struct {
	ws       *websocket.Conn
	interval time.Duration
	seq      atomic.Int64
	closed   atomic.Bool
	code     atomic.Int32 // close code from the server, if any
	nextHB   time.Time    // owned by the heartbeat goroutine
}

// read returns the next gateway message, tracking seq.
func (g *gatewayConn) read() (voiceproto.RawMessage, error) {
	var m voiceproto.RawMessage
	_, data, err := g.ws.ReadMessage()
	if err != nil {
		return m, err
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return m, fmt.Errorf("%w: bad gateway message: %v", ErrHandshake, err)
	}
	if seq, ok := m.Sequence(); ok {
		g.seq.Store(seq)
	}
	return m, nil
}

// readOp reads until a message with op arrives.
func (g *gatewayConn) readOp(op voiceproto.Op) (voiceproto.RawMessage, error) {
	for {
		m, err := g.read()
		if err != nil {
			return m, err
		}
		if m.Op == op {
			return m, nil
		}
	}
}

// selectProtocol sends Select Protocol and reads the Session Description
// it is answered with; on failure it says at which stage.
func (g *gatewayConn) selectProtocol(sp voiceproto.SelectProtocol) (voiceproto.SessionDescription, string, error) {
	var sd voiceproto.SessionDescription
	if err := g.write(voiceproto.OpSelectProtocol, sp); err != nil {
		return sd, "select protocol", err
	}
	m, err := g.readOp(voiceproto.OpSessionDescription)
	if err == nil {
		err = json.Unmarshal(m.D, &sd)
	}
	if err != nil {
		return sd, "session description", err
	}
	return sd, "", nil
}

func (g *gatewayConn) write(op voiceproto.Op, d any) error {
	b, err := json.Marshal(voiceproto.Message{Op: op, D: d})
	if err != nil {
		return err
	}
	_ = g.ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
	return g.ws.WriteMessage(websocket.TextMessage, b)
}

// readLoop discards gateway messages until the connection closes.
func (g *gatewayConn) readLoop() {
	for {
		if _, err := g.read(); err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				g.code.Store(int32(ce.Code))
			}
			g.closed.Store(true)
			return
		}
	}
}

// participantDialer returns d for participant idx, its connection coming
// from its own loopback address in 127.64.0.0/10 (bench.LoopbackSource)
// when the gateway is on loopback.
func participantDialer(d *websocket.Dialer, gateway string, idx int) *websocket.Dialer {
	host, _, err := net.SplitHostPort(gateway)
	if err != nil {
		return d
	}
	src := bench.LoopbackSource(host, 64, idx)
	if src == nil {
		return d
	}
	nd := &net.Dialer{LocalAddr: &net.TCPAddr{IP: src}, Timeout: 30 * time.Second}
	pd := *d
	pd.NetDialContext = nd.DialContext
	return &pd
}

// joinSFU runs the voice gateway handshake (voice-protocol.md §2), then
// sets up p's transport: IP discovery (§3.1) and Select Protocol "udp" for
// a native participant, the webrtc dialect (joinWebRTC) for a web one.
func joinSFU(ctx context.Context, t *Target, mode string, signer *voicetoken.Signer, dialer *websocket.Dialer, p *participant) error {
	p.user = strconv.Itoa(benchUserBase + p.idx)
	channel := strconv.Itoa(benchChannelBase + p.room)
	claims, tok := signer.IssueFor(p.user, benchGuild, channel, 2*time.Hour, time.Now())
	ws, _, err := dialer.DialContext(ctx, "wss://"+t.Gateway+"/?v=8", nil)
	if err != nil {
		return fmt.Errorf("%w: dial: %v", ErrHandshake, err)
	}
	g := &gatewayConn{ws: ws}
	g.seq.Store(-1)
	fail := func(step string, err error) error {
		if p.sock != nil {
			p.sock.close()
			p.sock = nil
		}
		_ = ws.Close()
		return fmt.Errorf("%w: user %s: %s: %v", ErrHandshake, p.user, step, err)
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(30 * time.Second)
	}
	_ = ws.SetReadDeadline(deadline)

	m, err := g.readOp(voiceproto.OpHello)
	if err != nil {
		return fail("hello", err)
	}
	var hello voiceproto.Hello
	if err := json.Unmarshal(m.D, &hello); err != nil || hello.HeartbeatInterval <= 0 {
		return fail("hello", fmt.Errorf("heartbeat_interval %v (%v)", hello.HeartbeatInterval, err))
	}
	g.interval = time.Duration(hello.HeartbeatInterval * float64(time.Millisecond))

	if err := g.write(voiceproto.OpIdentify, voiceproto.Identify{ServerID: benchGuild, UserID: voiceproto.ID(p.user),
		SessionID: voiceproto.ID(claims.SessionID), Token: tok}); err != nil {
		return fail("identify", err)
	}
	if m, err = g.readOp(voiceproto.OpReady); err != nil {
		return fail("ready", err)
	}
	var ready voiceproto.Ready
	if err := json.Unmarshal(m.D, &ready); err != nil {
		return fail("ready", err)
	}
	p.ssrc = ready.SSRC
	if p.webrtc {
		// Ready's address is the native media socket's: a web client
		// ignores it and learns the server's from the answer.
		if step, err := joinWebRTC(ctx, g, p); err != nil {
			return fail(step, err)
		}
	} else if step, err := selectUDP(g, mode, ready, p); err != nil {
		return fail(step, err)
	}
	if p.speaker {
		if err := g.write(voiceproto.OpSpeaking, voiceproto.Speaking{Speaking: voiceproto.SpeakingMicrophone, SSRC: p.ssrc}); err != nil {
			return fail("speaking", err)
		}
	}
	_ = ws.SetReadDeadline(time.Time{})
	p.gw = g
	return nil
}

// selectUDP is the native transport: a socket towards Ready's address, IP
// discovery, Select Protocol "udp" with mode, and the key from Session
// Description. It returns the failed step with the error.
func selectUDP(g *gatewayConn, mode string, ready voiceproto.Ready, p *participant) (string, error) {
	if !slices.Contains(ready.Modes, mode) {
		return "ready", fmt.Errorf("mode %s not offered (%v)", mode, ready.Modes)
	}
	p.serverPort = uint16(ready.Port)
	addr, err := netip.ParseAddr(ready.IP)
	if err != nil {
		return "ready", err
	}
	if p.sock, err = dialUDP(netip.AddrPortFrom(addr, uint16(ready.Port))); err != nil {
		return "udp", err
	}
	ip, port, err := discover(p.sock, p.ssrc)
	if err != nil {
		return "ip discovery", err
	}
	sd, stage, err := g.selectProtocol(voiceproto.SelectProtocol{Protocol: voiceproto.ProtocolUDP,
		Data: voiceproto.SelectProtocolData{Address: ip, Port: port, Mode: mode}})
	if err != nil {
		return stage, err
	}
	if p.cipher, err = voiceproto.NewCipher(sd.Mode, sd.SecretKey); err != nil {
		return "session description", err
	}
	return "", nil
}

// discover runs IP discovery: a 74-byte request, retried, until the answer
// echoes the SSRC.
func discover(s *udpSock, ssrc uint32) (string, int, error) {
	req := voiceproto.DiscoveryRequest(ssrc)
	buf := make([]byte, rxBufSize)
	for range 10 {
		if err := s.send(req[:]); err != nil {
			return "", 0, err
		}
		n, err := s.recv(buf)
		if err != nil {
			continue // timeout: resend
		}
		got, addr, err := voiceproto.ParseDiscoveryResponse(buf[:n])
		if err != nil || got != ssrc {
			continue
		}
		return addr.Addr().String(), int(addr.Port()), nil
	}
	return "", 0, errors.New("no discovery response")
}

// Reflector join datagram: magic, room, SSRC, participant index, all
// big-endian. The reflector echoes it as the acknowledgement. A leave
// datagram has the same layout with leaveMagic and is not acknowledged.
const (
	joinMagic  = "PVRJ"
	leaveMagic = "PVRL"
	joinLen    = 16
)

func joinDatagram(room int, ssrc uint32, idx int) []byte {
	return reflectorDatagram(joinMagic, room, ssrc, idx)
}

func reflectorDatagram(magic string, room int, ssrc uint32, idx int) []byte {
	b := make([]byte, joinLen)
	copy(b, magic)
	binary.BigEndian.PutUint32(b[4:8], uint32(room))
	binary.BigEndian.PutUint32(b[8:12], ssrc)
	binary.BigEndian.PutUint32(b[12:16], uint32(idx))
	return b
}

// joinReflector registers p's socket in its room on the reflector. The
// generator picks the SSRC (index + 1) and a random key, since nothing is
// negotiated; receivers open packets with the sender's key.
func joinReflector(t *Target, mode string, p *participant) error {
	ap, err := netip.ParseAddrPort(t.UDP)
	if err != nil {
		return fmt.Errorf("%w: reflector address %q: %v", ErrHandshake, t.UDP, err)
	}
	p.user = strconv.Itoa(benchUserBase + p.idx)
	p.ssrc = uint32(p.idx + 1)
	key := make([]byte, voiceproto.KeySize)
	_, _ = rand.Read(key)
	if p.cipher, err = voiceproto.NewCipher(mode, key); err != nil {
		return err
	}
	if p.sock, err = dialUDP(ap); err != nil {
		return err
	}
	p.serverPort = ap.Port()
	req := joinDatagram(p.room, p.ssrc, p.idx)
	buf := make([]byte, rxBufSize)
	for range 10 {
		if err := p.sock.send(req); err != nil {
			break
		}
		n, err := p.sock.recv(buf)
		if err == nil && n == joinLen && string(buf[:n]) == string(req) {
			return nil
		}
	}
	p.sock.close()
	return fmt.Errorf("%w: reflector did not acknowledge participant %d", ErrHandshake, p.idx)
}
