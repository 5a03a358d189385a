package rtpmunger

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

// Incoming extended SNs in tests start in cycle 1, as an Unwrapper's do.
const b = 1 << 16

type opKind int

const (
	fwd opKind = iota
	drop
	sw
)

type step struct {
	op      opKind
	sn      uint64 // incoming extended SN
	ts      uint64 // incoming extended TS (fwd, sw)
	spurt   bool   // talkspurtStart (fwd)
	elapsed uint64 // sw
	wantSN  uint64 // outgoing extended SN (fwd, no error)
	wantTS  uint64
	marker  bool
	err     error
}

// f is a forward of sn with ts = sn*960 expecting out SN wantSN, TS
// wantSN*960 (the identity start plus drops only shift SNs).
func f(sn, wantSN uint64, marker bool) step {
	return step{op: fwd, sn: sn, ts: sn * 960, wantSN: wantSN, wantTS: sn * 960, marker: marker}
}

func fErr(sn uint64, err error) step { return step{op: fwd, sn: sn, ts: sn * 960, err: err} }
func d(sn uint64) step               { return step{op: drop, sn: sn} }
func dErr(sn uint64, err error) step { return step{op: drop, sn: sn, err: err} }

func runSteps(t *testing.T, m *Munger, steps []step) {
	t.Helper()
	for i, s := range steps {
		switch s.op {
		case fwd:
			out, err := m.Forward(s.sn, s.ts, s.spurt)
			if !errors.Is(err, s.err) {
				t.Fatalf("step %d Forward(%d): err = %v, want %v", i, s.sn, err, s.err)
			}
			if err != nil {
				if out != (Out{}) {
					t.Fatalf("step %d: non-zero Out with error", i)
				}
				continue
			}
			want := Out{Seq: uint16(s.wantSN), TS: uint32(s.wantTS), Marker: s.marker, ExtSeq: s.wantSN, ExtTS: s.wantTS}
			if out != want {
				t.Fatalf("step %d Forward(%d, %d):\n got %+v\nwant %+v", i, s.sn, s.ts, out, want)
			}
		case drop:
			if err := m.Drop(s.sn); !errors.Is(err, s.err) {
				t.Fatalf("step %d Drop(%d): err = %v, want %v", i, s.sn, err, s.err)
			}
		case sw:
			m.SwitchSource(s.sn, s.ts, s.elapsed)
		}
	}
}

