package simulcast

import (
	"errors"
	"testing"
	"time"

	"github.com/parleyhq/parley/sfu/rtpmunger"
)

func twoLayers() *sim {
	return newSim(
		&simLayer{seq: 1000, ts: 5000, pid: 100, tl0: 10, perFrm: 1},
		&simLayer{seq: 40000, ts: 1 << 30, pid: 20000, tl0: 200, perFrm: 3},
	)
}

func TestConfigValidate(t *testing.T) {
	if err := (Config{}).withDefaults().Validate(); err != nil {
		t.Fatal(err)
	}
	bad := []Config{
		{},
		{ClockRate: 90000, FrameInterval: -1, MaxSRDeviation: 1, KeyframeMinInterval: 1, KeyframeMaxInterval: 1, KeyframeUnknownRTT: 1},
		{ClockRate: 90000, FrameInterval: 1, MaxSRDeviation: 1, KeyframeMinInterval: 2, KeyframeMaxInterval: 1, KeyframeUnknownRTT: 1},
		{ClockRate: 90000, FrameInterval: 1, MaxSRDeviation: 1, KeyframeMinInterval: 1, KeyframeMaxInterval: 1},
	}
	for i, c := range bad {
		if err := c.Validate(); !errors.Is(err, ErrConfig) {
			t.Errorf("config %d: %v", i, err)
		}
	}
	if _, err := New(Config{KeyframeMinInterval: 2 * time.Second}); !errors.Is(err, ErrConfig) {
		t.Fatalf("New with min > default max: %v", err)
	}
}

func TestStartWaitsForKeyframe(t *testing.T) {
	s := twoLayers()
	s.layers[0].keyNext = false
	r := newRecv(t, Config{})
	p := s.nextFrame()[0]
	if err := r.push(s.now, p); !errors.Is(err, ErrPaused) {
		t.Fatalf("no target: %v", err)
	}
	if err := r.f.SetTarget(0); err != nil {
		t.Fatal(err)
	}
	p = s.nextFrame()[0]
	if err := r.push(s.now, p); !errors.Is(err, ErrWaitingKeyframe) {
		t.Fatalf("before a key frame: %v", err)
	}
	if r.keyReqs != 1 {
		t.Fatalf("keyframe requests %d, want 1 at once", r.keyReqs)
	}
	s.layers[0].keyNext = true
	s.run(r, 5, nil)
	if len(r.pkts) != 5 || len(r.switches) != 1 || r.f.Current() != 0 {
		t.Fatalf("forwarded %d, switches %v", len(r.pkts), r.switches)
	}
	// The first packet keeps the sender's own values.
	if r.pkts[0].seq != 1002 || r.pkts[0].vp8.PictureID != 102 {
		t.Fatalf("first packet %+v", r.pkts[0])
	}
	r.checkContinuous()
	st := r.f.Stats()
	if st.Forwarded != 5 || st.DropWaiting != 1 || st.DropPaused != 1 || st.DropOtherLayer != 5*3 {
		t.Fatalf("stats %+v", st)
	}
}

// TestSwitchUpDown: low, up, down, up again mid-stream; every switch at a
// key frame of the target, the old layer flowing until then, the
// receiver's stream continuous throughout.
func TestSwitchUpDown(t *testing.T) {
	s := twoLayers()
	r := newRecv(t, Config{})
	_ = r.f.SetTarget(0)
	s.run(r, 10, nil)
	for i, target := range []int{1, 0, 1} {
		_ = r.f.SetTarget(target)
		// The sender's key frame comes one frame after the request: the
		// current layer keeps flowing meanwhile.
		n := len(r.pkts)
		s.run(r, 1, nil)
		if r.f.Current() == target || len(r.pkts) == n {
			t.Fatalf("switch %d: switched before the key frame, or froze", i)
		}
		s.run(r, 9, nil)
		if r.f.Current() != target {
			t.Fatalf("switch %d: current %d", i, r.f.Current())
		}
	}
	if want := []int{0, 1, 0, 1}; len(r.switches) != len(want) {
		t.Fatalf("switches %v, want %v", r.switches, want)
	}
	r.checkContinuous()
	if st := r.f.Stats(); st.KeyframeRequests != 3 || st.Switches != 4 {
		t.Fatalf("stats %+v", st)
	}
}

// TestWrapAround: every layer's SN, TS and picture ID wrap during the
// test, on both sides of switches.
func TestWrapAround(t *testing.T) {
	s := newSim(
		&simLayer{seq: 65530, ts: 1<<32 - 7000, pid: 0x7ffd, tl0: 253, perFrm: 1},
		&simLayer{seq: 65520, ts: 1<<32 - 30000, pid: 0x7ff0, tl0: 250, perFrm: 4},
	)
	r := newRecv(t, Config{})
	_ = r.f.SetTarget(1)
	s.run(r, 3, nil)
	_ = r.f.SetTarget(0)
	s.run(r, 8, nil)
	_ = r.f.SetTarget(1)
	s.run(r, 30, nil)
	if len(r.switches) != 3 {
		t.Fatalf("switches %v", r.switches)
	}
	r.checkContinuous()
}

