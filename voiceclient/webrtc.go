package voiceclient

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/parleyhq/parley/voiceproto"
)

// The webrtc dialect (Config.WebRTC): the client joins as a browser does
// (shared/docs/webrtc.md §1) — one pion PeerConnection, one sendrecv audio
// transceiver for its own Opus, one more receive transceiver per remote
// SSRC the gateway announces, the offer reduced to a fragment for Select
// Protocol and the full remote description built from the answer
// fragment. Renegotiation for new remote streams is local: nothing new
// goes to the server.

// opusPT is the payload type this client offers for Opus (Chrome's).
const opusPT = voiceproto.PayloadTypeWebRTCOpus

// rtcLink is a Conn's WebRTC side.
type rtcLink struct {
	c     *Conn
	pc    *webrtc.PeerConnection
	track *webrtc.TrackLocalStaticRTP

	mu sync.Mutex // guards the following; serialises negotiation
	// answer is the server's, once Session Description came.
	answer *voiceproto.Answer
	// ssrcs lists, per transceiver (by index), the remote SSRC it
	// receives (0: none, the microphone's before a first remote).
	ssrcs []uint32
	// wanted are the remote SSRCs announced so far, in order.
	wanted []uint32
}

// newRTCLink makes the peer connection and the microphone's transceiver.
func newRTCLink(c *Conn) (*rtcLink, error) {
	var me webrtc.MediaEngine
	if err := me.RegisterCodec(webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1"},
		PayloadType:        opusPT,
	}, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, err
	}
	pc, err := webrtc.NewAPI(webrtc.WithMediaEngine(&me)).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, fmt.Errorf("%w: webrtc: %v", ErrHandshake, err)
	}
	l := &rtcLink{c: c, pc: pc}
	l.track, err = webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2},
		"audio", c.cfg.UserID)
	if err == nil {
		_, err = pc.AddTransceiverFromTrack(l.track, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendrecv})
	}
	if err != nil {
		_ = pc.Close()
		return nil, fmt.Errorf("%w: webrtc: %v", ErrHandshake, err)
	}
	l.ssrcs = []uint32{0}
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		// pion calls this on its own goroutine, possibly while teardown
		// runs: teardown closes closing before it takes wmu, so under wmu
		// either closing is closed (start nothing) or the Add happens
		// before Close or Dial reaches wg.Wait.
		c.wmu.Lock()
		select {
		case <-c.closing:
			c.wmu.Unlock()
			return
		default:
		}
		c.wg.Add(1)
		c.wmu.Unlock()
		go func() { // owned by the Conn: ends when the peer connection closes
			defer c.wg.Done()
			l.receive(tr)
		}()
	})
	return l, nil
}

// offer returns the Select Protocol payload: the local offer reduced to
// its fragment, after ICE gathering.
func (l *rtcLink) offer(ctx context.Context) (voiceproto.SelectProtocol, error) {
	o, err := l.pc.CreateOffer(nil)
	if err != nil {
		return voiceproto.SelectProtocol{}, err
	}
	gathered := webrtc.GatheringCompletePromise(l.pc)
	if err := l.pc.SetLocalDescription(o); err != nil {
		return voiceproto.SelectProtocol{}, err
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return voiceproto.SelectProtocol{}, ctx.Err()
	}
	return voiceproto.WebRTCSelect(voiceproto.OfferFragment(l.pc.LocalDescription().SDP), opusPT), nil
}

// accept applies the server's answer fragment and waits until media can
// flow (ICE and DTLS done).
func (l *rtcLink) accept(ctx context.Context, fragment string) error {
	a, err := voiceproto.ParseAnswer(fragment)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrHandshake, err)
	}
	connected := make(chan struct{})
	var once sync.Once
	l.pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateConnected {
			once.Do(func() { close(connected) })
		}
	})
	l.mu.Lock()
	l.answer = &a
	err = l.setRemoteLocked()
	l.mu.Unlock()
	if err != nil {
		return err
	}
	select {
	case <-connected:
	case <-ctx.Done():
		return fmt.Errorf("%w: ICE/DTLS: %v (state %v)", ErrHandshake, ctx.Err(), l.pc.ConnectionState())
	}
	return l.sync()
}

