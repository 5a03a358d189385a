package voicebench

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/pion/dtls/v3"
	"github.com/pion/dtls/v3/pkg/crypto/selfsign"
	"github.com/pion/ice/v4"
	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
	"github.com/pion/stun/v4"

	"github.com/parleyhq/parley/voiceproto"
)

// A web participant (shared/docs/webrtc.md §1) is as lean as a native one
// on the generator's side: pion's libraries do the handshake only — STUN
// messages for ICE, a DTLS client, the SRTP key derivation — and then the
// event loops seal and open SRTP themselves on the participant's raw
// socket, exactly as the server does with its readers (design A).
//
// No ICE consent checks (RFC 7675) are sent during the run: the server's
// agent is ICE-lite and Parley routes SRTP by source address itself, so
// media flows without them. (The lite agent does mark the pair
// disconnected after 5 s and failed after 30 s without checks, and lets go
// of its pion side; that changes nothing for SRTP. A browser sends one
// check every ~5 s, a few hundred datagrams per second for thousands of
// browsers against tens of thousands of media packets: not worth the
// generator's CPU in this bench.)

// webOpusPT is the Opus payload type web participants offer (Chrome's).
const webOpusPT = voiceproto.PayloadTypeWebRTCOpus

// Kinds of participant, for the per-direction accounting.
const (
	kindNative = iota
	kindWeb
	numKinds
)

var kindNames = [numKinds]string{"native", "webrtc"}

// Bounds of a web participant's handshake.
const (
	// handshakePoll is a web socket's receive timeout while pion's DTLS
	// client reads it: how soon a read notices a deadline or detach.
	handshakePoll = 50 * time.Millisecond
	// iceRetransmit is the interval between connectivity checks.
	iceRetransmit = 200 * time.Millisecond
	// rtcHandshakeTimeout bounds ICE and DTLS together.
	rtcHandshakeTimeout = 30 * time.Second
)

// rtcLink is a web participant's media transport after the handshake: the
// two SRTP contexts DTLS keyed. Each is used by one event loop only: seal
// by the loop that sends for the participant, open by the loop that
// receives on its socket (they may differ), so neither needs a lock.
type rtcLink struct {
	seal    *srtp.Context
	sealHdr rtp.Header
	open    *srtp.Context
	openHdr rtp.Header
}

// joinWebRTC is the webrtc dialect of Select Protocol for p (after Ready)
// and the media handshake that follows: an offer fragment with p's own ICE
// credentials, the fingerprint of a fresh self-signed certificate and Opus
// as payload type 111; from the answer, a socket towards the server's
// WebRTC address, ICE connectivity checks as the controlling agent, a DTLS
// client handshake, and the SRTP contexts. It returns the failed step with
// the error.
func joinWebRTC(ctx context.Context, g *gatewayConn, p *participant) (string, error) {
	ufrag, pwd := voiceproto.RandomICE(8), voiceproto.RandomICE(24)
	cert, err := selfsign.GenerateSelfSigned()
	if err != nil {
		return "certificate", err
	}
	sum := sha256.Sum256(cert.Certificate[0])
	fp := voiceproto.Fingerprint{Algorithm: "sha-256", Value: sum[:]}
	frag := voiceproto.Offer{ICEUfrag: ufrag, ICEPwd: pwd, Fingerprint: fp,
		RTPMaps: []voiceproto.RTPMap{{PayloadType: webOpusPT, Name: "opus", ClockRate: 48000, Channels: 2}}}.String()
	sd, stage, err := g.selectProtocol(voiceproto.WebRTCSelect(frag, webOpusPT))
	if err != nil {
		return stage, err
	}
	answer, err := voiceproto.ParseAnswer(sd.SDP)
	if err != nil {
		return "session description", err
	}
	p.serverPort = answer.Addr.Port()
	if p.sock, err = dialUDP(answer.Addr); err != nil {
		return "udp", err
	}
	if err := p.sock.setRecvTimeout(handshakePoll); err != nil {
		return "udp", err
	}
	hctx, cancel := context.WithTimeout(ctx, rtcHandshakeTimeout)
	defer cancel()
	if err := iceConnect(hctx, p.sock, answer, ufrag); err != nil {
		return "ice", err
	}
	if p.link, err = dtlsConnect(hctx, p.sock, answer, cert); err != nil {
		return "dtls", err
	}
	return "", nil
}

