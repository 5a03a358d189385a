package rtpmunger

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// invariantModel replays random operations on a Munger and checks the
// package's guarantees against an independent model of what happened.
type invariantModel struct {
	t *testing.T
	m *Munger

	// The current incoming source: SN base, TS = sn*960 + tsBase, so TS
	// grows with SN (in-order input never has TS going backwards).
	next    uint64 // next new SN of the current source
	tsBase  uint64
	delayed []uint64 // generated, delivered later (reordering)
	sent    []uint64 // delivered at least once (for duplicates)

	seg      *segment
	segs     []*segment
	elapsed  uint64
	started  bool
	prevMaxS uint64 // max out SN before the current segment
	prevMaxT uint64
}

type fwdRec struct{ sn, out, outTS, inTS uint64 }

type segment struct {
	lastNewFwd int    // index in fwds of the last op if it was a new-SN forward, else -1
	start      uint64 // first incoming SN mapped (switch SN, or first forward)
	switched   bool
	highest    uint64 // model's highest processed SN (valid if any)
	any        bool
	processed  map[uint64]bool
	excluded   map[uint64]bool
	fwds       []fwdRec
	pending    bool // marker expected on the next new-highest forward
	exclusions int
}

func newSegment(start uint64, switched bool) *segment {
	return &segment{start: start, switched: switched, processed: map[uint64]bool{}, excluded: map[uint64]bool{}, pending: true, lastNewFwd: -1}
}

func (im *invariantModel) ts(sn uint64) uint64 { return sn*960 + im.tsBase }

func (im *invariantModel) deliver(sn uint64, forward, spurt bool) {
	t, s := im.t, im.seg
	im.sent = append(im.sent, sn)
	s.lastNewFwd = -1
	if forward {
		out, err := im.m.Forward(sn, im.ts(sn), spurt)
		if !im.started {
			if err != nil {
				t.Fatalf("first Forward(%d): %v", sn, err)
			}
			im.started = true
			s.start = sn
			// Baseline: what precedes the first packet (if it is reverted,
			// the stream still continues from here).
			im.prevMaxS, im.prevMaxT = out.ExtSeq-1, out.ExtTS-1
		}
		dup := s.processed[sn]
		early := sn < s.start
		if dup || early {
			if err == nil {
				t.Fatalf("Forward(%d) succeeded: duplicate=%v before segment start=%v", sn, dup, early)
			}
			return
		}
		newest := !s.any || sn > s.highest
		mustSucceed := newest || (s.highest-sn < HistorySize && s.exclusions < MaxRanges-1)
		if err != nil {
			if mustSucceed {
				t.Fatalf("Forward(%d) failed: %v (highest %d, exclusions %d)", sn, err, s.highest, s.exclusions)
			}
			return
		}
		wantMarker := spurt || (newest && s.pending)
		if out.Marker != wantMarker {
			t.Fatalf("Forward(%d): marker %v, want %v", sn, out.Marker, wantMarker)
		}
		if uint64(out.Seq) != out.ExtSeq&0xFFFF || uint64(out.TS) != out.ExtTS&0xFFFFFFFF {
			t.Fatal("wire values are not the low bits of the extended ones")
		}
		if newest {
			s.pending = false
		}
		s.processed[sn] = true
		s.fwds = append(s.fwds, fwdRec{sn: sn, out: out.ExtSeq, outTS: out.ExtTS, inTS: im.ts(sn)})
		if newest {
			s.lastNewFwd = len(s.fwds) - 1
		}
	} else {
		err := im.m.Drop(sn)
		if !im.started {
			return // before the first packet: nothing to exclude
		}
		if s.processed[sn] {
			if err == nil {
				t.Fatalf("Drop(%d) of a processed SN succeeded", sn)
			}
			return
		}
		if err != nil {
			return // too old
		}
		s.processed[sn] = true
		if !s.any || sn > s.highest {
			s.excluded[sn] = true
			s.exclusions++
			s.pending = true
		}
	}
	if !s.any || sn > s.highest {
		s.highest, s.any = sn, true
	}
}

