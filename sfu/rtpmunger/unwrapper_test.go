package rtpmunger

import "testing"

func TestUnwrapper(t *testing.T) {
	const c1 = 1 << 16
	const t1 = 1 << 32
	tests := []struct {
		name   string
		seqs   []uint16
		tss    []uint32
		wantSN []uint64
		wantTS []uint64
	}{
		{
			name: "in_order", seqs: []uint16{10, 11, 12}, tss: []uint32{0, 960, 1920},
			wantSN: []uint64{c1 + 10, c1 + 11, c1 + 12}, wantTS: []uint64{t1, t1 + 960, t1 + 1920},
		},
		{
			name: "wrap", seqs: []uint16{65534, 65535, 0, 1}, tss: []uint32{0xFFFFF880, 0xFFFFFC40, 0, 960},
			wantSN: []uint64{c1 + 65534, c1 + 65535, 2 * c1, 2*c1 + 1},
			wantTS: []uint64{t1 + 0xFFFFF880, t1 + 0xFFFFFC40, 2 * t1, 2*t1 + 960},
		},
		{
			name: "reorder_across_wrap", seqs: []uint16{65535, 1, 0, 65534}, tss: []uint32{0xFFFFFC40, 960, 0, 0xFFFFF880},
			wantSN: []uint64{c1 + 65535, 2*c1 + 1, 2 * c1, c1 + 65534},
			wantTS: []uint64{t1 + 0xFFFFFC40, 2*t1 + 960, 2 * t1, t1 + 0xFFFFF880},
		},
		{
			name: "late_before_first", seqs: []uint16{0, 65535, 1}, tss: []uint32{0, 0xFFFFFC40, 960},
			wantSN: []uint64{c1, c1 - 1, c1 + 1}, wantTS: []uint64{t1, t1 - 960, t1 + 960},
		},
		{
			name: "gap_just_under_half", seqs: []uint16{0, 32767, 65534}, tss: []uint32{0, 0x7FFFFFFF, 0xFFFFFFFE},
			wantSN: []uint64{c1, c1 + 32767, c1 + 65534}, wantTS: []uint64{t1, t1 + 0x7FFFFFFF, t1 + 0xFFFFFFFE},
		},
		{
			name: "many_wraps", seqs: []uint16{0, 30000, 60000, 24464, 54464, 18928}, tss: []uint32{0, 0, 0, 0, 0, 0},
			wantSN: []uint64{c1, c1 + 30000, c1 + 60000, 2*c1 + 24464, 2*c1 + 54464, 3*c1 + 18928},
			wantTS: []uint64{t1, t1, t1, t1, t1, t1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var u Unwrapper
			if _, _, ok := u.Highest(); ok {
				t.Fatal("Highest before first packet")
			}
			for i := range tt.seqs {
				sn, ts := u.Unwrap(tt.seqs[i], tt.tss[i])
				if sn != tt.wantSN[i] || ts != tt.wantTS[i] {
					t.Fatalf("packet %d (%d, %d): got (%d, %d), want (%d, %d)", i, tt.seqs[i], tt.tss[i], sn, ts, tt.wantSN[i], tt.wantTS[i])
				}
				if uint16(sn) != tt.seqs[i] || uint32(ts) != tt.tss[i] {
					t.Fatal("low bits differ from the wire value")
				}
			}
			u.Reset()
			if sn, _ := u.Unwrap(7, 7); sn != c1+7 {
				t.Fatalf("after Reset: %d", sn)
			}
		})
	}
}

func FuzzUnwrapper(f *testing.F) {
	f.Add([]byte{0xFF, 0xFF, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		// Any SN within 2^15-1 of the highest seen must unwrap to exactly
		// the value the fuzzer walked to.
		var u Unwrapper
		want := int64(1<<16 + 1000)
		highest := want
		u.Unwrap(uint16(want), 0)
		for i := 0; i+1 < len(b); i += 2 {
			d := int64(int16(uint16(b[i])<<8 | uint16(b[i+1])))
			if want+d <= highest-1<<15 || want+d >= highest+1<<15 || want+d < 0 {
				continue
			}
			want += d
			highest = max(highest, want)
			sn, _ := u.Unwrap(uint16(want), 0)
			if int64(sn) != want {
				t.Fatalf("step %d: got %d, want %d", i/2, sn, want)
			}
		}
	})
}