// TestLossAroundKeyframe: the target's key frame loses its first packet
// (no switch: the rest of it is not a switch point, the old layer keeps
// flowing and requests repeat); the next key frame loses a later packet
// (switch; the receiver sees exactly that one SN missing).
func TestLossAroundKeyframe(t *testing.T) {
	s := twoLayers()
	r := newRecv(t, Config{})
	_ = r.f.SetTarget(0)
	s.run(r, 3, nil)
	_ = r.f.SetTarget(1)
	lost := 0
	s.run(r, 1, nil) // requests; the key frame comes next
	s.run(r, 1, func(p *simPkt) bool {
		if p.Layer == 1 && p.SwitchPoint {
			lost++
			return true
		}
		return false
	})
	if lost != 1 || r.f.Current() != 0 {
		t.Fatalf("lost %d, current %d", lost, r.f.Current())
	}
	// Nothing is requested again before the throttle interval (500 ms,
	// RTT unknown): 15 frames.
	req := r.keyReqs
	s.run(r, 13, nil)
	if r.keyReqs != req {
		t.Fatalf("requests within the interval: %d", r.keyReqs-req)
	}
	var lostSeq uint16
	s.run(r, 3, func(p *simPkt) bool {
		if p.Layer == 1 && p.vp8.Keyframe {
			// drop the key frame's second packet
			lostSeq = p.seq + 1
		}
		return p.Layer == 1 && p.seq == lostSeq && lostSeq != 0
	})
	if r.keyReqs != req+1 || r.f.Current() != 1 {
		t.Fatalf("requests %d, current %d", r.keyReqs-req, r.f.Current())
	}
	holes := 0
	for i := 1; i < len(r.pkts); i++ {
		if d := r.pkts[i].seq - r.pkts[i-1].seq; d != 1 {
			if d != 2 {
				t.Fatalf("gap of %d", d)
			}
			holes++
		}
	}
	if holes != 1 {
		t.Fatalf("%d holes, want the lost packet's", holes)
	}
}

// TestKeyframeNeverArrives: requests repeat at the throttle interval,
// clamp(2×RTT, 200 ms, 1 s), and stop when the target is dropped.
func TestKeyframeNeverArrives(t *testing.T) {
	t0 := time.Date(2026, 8, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		rtt  time.Duration
		want time.Duration
	}{
		{"unknown_rtt", 0, 500 * time.Millisecond},
		{"low_rtt", 20 * time.Millisecond, 200 * time.Millisecond},
		{"mid_rtt", 150 * time.Millisecond, 300 * time.Millisecond},
		{"high_rtt", 2 * time.Second, time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, _ := New(Config{})
			f.SetRTT(tc.rtt)
			if f.KeyframeDue(t0) {
				t.Fatal("due without a target")
			}
			_ = f.SetTarget(1)
			var at []time.Duration
			for d := time.Duration(0); d <= 3*time.Second; d += 10 * time.Millisecond {
				if f.KeyframeDue(t0.Add(d)) {
					at = append(at, d)
				}
			}
			if len(at) < 3 || at[0] != 0 {
				t.Fatalf("requests at %v", at)
			}
			for i := 1; i < len(at); i++ {
				if got := at[i] - at[i-1]; got != tc.want {
					t.Fatalf("interval %v, want %v (requests at %v)", got, tc.want, at)
				}
			}
			_ = f.SetTarget(-1)
			if f.KeyframeDue(t0.Add(time.Hour)) {
				t.Fatal("due while paused")
			}
			if f.Stats().KeyframeRequests != uint64(len(at)) {
				t.Fatalf("counted %d", f.Stats().KeyframeRequests)
			}
		})
	}
}

// TestPauseResume: pausing stops at once; resuming waits for a key frame
// and continues the SNs, with the timestamp advanced by the pause.
func TestPauseResume(t *testing.T) {
	s := twoLayers()
	r := newRecv(t, Config{})
	_ = r.f.SetTarget(1)
	s.run(r, 5, nil)
	n := len(r.pkts)
	_ = r.f.SetTarget(-1)
	s.run(r, 60, nil) // two seconds
	if len(r.pkts) != n || r.keyReqs != 1 {
		t.Fatalf("forwarded %d while paused, requests %d", len(r.pkts)-n, r.keyReqs)
	}
	_ = r.f.SetTarget(1)
	s.run(r, 5, nil)
	if len(r.pkts) == n || r.f.Current() != 1 {
		t.Fatal("no resume")
	}
	r.checkContinuous()
	a, b := r.pkts[n-1], r.pkts[n]
	// 61 frames passed between them: the gap in wall-clock ticks.
	if d := b.ts - a.ts; d < 60*3000 || d > 62*3000 {
		t.Fatalf("timestamp advanced %d over a 2 s pause", d)
	}
}