// revert undoes the last forward if the model says it can be undone.
func (im *invariantModel) revert(sn uint64) {
	s := im.seg
	want := s.lastNewFwd >= 0 && s.fwds[s.lastNewFwd].sn == sn
	if got := im.m.Revert(sn); got != want {
		im.t.Fatalf("Revert(%d) = %v, want %v", sn, got, want)
	}
	if want {
		s.fwds = slices.Delete(s.fwds, s.lastNewFwd, s.lastNewFwd+1)
		s.excluded[sn] = true
		s.exclusions++
		s.pending = true
		s.lastNewFwd = -1
	}
}

func (im *invariantModel) switchSource(base uint64) {
	im.closeSegment()
	im.next = base
	im.tsBase = base * 7
	im.delayed = im.delayed[:0]
	im.sent = im.sent[:0]
	im.seg.lastNewFwd = -1
	if im.started {
		im.m.SwitchSource(base, im.ts(base), im.elapsed)
		im.seg = newSegment(base, true)
	}
}

// closeSegment checks the segment's forwards and folds them into the
// running maxima.
func (im *invariantModel) closeSegment() {
	t, s := im.t, im.seg
	f := slices.Clone(s.fwds)
	slices.SortFunc(f, func(a, b fwdRec) int { return int(int64(a.sn - b.sn)) })
	xs := make([]uint64, 0, len(s.excluded))
	for x := range s.excluded {
		xs = append(xs, x)
	}
	slices.Sort(xs)
	countX := func(lo, hi uint64) uint64 { // excluded SNs in [lo, hi)
		i, _ := slices.BinarySearch(xs, lo)
		j, _ := slices.BinarySearch(xs, hi)
		return uint64(max(j-i, 0))
	}
	for i, r := range f {
		if i == 0 {
			if s.switched {
				// The first packet after a switch follows the last one out.
				if want := im.prevMaxS + 1 + (r.sn - s.start) - countX(s.start, r.sn); r.out != want {
					t.Fatalf("first forward after switch: in %d out %d, want %d", r.sn, r.out, want)
				}
			}
		} else {
			a := f[i-1]
			if want := a.out + (r.sn - a.sn) - countX(a.sn+1, r.sn); r.out != want {
				t.Fatalf("in %d→%d out %d→%d, want %d (excluded between: %d)", a.sn, r.sn, a.out, r.out, want, countX(a.sn+1, r.sn))
			}
		}
		// Timestamps are the incoming ones minus a constant per segment.
		if r.inTS-r.outTS != f[0].inTS-f[0].outTS {
			t.Fatalf("TS offset changed within a segment at in %d", r.sn)
		}
		if s.switched || len(im.segs) > 0 {
			if int64(r.out-im.prevMaxS) <= 0 || int64(r.outTS-im.prevMaxT) <= 0 {
				t.Fatalf("after switch: out (%d, %d) not above (%d, %d)", r.out, r.outTS, im.prevMaxS, im.prevMaxT)
			}
		}
	}
	for _, r := range f {
		if int64(r.out-im.prevMaxS) > 0 {
			im.prevMaxS = r.out
		}
		if int64(r.outTS-im.prevMaxT) > 0 {
			im.prevMaxT = r.outTS
		}
	}
	if ms, mt := im.m.Last(); len(f) > 0 && (ms != im.prevMaxS || mt != im.prevMaxT) {
		t.Fatalf("Last() = (%d, %d), model (%d, %d)", ms, mt, im.prevMaxS, im.prevMaxT)
	}
	im.segs = append(im.segs, s)
}

