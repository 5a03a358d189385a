package gatewaybench

import (
	"math"
	"sync/atomic"
)

// hist is a lock-free log-bucketed latency histogram (microseconds, ~5%
// resolution from 1 µs to ~100 s).
type hist struct {
	b [400]atomic.Int64
}

const histBase = 1.05

func histIndex(us float64) int {
	if us < 1 {
		return 0
	}
	i := int(math.Log(us)/math.Log(histBase)) + 1
	return min(i, 399)
}

func (h *hist) add(us float64) { h.b[histIndex(us)].Add(1) }

func (h *hist) reset() {
	for i := range h.b {
		h.b[i].Store(0)
	}
}

// quantile returns the upper bound (µs) of the bucket holding quantile q.
func (h *hist) quantile(q float64) float64 {
	var total int64
	for i := range h.b {
		total += h.b[i].Load()
	}
	if total == 0 {
		return 0
	}
	want := int64(math.Ceil(q * float64(total)))
	var n int64
	for i := range h.b {
		n += h.b[i].Load()
		if n >= want {
			return math.Pow(histBase, float64(i))
		}
	}
	return math.Pow(histBase, 399)
}
