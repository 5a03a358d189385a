package sfu

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/pion/dtls/v3"
	"github.com/pion/ice/v4"
	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"

	"github.com/parleyhq/parley/voiceproto"
)

// rtcTransport is a browser participant's transport: pion's ICE agent
// (lite, controlled) and DTLS server set it up; then SRTP is sealed and
// opened by the readers with the keys DTLS exported. Downlink packets
// carry the room's SSRC of their source and the browser's Opus payload
// type; the browser's own SSRC never leaves the uplink.
type rtcTransport struct {
	p      *Participant
	hub    *rtcHub
	offer  voiceproto.Offer
	opusPT uint8
	agent  *ice.Agent
	cancel context.CancelFunc

	keyed atomic.Bool
	// remote is where the downlink goes: the selected ICE pair's remote
	// address (it may move with a new pair).
	remote atomic.Pointer[net.UDPAddr]

	outMu  sync.Mutex    // guards out and outHdr
	out    *srtp.Context // seals the downlink
	outHdr rtp.Header
	inMu   sync.Mutex    // guards in and inHdr
	in     *srtp.Context // opens the uplink
	inHdr  rtp.Header

	rtcpState // reports, congestion feedback, the NACK cache (rtc_rtcp.go)

	video     rtcVideo          // camera ingest and the codecs it takes (rtc_video.go)
	keyframes keyframeRequest   // throttles PLIs to this browser as a sender
	vcache    []videoCacheEntry // guarded by outMu: sealed video for NACKs
}

// SetWebRTCTransport makes p a browser participant (the webrtc dialect of
// Select Protocol): fragment is its offer fragment, codecs the codecs it
// offered. It returns the answer fragment for Session Description; ICE,
// DTLS and the SRTP keys follow in the background, and media flows once
// they are done. A malformed fragment is voiceproto.ErrBadSDP; no Opus
// among the codecs is voiceproto.ErrNoCodec; a server without a WebRTC
// address is ErrWebRTCOff.
func (p *Participant) SetWebRTCTransport(fragment string, codecs []voiceproto.Codec) (string, error) {
	h := p.srv.rtc
	if h == nil {
		return "", ErrWebRTCOff
	}
	offer, err := voiceproto.ParseOffer(fragment)
	if err != nil {
		return "", err
	}
	pt, ok := opusPayloadType(offer, codecs)
	if !ok {
		return "", voiceproto.ErrNoCodec
	}
	t := &rtcTransport{p: p, hub: h, offer: offer, opusPT: uint8(pt)}
	ufrag, pwd := voiceproto.RandomICE(8), voiceproto.RandomICE(24)
	if id, ok := offer.Extmap(voiceproto.TransportCC); ok {
		t.up.twcc, t.up.twccID = twcc.NewRecorder(p.ssrc), uint8(id)
	}
	if vp8, ok := voiceproto.VideoCodec(offer, codecs, "VP8"); ok {
		t.video.vp8 = vp8
		rid, _ := offer.Extmap(voiceproto.ExtRID)
		rrid, _ := offer.Extmap(voiceproto.ExtRepairedRID)
		t.video.ridID, t.video.rrdID = uint8(rid), uint8(rrid)
	}
	t.agent, err = ice.NewAgent(&ice.AgentConfig{
		Lite:            true,
		NetworkTypes:    []ice.NetworkType{ice.NetworkTypeUDP4},
		CandidateTypes:  []ice.CandidateType{ice.CandidateTypeHost},
		UDPMux:          h.mux,
		IncludeLoopback: true,
		LocalUfrag:      ufrag,
		LocalPwd:        pwd,
		LoggerFactory:   h.logs,
	})
	if err != nil {
		return "", fmt.Errorf("sfu: ICE agent: %w", err)
	}
	// The run goroutine is added to the server's WaitGroup under its lock,
	// as Join does, so none starts once Close has begun waiting.
	p.srv.mu.Lock()
	if p.srv.closed {
		p.srv.mu.Unlock()
		_ = t.agent.Close()
		return "", ErrClosed
	}
	ctx, cancel := context.WithCancel(p.srv.ctx)
	t.cancel = cancel
	p.srv.wg.Add(1)
	p.srv.mu.Unlock()
	p.setTransport(t)
	go func() { // owned by the server: ends with ctx (leave, a new transport, Close)
		defer p.srv.wg.Done()
		t.run(ctx)
	}()
	return voiceproto.Answer{Addr: h.public, ICEUfrag: ufrag, ICEPwd: pwd, Fingerprint: h.fingerprint}.String(), nil
}

