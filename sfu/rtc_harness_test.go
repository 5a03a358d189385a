package sfu

import (
	"bytes"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/webrtc/v4"

	"github.com/parleyhq/parley/internal/testkit"
	"github.com/parleyhq/parley/voiceproto"
)

// browser is a WebRTC peer as a browser would be, on pion: one
// PeerConnection, one sendrecv audio transceiver for its microphone, the
// web dialect's fragments. It records what it receives by SSRC.
type browser struct {
	t     *testing.T
	name  string
	p     *Participant
	pc    *webrtc.PeerConnection
	track *webrtc.TrackLocalStaticRTP
	tr    *webrtc.RTPTransceiver
	seq   uint16

	mu  sync.Mutex
	got map[uint32][]rtpFrame // by SSRC
	wg  sync.WaitGroup
}

// joinBrowser adds a browser to room that receives the room SSRCs of
// from (the server announces them in op 5; here the test knows them).
func (h *harness) joinBrowser(room, name string, from ...*Participant) *browser {
	h.t.Helper()
	return h.joinBrowserWith(room, name, browserOptions{}, from...)
}

// browserOptions vary a test browser.
type browserOptions struct {
	// rtcp: the browser runs pion's RTCP interceptors (receiver and sender
	// reports, the TransportCC extension on its packets) and the remote
	// description takes nack and transport-cc feedback, as Chrome's does.
	rtcp bool
	// forge rewrites the offer fragment before the server sees it; the
	// browser is then not waited for (its handshake may be meant to fail).
	forge func(fragment string) string
}

// joinBrowserWith is joinBrowser with options.
func (h *harness) joinBrowserWith(room, name string, o browserOptions, from ...*Participant) *browser {
	h.t.Helper()
	p, err := h.srv.Join(room, name)
	if err != nil {
		h.t.Fatal(err)
	}
	return h.connectBrowser(p, name, o, from...)
}

// connectBrowser gives participant p a new browser peer connection (its
// own SSRC and sequence numbers): a first Select Protocol, or another one
// for the same session.
func (h *harness) connectBrowser(p *Participant, name string, o browserOptions, from ...*Participant) *browser {
	h.t.Helper()
	rtcp := o.rtcp
	var me webrtc.MediaEngine
	if err := me.RegisterDefaultCodecs(); err != nil {
		h.t.Fatal(err)
	}
	var ir interceptor.Registry
	if rtcp {
		if err := webrtc.ConfigureRTCPReports(&ir); err != nil {
			h.t.Fatal(err)
		}
		if err := me.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: voiceproto.TransportCC}, webrtc.RTPCodecTypeAudio); err != nil {
			h.t.Fatal(err)
		}
		ti, err := twcc.NewHeaderExtensionInterceptor()
		if err != nil {
			h.t.Fatal(err)
		}
		ir.Add(ti)
	}
	pc, err := webrtc.NewAPI(webrtc.WithMediaEngine(&me), webrtc.WithInterceptorRegistry(&ir)).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		h.t.Fatal(err)
	}
	b := &browser{t: h.t, name: name, p: p, pc: pc, got: map[uint32][]rtpFrame{}}
	h.t.Cleanup(func() { _ = pc.Close(); b.wg.Wait() })
	b.track, err = webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "audio", name)
	if err != nil {
		h.t.Fatal(err)
	}
	if b.tr, err = pc.AddTransceiverFromTrack(b.track, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendrecv}); err != nil {
		h.t.Fatal(err)
	}
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		b.wg.Add(1)
		go func() { // ends when the peer connection closes
			defer b.wg.Done()
			for {
				pkt, _, err := tr.ReadRTP()
				if err != nil {
					return
				}
				f := rtpFrame{Header: voiceproto.Header{Seq: pkt.SequenceNumber, Timestamp: pkt.Timestamp, SSRC: pkt.SSRC,
					PayloadType: pkt.PayloadType, Marker: pkt.Marker}, Opus: bytes.Clone(pkt.Payload)}
				b.mu.Lock()
				b.got[pkt.SSRC] = append(b.got[pkt.SSRC], f)
				b.mu.Unlock()
			}
		}()
	})
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		h.t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		h.t.Fatal(err)
	}
	<-gathered
	codecs := []voiceproto.Codec{{Name: "opus", Type: "audio", Priority: 1000, PayloadType: 111}}
	fragment := voiceproto.OfferFragment(pc.LocalDescription().SDP)
	if o.forge != nil {
		fragment = o.forge(fragment)
	}
	answer, err := p.SetWebRTCTransport(fragment, codecs)
	if err != nil {
		h.t.Fatalf("%s: SetWebRTCTransport: %v", name, err)
	}
	a, err := voiceproto.ParseAnswer(answer)
	if err != nil {
		h.t.Fatalf("%s: answer %q: %v", name, answer, err)
	}
	var ssrcs []uint32
	for _, f := range from {
		ssrcs = append(ssrcs, f.SSRC())
	}
	section := voiceproto.RemoteSection{MID: "0", Kind: "audio", Direction: "sendrecv",
		PayloadType: 111, Codec: "opus/48000/2", SSRCs: ssrcs}
	if rtcp {
		offer, _ := voiceproto.ParseOffer(voiceproto.OfferFragment(pc.LocalDescription().SDP))
		id, _ := offer.Extmap(voiceproto.TransportCC)
		section.Feedback = []string{"nack", "transport-cc"}
		section.Extmaps = []voiceproto.Extmap{{ID: id, URI: voiceproto.TransportCC}}
	}
	remote := a.RemoteDescription([]voiceproto.RemoteSection{section})
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: remote}); err != nil {
		h.t.Fatalf("%s: remote description: %v\n%s", name, err, remote)
	}
	if o.forge != nil {
		return b
	}
	testkit.Eventually(h.t, 10*time.Second, func() bool {
		t, ok := p.rtcTransport()
		return ok && t.ready(p) && pc.ConnectionState() == webrtc.PeerConnectionStateConnected
	}, "%s: ICE and DTLS (pc state %v)", name, pc.ConnectionState())
	return b
}

// send writes Opus frames as RTP (the browser's own SSRC and payload type).
func (b *browser) send(frames ...[]byte) {
	b.t.Helper()
	for _, f := range frames {
		b.seq++
		if err := b.track.WriteRTP(rtpPacket{seq: b.seq, ts: uint32(b.seq) * 960, payload: f}.rtp()); err != nil && !errors.Is(err, io.ErrClosedPipe) {
			b.t.Fatal(err)
		}
	}
}

// frames returns what the browser received from from's room SSRC.
func (b *browser) frames(from *Participant) []rtpFrame {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]rtpFrame(nil), b.got[from.SSRC()]...)
}

// untilMarker waits for the marker frame from sender.
func (b *browser) untilMarker(from *Participant) []rtpFrame {
	b.t.Helper()
	var got []rtpFrame
	testkit.Eventually(b.t, 10*time.Second, func() bool {
		got = b.frames(from)
		return len(got) > 0 && bytes.Equal(got[len(got)-1].Opus, marker)
	}, "%s: end marker from %s (have %d frames)", b.name, from.user, len(b.frames(from)))
	return got[:len(got)-1]
}
