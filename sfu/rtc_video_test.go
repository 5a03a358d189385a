package sfu

import (
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/parleyhq/parley/voiceproto"
)

// browserVideoPacket is a browser's camera packet: payload type pt, and
// the RID (extension id 10) when rid is not empty.
func browserVideoPacket(t *testing.T, ssrc uint32, pt uint8, rid string) (voiceproto.Header, []byte) {
	t.Helper()
	p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: pt, SequenceNumber: 1, SSRC: ssrc}, Payload: []byte{0x10, 0, 0, 0}}
	if rid != "" {
		if err := p.Header.SetExtension(10, []byte(rid)); err != nil {
			t.Fatal(err)
		}
	}
	b, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	h, err := voiceproto.ParseHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	return h, b
}

// TestRTCVideoStreamByRID: a browser SSRC is mapped to the allocated
// stream its RID names (an RTX SSRC through the repaired RID), learned
// once and remembered without the extension; unknown rids, missing or
// malformed extensions map to nothing.
func TestRTCVideoStreamByRID(t *testing.T) {
	st := &videoState{streams: []voiceproto.Stream{{RID: "50", SSRC: 1000}, {RID: "100", SSRC: 2000}}}
	v := &rtcVideo{vp8: voiceproto.VideoCodecPT{Name: "VP8", PayloadType: 96, RTXPayloadType: 97}, ridID: 10, rrdID: 10}
	cases := []struct {
		name string
		ssrc uint32
		pt   uint8
		rid  string
		want browserStream
		ok   bool
	}{
		{"low layer", 11, 96, "50", browserStream{i: 0}, true},
		{"high layer", 22, 96, "100", browserStream{i: 1}, true},
		{"remembered without rid", 22, 96, "", browserStream{i: 1}, true},
		{"rtx by repaired rid", 33, 97, "100", browserStream{i: 1, rtx: true}, true},
		{"unknown rid", 44, 96, "75", browserStream{}, false},
		{"no rid yet", 55, 96, "", browserStream{}, false},
		{"malformed rid", 66, 96, "a b", browserStream{}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h, pkt := browserVideoPacket(t, c.ssrc, c.pt, c.rid)
			got, ok := v.stream(st, &h, pkt)
			if got != c.want || ok != c.ok {
				t.Errorf("stream = %+v %v, want %+v %v", got, ok, c.want, c.ok)
			}
		})
	}
	if v.byStream[0] != 11 || v.byStream[1] != 22 {
		t.Errorf("media SSRCs by stream = %v, want [11 22 ...]", v.byStream)
	}
	if !v.takes(96) || !v.takes(97) || v.takes(111) {
		t.Error("takes: wrong payload types")
	}
}

// TestRTCVideoSSRCBound: a browser cannot grow the SSRC map without bound.
func TestRTCVideoSSRCBound(t *testing.T) {
	st := &videoState{streams: []voiceproto.Stream{{RID: "100", SSRC: 2000}}}
	v := &rtcVideo{vp8: voiceproto.VideoCodecPT{Name: "VP8", PayloadType: 96}, ridID: 10}
	for i := range uint32(10 * maxBrowserSSRCs) {
		h, pkt := browserVideoPacket(t, 100+i, 96, "100")
		if _, ok := v.stream(st, &h, pkt); !ok {
			t.Fatal("not mapped")
		}
		if len(v.streams) > maxBrowserSSRCs {
			t.Fatalf("%d SSRCs mapped", len(v.streams))
		}
	}
}

func TestKeyframeRequestThrottle(t *testing.T) {
	var k keyframeRequest
	t0 := time.Unix(1000, 0)
	for _, c := range []struct {
		at  time.Duration
		due bool
	}{{0, true}, {100 * time.Millisecond, false}, {keyframeInterval - 1, false}, {keyframeInterval, true}, {keyframeInterval + 1, false}} {
		if got := k.due(t0.Add(c.at)); got != c.due {
			t.Errorf("due at %v = %v, want %v", c.at, got, c.due)
		}
	}
}