// opusPayloadType prefers the payload type of the codec list, then the
// fragment's rtpmap.
func opusPayloadType(offer voiceproto.Offer, codecs []voiceproto.Codec) (int, bool) {
	for _, c := range codecs {
		if strings.EqualFold(c.Name, "opus") && (c.Type == "" || c.Type == "audio") && c.PayloadType > 0 && c.PayloadType < 128 {
			return c.PayloadType, true
		}
	}
	return offer.Opus()
}

// run sets the transport up and keeps it until ctx ends. Only the
// handshake is bounded by the handshake timeout: the DTLS association
// lives as long as the transport.
func (t *rtcTransport) run(ctx context.Context) {
	defer t.teardown()
	hctx, cancel := context.WithTimeout(ctx, t.p.srv.cfg.WebRTCHandshakeTimeout)
	d, err := t.handshake(hctx)
	cancel()
	if err != nil {
		if ctx.Err() == nil {
			t.p.srv.countHandshakeFailure(err)
			t.p.srv.log.Debug("webrtc handshake failed", "user", t.p.user, "err", err)
		}
		return
	}
	<-ctx.Done()
	_ = d.Close()
}

// handshake runs ICE and DTLS and installs the SRTP keys; it returns the
// DTLS association, or closes it on failure.
func (t *rtcTransport) handshake(ctx context.Context) (_ *dtls.Conn, err error) {
	gathered := make(chan struct{})
	if err := t.agent.OnCandidate(func(c ice.Candidate) {
		if c == nil {
			close(gathered)
		}
	}); err != nil {
		return nil, fmt.Errorf("%w: %v", errICE, err)
	}
	if err := t.agent.GatherCandidates(); err != nil {
		return nil, fmt.Errorf("%w: %v", errICE, err)
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: gathering: %v", errICE, ctx.Err())
	}
	_ = t.agent.OnSelectedCandidatePairChange(func(_, remote ice.Candidate) {
		if a, err := netip.ParseAddr(remote.Address()); err == nil && t.keyed.Load() {
			t.setRemote(netip.AddrPortFrom(a, uint16(remote.Port())))
		}
	})
	conn, err := t.agent.Accept(ctx, t.offer.ICEUfrag, t.offer.ICEPwd)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errICE, err)
	}
	d, err := dtls.Server(connPacketConn{conn}, conn.RemoteAddr(), &dtls.Config{
		Certificates:           []tls.Certificate{t.hub.cert},
		SRTPProtectionProfiles: []dtls.SRTPProtectionProfile{dtls.SRTP_AEAD_AES_128_GCM, dtls.SRTP_AES128_CM_HMAC_SHA1_80},
		ClientAuth:             dtls.RequireAnyClientCert,
		ExtendedMasterSecret:   dtls.RequireExtendedMasterSecret,
		InsecureSkipVerify:     true, // the fingerprint from the offer is what we check
		VerifyPeerCertificate:  t.verifyFingerprint,
		LoggerFactory:          t.hub.logs,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errDTLS, err)
	}
	defer func() {
		if err != nil {
			_ = d.Close()
		}
	}()
	if err := d.HandshakeContext(ctx); err != nil {
		return nil, fmt.Errorf("%w: %v", errDTLS, err)
	}
	profile, ok := d.SelectedSRTPProtectionProfile()
	if !ok {
		return nil, fmt.Errorf("%w: no SRTP profile negotiated", errDTLS)
	}
	state, _ := d.ConnectionState()
	keys := srtp.Config{Profile: srtp.ProtectionProfile(profile)}
	if err := keys.ExtractSessionKeysFromDTLS(&state, false); err != nil {
		return nil, fmt.Errorf("%w: %v", errDTLS, err)
	}
	out, err := srtp.CreateContext(keys.Keys.LocalMasterKey, keys.Keys.LocalMasterSalt, keys.Profile)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errDTLS, err)
	}
	in, err := srtp.CreateContext(keys.Keys.RemoteMasterKey, keys.Keys.RemoteMasterSalt, keys.Profile)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errDTLS, err)
	}
	t.outMu.Lock()
	t.out = out
	t.outMu.Unlock()
	t.inMu.Lock()
	t.in = in
	t.inMu.Unlock()
	remote, _ := netip.ParseAddrPort(conn.RemoteAddr().String())
	t.keyed.Store(true)
	t.setRemote(remote)
	return d, nil
}