// run interprets ops: each byte picks an action.
func runInvariant(t *testing.T, ops []byte) {
	im := &invariantModel{t: t, m: New(), next: b + 1000, tsBase: 12345}
	if len(ops) > 0 && ops[0]&1 == 1 { // start just below a 16-bit and a 32-bit wrap
		im.next = b + uint64(ops[0])<<8 | 0xF0
		im.tsBase = 1<<32 - 0x1000 - im.next*960%(1<<32)
	}
	im.seg = newSegment(0, false)
	for i := 0; i < len(ops); i++ {
		op := ops[i]
		fw := op&0x10 == 0 || op&0x20 == 0 // forward 3/4 of the time
		spurt := op&0xE0 == 0xE0
		switch op & 0x0F {
		case 0, 1, 2, 3, 4: // next packet, in order
			im.deliver(im.next, fw, spurt)
			if op>>4 == 0xD || op>>4 == 0x9 { // munged but not sent
				im.revert(im.next)
			}
			im.next++
		case 5, 6: // next packet delayed
			im.delayed = append(im.delayed, im.next)
			im.next++
		case 7, 8, 9: // deliver a delayed packet
			if len(im.delayed) > 0 {
				j := int(op>>4) % len(im.delayed)
				sn := im.delayed[j]
				im.delayed = slices.Delete(im.delayed, j, j+1)
				im.deliver(sn, fw, spurt)
				if op&0x0F == 9 { // a revert that must fail unless it was new
					im.revert(sn)
				}
			}
		case 10: // lost packet
			im.next++
		case 11: // burst loss
			im.next += uint64(op>>4) * 40
		case 12: // duplicate
			if len(im.sent) > 0 {
				im.deliver(im.sent[int(op>>4)%len(im.sent)], fw, spurt)
			}
		case 13: // long silence: a run of drops
			for k := 0; k < int(op>>4)*10; k++ {
				im.deliver(im.next, false, false)
				im.next++
			}
		case 14: // straggler from before the current segment
			if im.seg.switched {
				im.deliver(im.seg.start-1-uint64(op>>4), fw, false)
			}
		case 15: // source switch
			if op>>4 >= 12 {
				im.elapsed = uint64(i % 3 * 480)
				im.switchSource(b*uint64(2+i%5) + uint64(i)*37%60000)
			}
		}
	}
	im.closeSegment()
}

// FuzzMunger checks the package guarantees (see the package doc) for
// arbitrary interleavings of in-order, delayed, duplicate and lost packets,
// forwarding and drop decisions, long silences and source switches.
func FuzzMunger(f *testing.F) {
	f.Add([]byte{0, 0, 0x10, 0x30, 0, 5, 0, 7, 0x31, 0})
	f.Add([]byte{1, 5, 5, 5, 0x30, 0, 0x07, 0x17, 0x27, 12, 0x1C, 0xFF, 0, 0x0E, 0x1E, 0})
	f.Add([]byte{0, 0x0D, 0x3D, 0, 0x0B, 0, 0xFF, 0x0D, 0, 0xE0, 0x30, 0x30, 0})
	f.Fuzz(func(t *testing.T, ops []byte) {
		if len(ops) > 4000 {
			ops = ops[:4000]
		}
		runInvariant(t, ops)
	})
}

// TestMungerRandomInvariant runs the fuzz checker over seeded random
// operation sequences, so plain `go test` covers it broadly.
func TestMungerRandomInvariant(t *testing.T) {
	n := 300
	if testing.Short() {
		n = 30
	}
	for seed := range n {
		r := rand.New(rand.NewPCG(uint64(seed), 7))
		ops := make([]byte, 200+r.IntN(1500))
		for i := range ops {
			ops[i] = byte(r.UintN(256))
			if ops[i]&0x0F == 15 && r.IntN(8) != 0 {
				ops[i] &^= 0x0F // keep switches rare
			}
		}
		t.Run("", func(t *testing.T) { runInvariant(t, ops) })
		if t.Failed() {
			t.Fatalf("seed %d", seed)
		}
	}
}