func TestMunger(t *testing.T) {
	tests := []struct {
		name  string
		steps []step
	}{
		{
			name:  "contiguous_identity",
			steps: []step{f(b+100, b+100, true), f(b+101, b+101, false), f(b+102, b+102, false)},
		},
		{
			name:  "gap_stays_a_gap",
			steps: []step{f(b+100, b+100, true), f(b+103, b+103, false), f(b+104, b+104, false)},
		},
		{
			name: "duplicates",
			steps: []step{
				f(b+100, b+100, true), fErr(b+100, ErrDuplicate), f(b+102, b+102, false),
				f(b+101, b+101, false), fErr(b+101, ErrDuplicate), fErr(b+102, ErrDuplicate),
				dErr(b+101, ErrDuplicate), dErr(b+102, ErrDuplicate),
			},
		},
		{
			name:  "reorder_without_drops",
			steps: []step{f(b+100, b+100, true), f(b+102, b+102, false), f(b+101, b+101, false), f(b+103, b+103, false)},
		},
		{
			name:  "drop_then_forward_marks",
			steps: []step{f(b+100, b+100, true), d(b + 101), f(b+102, b+101, true), f(b+103, b+102, false)},
		},
		{
			name: "silence_suppression_keeps_ts",
			steps: []step{
				f(b+100, b+100, true), d(b + 101), d(b + 102), d(b + 103), d(b + 104), d(b + 105),
				// SN continues at 101, TS jumps by the 5 dropped frames.
				{op: fwd, sn: b + 106, ts: (b + 106) * 960, wantSN: b + 101, wantTS: (b + 106) * 960, marker: true},
			},
		},
		{
			name: "reorder_before_drop",
			steps: []step{
				f(b+100, b+100, true), f(b+102, b+102, false), d(b + 103), f(b+104, b+103, true),
				f(b+101, b+101, false), // late, fills its own slot
			},
		},
		{
			name: "reorder_after_drop",
			steps: []step{
				f(b+100, b+100, true), d(b + 101), f(b+103, b+102, true),
				f(b+102, b+101, false), // late, behind the exclusion
				fErr(b+101, ErrDuplicate),
			},
		},
		{
			name: "drop_after_gap",
			steps: []step{
				f(b+100, b+100, true), d(b + 103), f(b+104, b+103, true),
				f(b+101, b+101, false), f(b+102, b+102, false),
			},
		},
		{
			name: "late_drop_leaves_hole",
			steps: []step{
				f(b+100, b+100, true), f(b+102, b+102, false), d(b + 101), f(b+103, b+103, false),
				fErr(b+101, ErrDuplicate),
			},
		},
		{
			name: "too_old_and_before_first",
			steps: []step{
				f(b+1000, b+1000, true), fErr(b+999, ErrCacheMiss), f(b+1512, b+1512, false),
				fErr(b+1000, ErrTooOld), f(b+1001, b+1001, false), dErr(b+900, ErrTooOld),
			},
		},
		{
			name: "talkspurt_flag",
			steps: []step{
				f(b+100, b+100, true), {op: fwd, sn: b + 101, ts: (b + 101) * 960, spurt: true, wantSN: b + 101, wantTS: (b + 101) * 960, marker: true},
				f(b+103, b+103, false), {op: fwd, sn: b + 102, ts: (b + 102) * 960, spurt: true, wantSN: b + 102, wantTS: (b + 102) * 960, marker: true},
			},
		},
		{
			name:  "drop_before_first",
			steps: []step{d(b + 99), f(b+100, b+100, true), fErr(b+99, ErrCacheMiss), f(b+101, b+101, false)},
		},
		{
			name: "long_silence",
			steps: func() []step {
				s := []step{f(b+100, b+100, true)}
				for sn := uint64(b + 101); sn < b+3101; sn++ { // 60 s of dropped frames
					s = append(s, d(sn))
				}
				return append(s, step{op: fwd, sn: b + 3101, ts: (b + 3101) * 960, wantSN: b + 101, wantTS: (b + 3101) * 960, marker: true},
					fErr(b+3000, ErrDuplicate), fErr(b+2000, ErrTooOld))
			}(),
		},
		{
			name: "switch_source",
			steps: []step{
				f(b+100, b+100, true), f(b+101, b+101, false),
				{op: sw, sn: b + 5000, ts: 1<<32 + 777, elapsed: 960},
				{op: fwd, sn: b + 5000, ts: 1<<32 + 777, wantSN: b + 102, wantTS: (b+101)*960 + 960, marker: true},
				{op: fwd, sn: b + 5001, ts: 1<<32 + 777 + 960, wantSN: b + 103, wantTS: (b+101)*960 + 1920},
				{op: fwd, sn: b + 4999, ts: 1<<32 + 777 - 960, err: ErrCacheMiss}, // straggler before the switch
			},
		},
		{
			name: "switch_clamps_ts",
			steps: []step{
				f(b+100, b+100, true),
				{op: sw, sn: b + 9, ts: 5, elapsed: 0},
				{op: fwd, sn: b + 9, ts: 5, wantSN: b + 101, wantTS: (b+100)*960 + 1, marker: true},
			},
		},
		{
			name: "switch_then_drop_first",
			steps: []step{
				f(b+100, b+100, true),
				{op: sw, sn: b + 5000, ts: 0, elapsed: 960},
				d(b + 5000),
				{op: fwd, sn: b + 5001, ts: 960, wantSN: b + 101, wantTS: (b+100)*960 + 1920, marker: true},
			},
		},
		{
			name: "switch_after_late_packet_above_last",
			steps: []step{
				f(b+1, b+1, true), d(b + 3), f(b+2, b+2, false), // late 2 is emitted after 1
				{op: sw, sn: b + 50, ts: 0, elapsed: 960},
				{op: fwd, sn: b + 50, ts: 0, wantSN: b + 3, wantTS: (b+2)*960 + 960, marker: true},
			},
		},
		{
			name: "extended_sn_from_zero",
			steps: []step{
				{op: fwd, sn: 0, ts: 0, wantSN: 0, wantTS: 0, marker: true},
				{op: fwd, sn: ^uint64(0), ts: 0, err: ErrCacheMiss},
				d(1), {op: fwd, sn: 3, ts: 2880, wantSN: 2, wantTS: 2880, marker: true},
				{op: fwd, sn: 2, ts: 1920, wantSN: 1, wantTS: 1920},
			},
		},
		{
			name:  "switch_before_start_is_noop",
			steps: []step{{op: sw, sn: b + 5, ts: 5, elapsed: 960}, f(b+100, b+100, true)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			runSteps(t, New(), tt.steps)
		})
	}
}

