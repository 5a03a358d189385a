package rtpmunger

// Unwrapper extends one source's 16-bit RTP sequence numbers and 32-bit
// timestamps to 64 bits (RFC 3550 §A.1 keeps a cycle count for the same
// purpose). Each value is unwrapped against the highest one seen so far by
// its signed distance: a sequence number up to 2^15-1 ahead is newer, up to
// 2^15 behind is an older (reordered) one, so reordering across a wrap
// (65535 → 0, 2^32-1 → 0) is handled. Timestamps are unwrapped the same way
// with a 2^31 horizon (about 12 hours at 48 kHz).
//
// The first packet lands in cycle 1 (extended SN = 2^16 + seq, extended
// TS = 2^32 + ts), so packets that arrive late from before it still get
// positive, correctly ordered values. The low 16 (32) bits of an extended
// value always equal the wire value.
//
// Use one Unwrapper per incoming SSRC at ingress, shared by all receivers;
// a new SSRC needs a new (or Reset) Unwrapper. The zero value is ready. Not
// safe for concurrent use.
type Unwrapper struct {
	sn      uint64 // highest extended SN
	ts      uint64 // highest extended TS
	started bool
}

// Unwrap returns the extended sequence number and timestamp of a packet.
func (u *Unwrapper) Unwrap(seq uint16, ts uint32) (extSN, extTS uint64) {
	if !u.started {
		u.started = true
		u.sn = 1<<16 | uint64(seq)
		u.ts = 1<<32 | uint64(ts)
		return u.sn, u.ts
	}
	d := int16(seq - uint16(u.sn))
	extSN = u.sn + uint64(int64(d))
	if d > 0 {
		u.sn = extSN
	}
	dt := int32(ts - uint32(u.ts))
	extTS = u.ts + uint64(int64(dt))
	if dt > 0 {
		u.ts = extTS
	}
	return extSN, extTS
}

// Highest returns the highest extended SN and TS seen, and false before the
// first packet.
func (u *Unwrapper) Highest() (extSN, extTS uint64, ok bool) {
	return u.sn, u.ts, u.started
}

// Reset forgets the source; the next packet starts a new cycle 1.
func (u *Unwrapper) Reset() { *u = Unwrapper{} }
