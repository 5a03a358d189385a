package simulcast

import (
	"testing"
	"time"

	"github.com/parleyhq/parley/sfu/rtpmunger"
	"github.com/parleyhq/parley/sfu/videocodec"
)

// simLayer is one simulcast layer of a fake VP8 sender: its own SSRC
// space (sequence number, timestamp, picture ID, TL0PICIDX bases) and
// packets per frame.
type simLayer struct {
	seq     uint16
	ts      uint32
	pid     uint16
	tl0     uint8
	perFrm  int
	unwrap  rtpmunger.Unwrapper
	keyNext bool // the next frame is a key frame
}

// sim sends frames of every layer at 30 fps with a 90 kHz clock, all
// layers capturing the same instants.
type sim struct {
	t0     time.Time
	now    time.Time
	layers []*simLayer
	frame  int
}

func newSim(layers ...*simLayer) *sim {
	t0 := time.Date(2026, 8, 1, 12, 0, 0, 0, time.UTC)
	for _, l := range layers {
		l.keyNext = true
	}
	return &sim{t0: t0, now: t0, layers: layers}
}

// simPkt is a sent packet, with its payload bytes.
type simPkt struct {
	Packet
	seq     uint16
	payload []byte
	vp8     videocodec.VP8
}

// nextFrame returns the packets of one frame of every layer, in layer
// order, and advances the clock by a frame.
func (s *sim) nextFrame() []*simPkt {
	var out []*simPkt
	for li, l := range s.layers {
		key := l.keyNext
		l.keyNext = false
		for i := range l.perFrm {
			var payload []byte
			s := byte(0x00)
			if i == 0 {
				s = 0x10
			}
			// X, S; I (15-bit picture ID), L, T (TID 0, Y), K.
			payload = append(payload, 0x80|s, 0xf0, 0x80|byte(l.pid>>8), byte(l.pid), l.tl0, 0x20|byte(l.seq)&0x1f)
			if key && i == 0 {
				payload = append(payload, 0x50, 0x42, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00)
			} else {
				payload = append(payload, 0x31, 0x05, 0x00)
			}
			v, err := videocodec.ParseVP8(payload)
			if err != nil {
				panic(err)
			}
			p := &simPkt{seq: l.seq, payload: payload, vp8: v}
			p.Layer = li
			p.ExtSeq, p.ExtTS = l.unwrap.Unwrap(l.seq, l.ts)
			p.Marker = i == l.perFrm-1
			p.SwitchPoint = v.SwitchPoint()
			p.VP8 = &p.vp8
			out = append(out, p)
			l.seq++
		}
		l.ts += 3000
		l.pid = (l.pid + 1) & 0x7fff
		l.tl0++
	}
	s.frame++
	s.now = s.t0.Add(time.Duration(s.frame) * time.Second / 30)
	return out
}

// got is a forwarded packet as the receiver sees it.
type got struct {
	layer   int
	seq     uint16
	ts      uint32
	marker  bool
	vp8     videocodec.VP8
	payload []byte
}

// recv collects what a receiver gets and checks it as it goes.
type recv struct {
	t        *testing.T
	f        *Forwarder
	pkts     []got
	keyReqs  int
	switches []int // layer of each switch
}

// push feeds p and, when forwarded, rewrites a copy of its payload as a
// caller would and records it.
func (r *recv) push(now time.Time, p *simPkt) error {
	res, err := r.f.Push(now, &p.Packet)
	if res.RequestKeyframe {
		r.keyReqs++
	}
	if err != nil {
		return err
	}
	payload := append([]byte(nil), p.payload...)
	if !res.VP8 {
		r.t.Fatal("VP8 values missing")
	}
	v := p.vp8
	if err := v.Rewrite(payload, res.PictureID, res.TL0PICIDX, res.KeyIdx); err != nil {
		r.t.Fatal(err)
	}
	if res.Switched {
		r.switches = append(r.switches, p.Layer)
		if !p.SwitchPoint {
			r.t.Fatalf("switched at a packet that is no switch point")
		}
	}
	if res.Marker != p.Marker {
		r.t.Fatal("marker not copied")
	}
	w, err := videocodec.ParseVP8(payload)
	if err != nil {
		r.t.Fatal(err)
	}
	r.pkts = append(r.pkts, got{layer: p.Layer, seq: res.Seq, ts: res.TS, marker: res.Marker, vp8: w, payload: payload})
	return nil
}

// checkContinuous asserts the receiver's stream is one clean VP8 stream:
// SNs +1 each (wrapping), timestamps the same within a frame and advancing
// by at least one tick between frames, picture IDs +1 per frame, TL0PICIDX
// +1 per frame (every frame is TID 0 here), marker at each frame's end.
func (r *recv) checkContinuous() {
	r.t.Helper()
	for i := 1; i < len(r.pkts); i++ {
		a, b := r.pkts[i-1], r.pkts[i]
		if b.seq != a.seq+1 {
			r.t.Fatalf("packet %d: seq %d after %d", i, b.seq, a.seq)
		}
		newFrame := b.vp8.FrameStart()
		if newFrame != a.marker {
			r.t.Fatalf("packet %d: frame start %v after marker %v", i, newFrame, a.marker)
		}
		if !newFrame {
			if b.ts != a.ts || b.vp8.PictureID != a.vp8.PictureID || b.vp8.TL0PICIDX != a.vp8.TL0PICIDX {
				r.t.Fatalf("packet %d: inside a frame ts %d/%d pid %d/%d", i, a.ts, b.ts, a.vp8.PictureID, b.vp8.PictureID)
			}
			continue
		}
		if int32(b.ts-a.ts) < 1 {
			r.t.Fatalf("packet %d: timestamp %d after %d", i, b.ts, a.ts)
		}
		if b.vp8.PictureID != (a.vp8.PictureID+1)&0x7fff || b.vp8.TL0PICIDX != a.vp8.TL0PICIDX+1 {
			r.t.Fatalf("packet %d: picture ID %d after %d, TL0PICIDX %d after %d",
				i, b.vp8.PictureID, a.vp8.PictureID, b.vp8.TL0PICIDX, a.vp8.TL0PICIDX)
		}
	}
}

func newRecv(t *testing.T, cfg Config) *recv {
	t.Helper()
	f, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &recv{t: t, f: f}
}

// run sends n frames to r, with a key frame on the target layer whenever a
// keyframe request came out (the sender answers the next frame).
func (s *sim) run(r *recv, n int, drop func(p *simPkt) bool) {
	for range n {
		now := s.now
		for _, p := range s.nextFrame() {
			if drop != nil && drop(p) {
				continue
			}
			before := r.keyReqs
			_ = r.push(now, p)
			if r.keyReqs > before && r.f.Target() >= 0 {
				s.layers[r.f.Target()].keyNext = true
			}
		}
	}
}
