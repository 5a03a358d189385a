package voicebench

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestHistIndexContiguous(t *testing.T) {
	prev := -1
	for _, v := range []uint64{0, 1, 63, 64, 127, 128, 129, 255, 256, 1000, 1 << 20, 1<<40 + 12345, math.MaxInt64} {
		i := histIndex(v)
		if i < prev || i >= histBuckets {
			t.Fatalf("histIndex(%d) = %d (prev %d)", v, i, prev)
		}
		if lo, hi := histLow(i), histHigh(i); v < lo || v > hi {
			t.Fatalf("value %d outside its bucket %d [%d, %d]", v, i, lo, hi)
		}
		prev = i
	}
	// Every bucket's low bound maps back to the bucket.
	for i := 0; i < histBuckets; i++ {
		if got := histIndex(histLow(i)); got != i {
			t.Fatalf("histIndex(histLow(%d)) = %d", i, got)
		}
	}
}

func TestHistogramQuantiles(t *testing.T) {
	tests := []struct {
		name   string
		values func() []int64
	}{
		{"uniform", func() []int64 {
			v := make([]int64, 100000)
			for i := range v {
				v[i] = rand.Int64N(2_000_000)
			}
			return v
		}},
		{"long tail", func() []int64 {
			v := make([]int64, 50000)
			for i := range v {
				v[i] = int64(rand.ExpFloat64() * 40_000)
			}
			return v
		}},
		{"single", func() []int64 { return []int64{12345} }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			vals := tc.values()
			var a, b histogram
			for i, v := range vals {
				if i%2 == 0 {
					a.add(v)
				} else {
					b.add(v)
				}
			}
			a.merge(&b)
			slices.Sort(vals)
			for _, q := range []float64{0.5, 0.99, 0.999, 1} {
				idx := int(math.Ceil(q*float64(len(vals)))) - 1
				want := float64(vals[max(idx, 0)])
				got := a.quantile(q)
				if math.Abs(got-want) > want*0.02+1 {
					t.Errorf("q%.3f = %.0f, want %.0f ±2%%", q, got, want)
				}
			}
		})
	}
	var empty histogram
	if !math.IsNaN(empty.quantile(0.5)) {
		t.Fatal("empty histogram quantile is not NaN")
	}
}
