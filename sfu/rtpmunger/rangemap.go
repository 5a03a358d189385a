package rtpmunger

// MaxRanges is the capacity of the range map. Each Drop that follows a
// forwarded packet closes one range; consecutive drops share one. When the
// map is full the oldest range is evicted and its late packets are dropped
// with ErrCacheMiss.
const MaxRanges = 128

// span maps incoming extended SNs [start, end] to out = in - off. The
// newest span is open: its end is unset until an exclusion closes it.
type span struct {
	start, end, off uint64
}

// rangeMap is a fixed-capacity ring of spans in increasing SN order, after
// livekit/livekit pkg/sfu/utils/rangemap.go, without allocation. The SNs
// between two spans are the excluded (deliberately dropped) ones: the
// offset grows by their count, so outgoing SNs stay contiguous.
type rangeMap struct {
	spans [MaxRanges]span
	head  int // index of the oldest span
	n     int // number of spans, >= 1 once reset
}

func (r *rangeMap) at(i int) *span { return &r.spans[(r.head+i)%MaxRanges] }

// reset leaves one open span starting at start with offset off.
func (r *rangeMap) reset(start, off uint64) {
	r.head, r.n = 0, 1
	r.spans[0] = span{start: start, off: off}
}

// exclude removes sn, which is beyond every SN processed so far, from the
// mapping: the open span ends before it and a new one starts after it with
// the offset one higher. It returns the new offset.
func (r *rangeMap) exclude(sn uint64) uint64 {
	last := r.at(r.n - 1)
	off := last.off + 1
	if last.start == sn {
		// Nothing mapped by the open span yet (consecutive drops): slide it.
		last.start, last.off = sn+1, off
		return off
	}
	last.end = sn - 1
	if r.n == MaxRanges {
		r.head = (r.head + 1) % MaxRanges
		r.n--
	}
	r.n++
	*r.at(r.n - 1) = span{start: sn + 1, off: off}
	return off
}

// lookup returns the offset in force for sn, searching from the newest span
// since late packets are usually recent.
func (r *rangeMap) lookup(sn uint64) (uint64, bool) {
	for i := r.n - 1; i >= 0; i-- {
		s := r.at(i)
		if int64(sn-s.start) >= 0 {
			if i == r.n-1 || int64(s.end-sn) >= 0 {
				return s.off, true
			}
			return 0, false // excluded
		}
	}
	return 0, false
}