// TestOutOfOrder: a late packet of the current layer fills its slot; a
// duplicate is dropped; after a switch, old-layer stragglers and packets
// of the new layer from before its switch point are dropped.
func TestOutOfOrder(t *testing.T) {
	s := twoLayers()
	r := newRecv(t, Config{})
	_ = r.f.SetTarget(1)
	s.run(r, 1, nil) // key frame request, key frame next
	var held []*simPkt
	for range 3 {
		for _, p := range s.nextFrame() {
			if p.Layer == 1 && p.seq%3 == 1 {
				held = append(held, p) // deliver later
				continue
			}
			_ = r.push(s.now, p)
		}
		for _, p := range held {
			if err := r.push(s.now, p); err != nil {
				t.Fatalf("late packet: %v", err)
			}
		}
		if err := r.push(s.now, held[0]); !errors.Is(err, rtpmunger.ErrDuplicate) {
			t.Fatalf("duplicate: %v", err)
		}
		held = held[:0]
	}
	// Sorted by SN the stream is continuous.
	sortBySeq(r.pkts)
	r.checkContinuous()

	// Switch down, keeping a layer-1 packet of the new epoch and a
	// layer-0 packet from before its key frame.
	_ = r.f.SetTarget(0)
	fr := s.nextFrame() // layer 0 not a key frame yet
	pre0, old1 := fr[0], fr[1]
	s.layers[0].keyNext = true
	for _, p := range s.nextFrame() {
		_ = r.push(s.now, p)
	}
	if r.f.Current() != 0 {
		t.Fatalf("current %d", r.f.Current())
	}
	if err := r.push(s.now, old1); !errors.Is(err, ErrOtherLayer) {
		t.Fatalf("old layer straggler: %v", err)
	}
	if err := r.push(s.now, pre0); !errors.Is(err, rtpmunger.ErrCacheMiss) {
		t.Fatalf("new layer packet from before the switch: %v", err)
	}
}

func sortBySeq(p []got) {
	for i := 1; i < len(p); i++ {
		for j := i; j > 0 && int16(p[j].seq-p[j-1].seq) < 0; j-- {
			p[j], p[j-1] = p[j-1], p[j]
		}
	}
}

// TestPadding: padding-only packets of the current layer are swallowed
// without a hole; those of other layers are not the munger's business.
func TestPadding(t *testing.T) {
	s := twoLayers()
	r := newRecv(t, Config{})
	_ = r.f.SetTarget(0)
	s.run(r, 2, nil)
	l := s.layers[0]
	pad := &simPkt{}
	pad.Layer, pad.PaddingOnly = 0, true
	pad.ExtSeq, pad.ExtTS = l.unwrap.Unwrap(l.seq, l.ts-3000)
	l.seq++
	if err := r.push(s.now, pad); !errors.Is(err, ErrPadding) {
		t.Fatalf("padding: %v", err)
	}
	s.run(r, 2, nil)
	r.checkContinuous()
}

// TestSwitchTimestampFromSenderReports: with reports of both layers the
// new layer's first timestamp is the old layer's last plus the capture
// distance (here the layers capture the same instants: one frame after
// the last forwarded frame); with reports that disagree with the wall
// clock, the wall-clock estimate is used.
func TestSwitchTimestampFromSenderReports(t *testing.T) {
	const ntpSec = uint64(1) << 32
	for _, tc := range []struct {
		name    string
		skew    uint64 // error of layer 1's report, NTP units
		wantSR  bool
		wantGap uint32
	}{
		{"consistent", 0, true, 3000},
		{"skewed_2s", 2 * ntpSec, false, 3000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := twoLayers()
			r := newRecv(t, Config{})
			// Both layers captured their current timestamps at NTP time T.
			T := uint64(3_900_000_000) * ntpSec
			_ = r.f.SetSenderReport(0, T, s.layers[0].ts)
			_ = r.f.SetSenderReport(1, T+tc.skew, s.layers[1].ts)
			_ = r.f.SetTarget(0)
			s.run(r, 4, nil)
			_ = r.f.SetTarget(1)
			// Deliver layer 1's key frame alone, one frame after layer 0's
			// last forwarded frame, so wall clock and reports agree.
			fr := s.nextFrame()
			s.layers[1].keyNext = true
			_ = r.push(s.now, fr[0]) // layer 0, frame k
			for _, p := range s.nextFrame()[1:] {
				_ = r.push(s.now, p) // layer 1, frame k+1
			}
			n := len(r.pkts)
			if r.f.Current() != 1 {
				t.Fatal("no switch")
			}
			if gap := r.pkts[n-3].ts - r.pkts[n-4].ts; gap != tc.wantGap {
				t.Fatalf("switch timestamp gap %d, want %d", gap, tc.wantGap)
			}
			if got := r.f.Stats().SRSwitches == 1; got != tc.wantSR {
				t.Fatalf("timed from reports: %v", got)
			}
		})
	}
}

func TestBadLayer(t *testing.T) {
	f, _ := New(Config{})
	for _, l := range []int{-2, MaxLayers} {
		if err := f.SetTarget(l); !errors.Is(err, ErrBadLayer) {
			t.Fatal(err)
		}
		if err := f.SetSenderReport(l, 0, 0); !errors.Is(err, ErrBadLayer) && l != -2 {
			t.Fatal(err)
		}
		if _, err := f.Push(time.Time{}, &Packet{Layer: l}); !errors.Is(err, ErrBadLayer) {
			t.Fatal(err)
		}
	}
}