// TestMungerWireWrap runs wire values through an Unwrapper and the Munger
// across the 16-bit SN and 32-bit TS wraps, with a drop at 65535 and a
// reorder across the wrap.
func TestMungerWireWrap(t *testing.T) {
	var u Unwrapper
	m := New()
	type pkt struct {
		seq  uint16
		ts   uint32
		drop bool
	}
	in := []pkt{{65533, 0xFFFFF880, false}, {65534, 0xFFFFFC40, false}, {65535, 0, true}, {1, 1920, false}, {0, 960, false}, {2, 2880, false}}
	want := []struct {
		seq uint16
		ts  uint32
	}{{65533, 0xFFFFF880}, {65534, 0xFFFFFC40}, {}, {0, 1920}, {65535, 960}, {1, 2880}}
	for i, p := range in {
		sn, ts := u.Unwrap(p.seq, p.ts)
		if p.drop {
			if err := m.Drop(sn); err != nil {
				t.Fatal(err)
			}
			continue
		}
		out, err := m.Forward(sn, ts, false)
		if err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
		if out.Seq != want[i].seq || out.TS != want[i].ts {
			t.Fatalf("packet %d (%d,%#x): got (%d,%#x), want (%d,%#x)", i, p.seq, p.ts, out.Seq, out.TS, want[i].seq, want[i].ts)
		}
	}
}

func TestRevert(t *testing.T) {
	m := New()
	runSteps(t, m, []step{f(b+100, b+100, true), f(b+101, b+101, false)})
	if m.Revert(b + 100) {
		t.Fatal("reverted a packet that was not the last")
	}
	if !m.Revert(b + 101) {
		t.Fatal("could not revert the last forward")
	}
	if m.Revert(b + 101) {
		t.Fatal("reverted twice")
	}
	if sn, _ := m.Last(); sn != b+100 {
		t.Fatalf("Last after revert = %d", sn)
	}
	runSteps(t, m, []step{
		fErr(b+101, ErrDuplicate),
		f(b+102, b+101, true), // takes the reverted SN, with the marker
		f(b+104, b+103, false),
	})
	if m.Revert(b+104) != true {
		t.Fatal("revert after a gap")
	}
	runSteps(t, m, []step{
		f(b+103, b+102, false), // the gap still maps to its slot
		fErr(b+105, nil).withOut(b+103, true),
	})
	if m.Revert(b + 103) {
		t.Fatal("reverted a late packet")
	}
	// Not after a Drop, a late forward or a switch.
	runSteps(t, m, []step{f(b+106, b+104, false), d(b + 107)})
	if m.Revert(b + 106) {
		t.Fatal("reverted across a Drop")
	}
}

func TestRevertFirstThenSwitch(t *testing.T) {
	m := New()
	runSteps(t, m, []step{{op: fwd, sn: b + 1000, ts: 1<<32 + 5000, wantSN: b + 1000, wantTS: 1<<32 + 5000, marker: true}})
	if !m.Revert(b + 1000) {
		t.Fatal("revert of the first packet")
	}
	runSteps(t, m, []step{
		{op: sw, sn: 3 * b, ts: 0, elapsed: 960},
		{op: fwd, sn: 3 * b, ts: 0, wantSN: b + 1000, wantTS: 1<<32 + 5000 + 960, marker: true},
	})
}

func (s step) withOut(sn uint64, marker bool) step {
	s.wantSN, s.wantTS, s.marker = sn, s.ts, marker
	return s
}