// verifyFingerprint checks the browser's DTLS certificate against the
// fingerprint of its offer, which came over the authenticated gateway.
func (t *rtcTransport) verifyFingerprint(raw [][]byte, _ [][]*x509.Certificate) error {
	if len(raw) == 0 {
		return fmt.Errorf("%w: no client certificate", errDTLS)
	}
	sum := sha256.Sum256(raw[0])
	if !bytes.Equal(sum[:], t.offer.Fingerprint.Value) {
		return fmt.Errorf("%w: client certificate does not match the offer's fingerprint", errDTLS)
	}
	return nil
}

// setRemote moves the downlink (and the uplink's routing) to addr.
func (t *rtcTransport) setRemote(addr netip.AddrPort) {
	addr = unmap(addr)
	var old netip.AddrPort
	if cur := t.remote.Load(); cur != nil {
		old = unmap(cur.AddrPort())
	}
	t.remote.Store(net.UDPAddrFromAddrPort(addr))
	t.hub.bind(t, old, addr)
}

// close ends the transport (its goroutine tears it down).
func (t *rtcTransport) close() { t.cancel() }

// teardown releases ICE and the routing, once run is over.
func (t *rtcTransport) teardown() {
	t.keyed.Store(false)
	if cur := t.remote.Load(); cur != nil {
		t.hub.bind(t, unmap(cur.AddrPort()), netip.AddrPort{})
	}
	_ = t.agent.Close()
}

func (t *rtcTransport) ready(*Participant) bool { return t.keyed.Load() && t.remote.Load() != nil }

func (t *rtcTransport) send(r *reader, _ *Participant, seq uint16, ts uint32, marker bool, ssrc uint32, payload []byte) DropReason {
	return t.sendPT(r, t.opusPT, 48000, seq, ts, marker, ssrc, payload)
}

// sendPT is send with the browser's payload type pt of a codec whose RTP
// clock is clock (video is cached for NACKs apart from audio).
func (t *rtcTransport) sendPT(r *reader, pt uint8, clock uint32, seq uint16, ts uint32, marker bool, ssrc uint32, payload []byte) DropReason {
	to := t.remote.Load()
	if !t.keyed.Load() || to == nil {
		return DropReceiverNotReady
	}
	b := r.rtc.slot()[:voiceproto.FixedHeaderLen]
	voiceproto.PutFixedHeader(b, marker, pt, seq, ts, ssrc)
	b = append(b, payload...)
	t.outMu.Lock()
	sealed, err := t.out.EncryptRTP(b[:0], b, &t.outHdr)
	if err == nil {
		t.noteSentLocked(ssrc, seq, ts, clock, len(payload), sealed, r.now)
	}
	t.outMu.Unlock()
	if err != nil {
		return DropSendError
	}
	r.rtc.commit(sealed, to)
	return numDropReasons
}

// openRTP decrypts an uplink SRTP packet into dst.
func (t *rtcTransport) openRTP(dst, pkt []byte) ([]byte, error) {
	t.inMu.Lock()
	defer t.inMu.Unlock()
	if t.in == nil {
		return nil, errNotKeyed
	}
	return t.in.DecryptRTP(dst, pkt, &t.inHdr)
}

// connPacketConn adapts ICE's net.Conn to the net.PacketConn DTLS wants.
type connPacketConn struct{ net.Conn }

func (c connPacketConn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, err := c.Read(b)
	return n, c.RemoteAddr(), err
}

func (c connPacketConn) WriteTo(b []byte, _ net.Addr) (int, error) { return c.Write(b) }

// Handshake errors, counted by kind.
var (
	errICE      = errors.New("webrtc: ICE failed")
	errDTLS     = errors.New("webrtc: DTLS failed")
	errNotKeyed = errors.New("webrtc: no SRTP keys yet")
)
