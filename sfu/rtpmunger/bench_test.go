package rtpmunger

import "testing"

// BenchmarkForward: the steady state, one in-order packet per op.
func BenchmarkForward(b *testing.B) {
	m := New()
	sn := uint64(1 << 16)
	b.ReportAllocs()
	for b.Loop() {
		sn++
		if _, err := m.Forward(sn, sn*960, false); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkForwardMixed: every 10th packet dropped (a talk-spurt boundary
// every 10 packets, so the range map is always full) and every 5th
// delivered 3 packets late.
func BenchmarkForwardMixed(b *testing.B) {
	m := New()
	sn := uint64(1 << 16)
	if _, err := m.Forward(sn, sn*960, false); err != nil {
		b.Fatal(err)
	}
	sn += 10
	b.ReportAllocs()
	for b.Loop() {
		sn++
		switch {
		case sn%10 == 0:
			_ = m.Drop(sn)
		case sn%5 == 0:
			// delivered below, late
		default:
			if _, err := m.Forward(sn, sn*960, false); err != nil {
				b.Fatal(err)
			}
			if sn%5 == 3 && (sn-3)%10 != 0 {
				if _, err := m.Forward(sn-3, (sn-3)*960, false); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
}

func BenchmarkUnwrap(b *testing.B) {
	var u Unwrapper
	var seq uint16
	var ts uint32
	b.ReportAllocs()
	for b.Loop() {
		seq++
		ts += 960
		u.Unwrap(seq, ts)
	}
}
