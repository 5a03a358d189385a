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
		opts  []Option
		steps []step
		stats *Stats
	}{
		{
			name:  "contiguous_identity",
			steps: []step{f(b+100, b+100, true), f(b+101, b+101, false), f(b+102, b+102, false)},
			stats: &Stats{Forwarded: 3},
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
			stats: &Stats{Forwarded: 3, Reordered: 1, Duplicates: 5},
		},
		{
			name:  "reorder_without_drops",
			steps: []step{f(b+100, b+100, true), f(b+102, b+102, false), f(b+101, b+101, false), f(b+103, b+103, false)},
		},
		{
			name:  "drop_then_forward_marks",
			steps: []step{f(b+100, b+100, true), d(b + 101), f(b+102, b+101, true), f(b+103, b+102, false)},
			stats: &Stats{Forwarded: 3, Dropped: 1},
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
			stats: &Stats{Forwarded: 3, Dropped: 1, LateDrops: 1, Duplicates: 1},
		},
		{
			name: "too_old_and_before_first",
			steps: []step{
				f(b+1000, b+1000, true), fErr(b+999, ErrCacheMiss), f(b+1512, b+1512, false),
				fErr(b+1000, ErrTooOld), f(b+1001, b+1001, false), dErr(b+900, ErrTooOld),
			},
			stats: &Stats{Forwarded: 3, Reordered: 1, TooOld: 2, CacheMiss: 1},
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
			name: "with_start",
			opts: []Option{WithStart(40000, 123456)},
			steps: []step{
				{op: fwd, sn: b + 7, ts: 1<<32 + 5000, wantSN: b + 40000, wantTS: 1<<32 + 123456, marker: true},
				d(b + 8),
				{op: fwd, sn: b + 9, ts: 1<<32 + 5000 + 1920, wantSN: b + 40001, wantTS: 1<<32 + 123456 + 1920, marker: true},
			},
		},
		{
			name: "with_start_wraps_outgoing",
			opts: []Option{WithStart(65535, 0xFFFFFC40)},
			steps: []step{
				{op: fwd, sn: b + 7, ts: 1 << 32, wantSN: b + 65535, wantTS: 1<<32 + 0xFFFFFC40, marker: true},
				{op: fwd, sn: b + 8, ts: 1<<32 + 960, wantSN: 2 * b, wantTS: 2 << 32, marker: false},
			},
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
			stats: &Stats{Forwarded: 4, CacheMiss: 1, Switches: 1},
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
			m := New(tt.opts...)
			runSteps(t, m, tt.steps)
			if tt.stats != nil && m.Stats() != *tt.stats {
				t.Fatalf("stats = %+v, want %+v", m.Stats(), *tt.stats)
			}
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
	st := m.Stats()
	if st.Reverted != 2 || st.Dropped != 3 || st.Forwarded != 5 {
		t.Fatalf("stats %+v", st)
	}
}

func TestRevertFirstThenSwitch(t *testing.T) {
	m := New(WithStart(1000, 5000))
	runSteps(t, m, []step{{op: fwd, sn: b + 7, ts: 0, wantSN: b + 1000, wantTS: 1<<32 + 5000, marker: true}})
	if !m.Revert(b + 7) {
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
	m := New(WithStart(5, 5))
	runSteps(t, m, []step{{op: fwd, sn: b + 100, ts: 0, wantSN: b + 5, wantTS: 1<<32 + 5, marker: true}})
	m.Reset()
	if m.Started() {
		t.Fatal("started after Reset")
	}
	runSteps(t, m, []step{{op: fwd, sn: b + 900, ts: 0, wantSN: b + 5, wantTS: 1<<32 + 5, marker: true}})
	if sn, ts := m.Last(); sn != b+5 || ts != 1<<32+5 {
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
