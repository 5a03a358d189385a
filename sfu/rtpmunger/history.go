package rtpmunger

// HistorySize is how far (in incoming SNs) behind the highest processed
// packet a late packet may arrive and still be forwarded: about 10 s of
// 20 ms audio. Older packets get ErrTooOld.
const HistorySize = 512

// history remembers which of the last HistorySize incoming SNs were
// processed (forwarded or dropped), to reject duplicates of late packets.
type history struct {
	bits [HistorySize / 64]uint64
}

func (h *history) clear() { h.bits = [HistorySize / 64]uint64{} }

func (h *history) test(sn uint64) bool {
	i := sn % HistorySize
	return h.bits[i/64]&(1<<(i%64)) != 0
}

func (h *history) set(sn uint64) {
	i := sn % HistorySize
	h.bits[i/64] |= 1 << (i % 64)
}

// advance forgets the slots of SNs (from, to], which become new.
func (h *history) advance(from, to uint64) {
	if to-from >= HistorySize {
		h.clear()
		return
	}
	for sn := from + 1; sn <= to; sn++ {
		i := sn % HistorySize
		h.bits[i/64] &^= 1 << (i % 64)
	}
}
