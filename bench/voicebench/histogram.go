package voicebench

import (
	"math"
	"math/bits"
)

// histSubBits sets the histogram's precision: 2^histSubBits sub-buckets per
// power of two, i.e. values are kept within 1/64 (1.6%) of their true value.
const (
	histSubBits  = 6
	histSub      = 1 << histSubBits
	histBuckets  = (64-histSubBits)*histSub + histSub
	histExactMax = 2 * histSub // values below this have their own bucket
)

// histogram is a log-linear histogram of non-negative int64 values (ns), in
// the style of HdrHistogram. It is owned by one goroutine; merge combines.
type histogram struct {
	counts [histBuckets]uint64
	n      uint64
	max    int64
}

func histIndex(v uint64) int {
	if v < histExactMax {
		return int(v)
	}
	e := bits.Len64(v) - (histSubBits + 1) // v>>e is in [histSub, 2*histSub)
	return e*histSub + int(v>>e)
}

// histLow is the smallest value of bucket i; histHigh the largest.
func histLow(i int) uint64 {
	if i < histExactMax {
		return uint64(i)
	}
	e := i/histSub - 1
	return uint64(i%histSub+histSub) << e
}

func histHigh(i int) uint64 {
	if i < histExactMax {
		return uint64(i)
	}
	e := i/histSub - 1
	return histLow(i) + (uint64(1) << e) - 1
}

// add records v; negative values (clock steps) count as 0.
func (h *histogram) add(v int64) {
	if v < 0 {
		v = 0
	}
	h.counts[histIndex(uint64(v))]++
	h.n++
	if v > h.max {
		h.max = v
	}
}

func (h *histogram) merge(o *histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.max = max(h.max, o.max)
}

// quantile returns the value at quantile q in [0, 1] (the midpoint of its
// bucket, capped at the maximum seen), or NaN when empty.
func (h *histogram) quantile(q float64) float64 {
	if h.n == 0 {
		return math.NaN()
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = max(rank, 1)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			mid := float64(histLow(i)+histHigh(i)) / 2
			return math.Min(mid, float64(h.max))
		}
	}
	return float64(h.max)
}