func TestRangeEviction(t *testing.T) {
	m := New()
	sn := uint64(b + 1000)
	if _, err := m.Forward(sn, 0, false); err != nil {
		t.Fatal(err)
	}
	first := sn + 1
	// Alternate a gap (never delivered), a forward and a drop: every drop
	// after a forward closes one range.
	for i := 0; i < MaxRanges+10; i++ {
		sn += 2 // sn-1 is a gap
		if _, err := m.Forward(sn, 0, false); err != nil {
			t.Fatal(err)
		}
		sn++
		if err := m.Drop(sn); err != nil {
			t.Fatal(err)
		}
	}
	if m.ranges.n != MaxRanges {
		t.Fatalf("ranges = %d", m.ranges.n)
	}
	// The gap in the first range is gone with it; the newest still maps.
	if _, err := m.Forward(first, 0, false); !errors.Is(err, ErrCacheMiss) {
		t.Fatalf("evicted range: err = %v", err)
	}
	if _, err := m.Forward(sn-2, 0, false); err != nil {
		t.Fatalf("recent gap: %v", err)
	}
}

func TestReset(t *testing.T) {
	m := New()
	runSteps(t, m, []step{f(b+100, b+100, true), d(b + 101), f(b+102, b+101, true)})
	m.Reset()
	if m.Started() {
		t.Fatal("started after Reset")
	}
	runSteps(t, m, []step{f(b+900, b+900, true)})
	if sn, ts := m.Last(); sn != b+900 || ts != (b+900)*960 {
		t.Fatalf("Last = %d, %d", sn, ts)
	}
	if len(m.DebugInfo()) == 0 {
		t.Fatal("empty DebugInfo")
	}
}

func TestTicksFor(t *testing.T) {
	for _, tt := range []struct {
		d    time.Duration
		want uint64
	}{
		{20 * time.Millisecond, 960}, {time.Second, 48000}, {0, 0}, {-time.Second, 0},
		{time.Hour, 48000 * 3600}, {10 * time.Microsecond, 0}, {21 * time.Microsecond, 1},
	} {
		if got := TicksFor(tt.d, 48000); got != tt.want {
			t.Errorf("TicksFor(%v) = %d, want %d", tt.d, got, tt.want)
		}
	}
}

func TestZeroAllocs(t *testing.T) {
	m := New()
	sn := uint64(b)
	n := testing.AllocsPerRun(1000, func() {
		sn++
		if sn%7 == 0 {
			_ = m.Drop(sn)
			return
		}
		_, _ = m.Forward(sn, sn*960, false)
		_, _ = m.Forward(sn-3, (sn-3)*960, false)
	})
	if n != 0 {
		t.Fatalf("allocs per packet = %v", n)
	}
}

func ExampleMunger() {
	var u Unwrapper // per incoming SSRC
	m := New()      // per (receiver, source), under the forwarder's lock
	for i, silent := range []bool{false, true, true, false, false} {
		sn, ts := u.Unwrap(uint16(100+i), uint32(960*i))
		if silent {
			_ = m.Drop(sn)
			continue
		}
		out, err := m.Forward(sn, ts, false)
		if err != nil {
			continue // count the drop reason
		}
		fmt.Println(out.Seq, out.TS, out.Marker)
	}
	// Output:
	// 100 0 true
	// 101 2880 true
	// 102 3840 false
}

// wireSource is one incoming RTP stream on the wire, with its own
// Unwrapper, as a forwarder keeps per SSRC.
type wireSource struct {
	u   Unwrapper
	seq uint16
	ts  uint32
}

// next returns the extended SN and TS of the source's next 20 ms packet.
func (s *wireSource) next() (uint64, uint64) {
	sn, ts := s.u.Unwrap(s.seq, s.ts)
	s.seq++
	s.ts += 960
	return sn, ts
}