// want records a remote SSRC the gateway announced and gives it a
// transceiver.
func (l *rtcLink) want(ssrc uint32) {
	if ssrc == 0 {
		return
	}
	l.mu.Lock()
	for _, s := range l.wanted {
		if s == ssrc {
			l.mu.Unlock()
			return
		}
	}
	l.wanted = append(l.wanted, ssrc)
	l.mu.Unlock()
	if err := l.sync(); err != nil {
		l.c.log.Debug("webrtc renegotiation", "ssrc", ssrc, "err", err)
	}
}

// sync gives every wanted SSRC a transceiver: the microphone's first,
// then one new receive-only transceiver each, renegotiated locally. Before
// the answer there is nothing to renegotiate: the first remote description
// lists no remote SSRC (ssrcs is [0]), and accept calls sync once ICE and
// DTLS are done to add the ones announced meanwhile.
func (l *rtcLink) sync() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.answer == nil {
		return nil // accept calls sync again once connected
	}
	added := false
	for _, want := range l.wanted {
		if l.hasLocked(want) {
			continue
		}
		if l.ssrcs[0] == 0 {
			l.ssrcs[0] = want
		} else {
			if _, err := l.pc.AddTransceiverFromKind(webrtc.RTPCodecTypeAudio, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
				return err
			}
			l.ssrcs = append(l.ssrcs, want)
		}
		added = true
	}
	if !added {
		return nil
	}
	o, err := l.pc.CreateOffer(nil)
	if err != nil {
		return err
	}
	if err := l.pc.SetLocalDescription(o); err != nil {
		return err
	}
	return l.setRemoteLocked()
}

func (l *rtcLink) hasLocked(ssrc uint32) bool {
	for _, s := range l.ssrcs {
		if s == ssrc {
			return true
		}
	}
	return false
}

// setRemoteLocked sets the remote description built from the answer for
// the current transceivers.
func (l *rtcLink) setRemoteLocked() error {
	trs := l.pc.GetTransceivers()
	sections := make([]voiceproto.RemoteSection, 0, len(trs))
	for i, tr := range trs {
		s := voiceproto.RemoteSection{MID: tr.Mid(), Kind: "audio", PayloadType: opusPT, Codec: "opus/48000/2", Direction: "sendonly"}
		if i < len(l.ssrcs) && l.ssrcs[i] != 0 {
			s.SSRCs = []uint32{l.ssrcs[i]}
		}
		if i == 0 {
			s.Direction = "recvonly"
			if len(s.SSRCs) > 0 {
				s.Direction = "sendrecv"
			}
		}
		sections = append(sections, s)
	}
	sdp := l.answer.RemoteDescription(sections)
	if err := l.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: sdp}); err != nil {
		return fmt.Errorf("%w: remote description: %v", ErrHandshake, err)
	}
	return nil
}

// receive delivers a remote track's packets as frames.
func (l *rtcLink) receive(tr *webrtc.TrackRemote) {
	for {
		p, _, err := tr.ReadRTP()
		if err != nil {
			return
		}
		if p.PayloadType != opusPT {
			l.c.stats.ignored.Add(1)
			continue
		}
		l.c.deliver(Frame{SSRC: p.SSRC, Seq: p.SequenceNumber, Timestamp: p.Timestamp, Marker: p.Marker,
			Opus: p.Payload, Received: time.Now()})
	}
}

// write sends one RTP packet on the microphone's track (pion puts its own
// SSRC and the negotiated payload type on it; the server maps the SSRC to
// the room's).
func (l *rtcLink) write(seq uint16, ts uint32, marker bool, opus []byte) error {
	err := l.track.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, Marker: marker, PayloadType: opusPT,
		SequenceNumber: seq, Timestamp: ts}, Payload: opus})
	if errors.Is(err, context.Canceled) {
		return ErrClosed
	}
	return err
}

func (l *rtcLink) close() { _ = l.pc.Close() }