// iceConnect runs connectivity checks against the ICE-lite server (RFC
// 8445 §7.2.4) until one succeeds: Binding requests with USERNAME
// "server:ours", PRIORITY (a host candidate's), ICE-CONTROLLING,
// USE-CANDIDATE (aggressive nomination, which a lite peer takes at once),
// MESSAGE-INTEGRITY with the server's password and FINGERPRINT, resent
// every iceRetransmit. The success response must carry the request's
// transaction id and the server's integrity.
func iceConnect(ctx context.Context, s *udpSock, a voiceproto.Answer, ufrag string) error {
	var tb [8]byte
	_, _ = rand.Read(tb[:])
	// RFC 8445 §5.1.2.1: type preference 126 (host), local preference
	// 65535, component 1.
	const priority = 126<<24 | 65535<<8 | (256 - 1)
	buf := make([]byte, rxBufSize)
	for {
		req, err := stun.Build(stun.TransactionID, stun.BindingRequest,
			stun.NewUsername(a.ICEUfrag+":"+ufrag),
			ice.PriorityAttr(priority),
			ice.AttrControlling(binary.BigEndian.Uint64(tb[:])),
			ice.UseCandidate(),
			stun.NewShortTermIntegrity(a.ICEPwd),
			stun.Fingerprint)
		if err != nil {
			return err
		}
		if err := s.send(req.Raw); err != nil {
			return err
		}
		// The server's agent drops checks that arrive before it knows our
		// credentials (it learns them from the offer concurrently): wait a
		// little for the answer, then check again.
		until := time.Now().Add(iceRetransmit)
		for time.Now().Before(until) {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("no success response: %w", err)
			}
			n, err := s.recv(buf)
			if isTimeout(err) {
				continue
			}
			if err != nil {
				return err
			}
			if !stun.IsMessage(buf[:n]) {
				continue
			}
			res := &stun.Message{Raw: append([]byte(nil), buf[:n]...)}
			if err := res.Decode(); err != nil || res.TransactionID != req.TransactionID {
				continue
			}
			if res.Type != stun.BindingSuccess {
				var code stun.ErrorCodeAttribute
				_ = code.GetFrom(res)
				return fmt.Errorf("binding %s: %v", res.Type, code)
			}
			if err := stun.NewShortTermIntegrity(a.ICEPwd).Check(res); err != nil {
				return fmt.Errorf("success response: %w", err)
			}
			if err := stun.Fingerprint.Check(res); err != nil {
				return fmt.Errorf("success response: %w", err)
			}
			return nil
		}
	}
}

// dtlsConnect runs the DTLS client handshake on s (through a
// handshakeConn), checks the server's certificate against the answer's
// fingerprint, derives the SRTP contexts, and then stops pion's reader
// before the event loops take the socket.
func dtlsConnect(ctx context.Context, s *udpSock, a voiceproto.Answer, cert tls.Certificate) (*rtcLink, error) {
	hc := newHandshakeConn(s, net.UDPAddrFromAddrPort(a.Addr))
	d, err := dtls.Client(hc, hc.remote, &dtls.Config{
		Certificates:           []tls.Certificate{cert},
		SRTPProtectionProfiles: []dtls.SRTPProtectionProfile{dtls.SRTP_AEAD_AES_128_GCM, dtls.SRTP_AES128_CM_HMAC_SHA1_80},
		ExtendedMasterSecret:   dtls.RequireExtendedMasterSecret,
		// The answer came over the authenticated gateway: its fingerprint
		// is what the certificate is checked against, not a CA.
		InsecureSkipVerify: true,
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) == 0 {
				return errors.New("no server certificate")
			}
			if sum := sha256.Sum256(raw[0]); !bytes.Equal(sum[:], a.Fingerprint.Value) {
				return errors.New("server certificate does not match the answer's fingerprint")
			}
			return nil
		},
	})
	if err != nil {
		return nil, err
	}
	link, err := handshakeSRTP(ctx, d)
	// Whatever happened, pion lets go of the socket now.
	hc.detach()
	if err == nil {
		// Its read loop, refused by hc, ends and closes the record queue:
		// Read returns io.EOF then (or its deadline passes).
		_ = d.SetReadDeadline(time.Now().Add(5 * time.Second))
		var b [64]byte
		for {
			if _, rerr := d.Read(b[:]); rerr != nil {
				break
			}
		}
	}
	_ = d.Close() // its close_notify is refused by hc: the server's DTLS side stays up
	return link, err
}

// handshakeSRTP completes the DTLS handshake and derives the SRTP contexts
// (RFC 5764 §4.2, client side).
func handshakeSRTP(ctx context.Context, d *dtls.Conn) (*rtcLink, error) {
	if err := d.HandshakeContext(ctx); err != nil {
		return nil, err
	}
	profile, ok := d.SelectedSRTPProtectionProfile()
	if !ok {
		return nil, errors.New("no SRTP profile negotiated")
	}
	state, ok := d.ConnectionState()
	if !ok {
		return nil, errors.New("no connection state")
	}
	keys := srtp.Config{Profile: srtp.ProtectionProfile(profile)}
	if err := keys.ExtractSessionKeysFromDTLS(&state, true); err != nil {
		return nil, err
	}
	seal, err := srtp.CreateContext(keys.Keys.LocalMasterKey, keys.Keys.LocalMasterSalt, keys.Profile)
	if err != nil {
		return nil, err
	}
	open, err := srtp.CreateContext(keys.Keys.RemoteMasterKey, keys.Keys.RemoteMasterSalt, keys.Profile)
	if err != nil {
		return nil, err
	}
	return &rtcLink{seal: seal, open: open}, nil
}