// TestSwitchSource drives SwitchSource as the SFU will: a browser that
// reconnects with a new SSRC (new random SN and TS, near their wraps), and
// simulcast layers switched back and forth. Every receiver must see one
// stream: SNs contiguous, timestamps advancing by the wall-clock gap, a
// marker at each switch, and no straggler of an old source renumbered
// into the new one. (A straggler whose SN lies above the new source's is
// indistinguishable by SN alone: the forwarder drops packets of an SSRC
// that is no longer the receiver's current source before the munger.)
func TestSwitchSource(t *testing.T) {
	stale := func(err error) bool { return errors.Is(err, ErrCacheMiss) || errors.Is(err, ErrTooOld) }
	m := New()
	var lastSN, lastTS uint64
	check := func(what string, sn, ts uint64, wantMarker bool) {
		t.Helper()
		out, err := m.Forward(sn, ts, false)
		if err != nil {
			t.Fatalf("%s: Forward(%d): %v", what, sn, err)
		}
		if m.Started() && lastSN != 0 && out.ExtSeq != lastSN+1 {
			t.Fatalf("%s: out SN %d after %d: not contiguous", what, out.ExtSeq, lastSN)
		}
		if lastTS != 0 && int64(out.ExtTS-lastTS) <= 0 {
			t.Fatalf("%s: out TS %d not after %d", what, out.ExtTS, lastTS)
		}
		if out.Marker != wantMarker {
			t.Fatalf("%s: marker %v, want %v", what, out.Marker, wantMarker)
		}
		lastSN, lastTS = out.ExtSeq, out.ExtTS
	}

	// The first connection: 50 packets, then silence suppression drops 5.
	a := &wireSource{seq: 1000, ts: 77}
	for i := range 50 {
		sn, ts := a.next()
		check("first connection", sn, ts, i == 0)
	}
	var aLate [2]uint64
	aLate[0], _ = a.next() // still in flight when the browser reconnects
	aLate[1], _ = a.next()

	// Reconnect: a new SSRC whose SN and TS start just below their wraps,
	// 2 s after the last packet out.
	bsrc := &wireSource{seq: 65530, ts: 0xFFFFFF00}
	sn, ts := bsrc.next()
	gap := TicksFor(2*time.Second, 48000)
	m.SwitchSource(sn, ts, gap)
	prevTS := lastTS
	check("first packet after reconnect", sn, ts, true)
	if lastTS != prevTS+gap {
		t.Fatalf("TS after reconnect = %d, want last + %d = %d", lastTS, gap, prevTS+gap)
	}
	for _, late := range aLate {
		if _, err := m.Forward(late, 0, false); !stale(err) {
			t.Fatalf("straggler %d of the old SSRC: err %v, want ErrCacheMiss or ErrTooOld", late, err)
		}
	}
	for range 20 { // across the new source's 16-bit SN and 32-bit TS wraps
		sn, ts := bsrc.next()
		check("new SSRC across its wrap", sn, ts, false)
	}
	// Reordering within the new source still fills its own slot.
	sn1, ts1 := bsrc.next()
	sn2, ts2 := bsrc.next()
	out2, err := m.Forward(sn2, ts2, false)
	if err != nil || out2.ExtSeq != lastSN+2 {
		t.Fatalf("reordered second: %+v %v, want SN %d", out2, err, lastSN+2)
	}
	out1, err := m.Forward(sn1, ts1, false)
	if err != nil || out1.ExtSeq != lastSN+1 {
		t.Fatalf("reordered first: %+v %v, want SN %d", out1, err, lastSN+1)
	}
	lastSN, lastTS = out2.ExtSeq, out2.ExtTS

	// Simulcast: two layers, each with its own SN and TS space and both
	// sending all the time, switched L0 → L1 → L0 → L1 on a keyframe. The
	// second layer's SNs run just above the first's, so a straggler of L0
	// lies below L1's switch SN and must be rejected; L1's stragglers lie
	// above L0's and are the forwarder's to drop by SSRC.
	layers := []*wireSource{{seq: 30000, ts: 5_000_000}, {seq: 30015, ts: 3_000_000_000}}
	tick := func() (sn, ts [2]uint64) {
		for i, l := range layers {
			sn[i], ts[i] = l.next()
		}
		return sn, ts
	}
	var checked int
	for round, l := range []int{0, 1, 0, 1} {
		sn, ts := tick()
		m.SwitchSource(sn[l], ts[l], TicksFor(20*time.Millisecond, 48000))
		check("first packet on layer switch", sn[l], ts[l], true)
		switchSN := sn[l]
		for range 10 {
			sn, ts := tick()
			check("on layer", sn[l], ts[l], false)
		}
		// The layer left behind has one more packet in flight.
		if old := 1 - l; round > 0 {
			late := layers[old].u
			lateSN, _ := late.Unwrap(layers[old].seq-12, 0)
			if lateSN < switchSN {
				if _, err := m.Forward(lateSN, 0, false); !stale(err) {
					t.Fatalf("round %d: straggler %d of layer %d: err %v, want ErrCacheMiss or ErrTooOld", round, lateSN, old, err)
				}
				checked++
			}
		}
	}
	if checked < 2 {
		t.Fatalf("only %d straggler checks ran", checked)
	}
}
