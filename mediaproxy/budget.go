package mediaproxy

import (
	"errors"
	"fmt"
	"io"
	"sync/atomic"
)

// byteBudget bounds the bytes of bodies held in memory at once: uploads
// being read, fetched originals and attachment sources being processed.
// A request reserves its share before it reads the bytes (the declared
// length up front, or chunk by chunk when the length is unknown) and never
// waits for room: one that does not fit fails with ErrOverloaded (503
// with Retry-After), counted in parley_media_body_budget_rejects_total.
type byteBudget struct {
	limit   int64
	used    atomic.Int64
	rejects atomic.Int64
}

func newByteBudget(limit int64) *byteBudget { return &byteBudget{limit: limit} }

// tryTake reserves n bytes if they fit.
func (b *byteBudget) tryTake(n int64) bool {
	for {
		cur := b.used.Load()
		if cur+n > b.limit {
			b.rejects.Add(1)
			return false
		}
		if b.used.CompareAndSwap(cur, cur+n) {
			return true
		}
	}
}

// InFlight is the number of bytes reserved now.
func (b *byteBudget) InFlight() int64 { return b.used.Load() }

// reservation is one request's share of a byteBudget. It is used by one
// goroutine; release returns everything it holds.
type reservation struct {
	b *byteBudget
	n int64
}

// growTo makes the reservation at least n bytes. A nil reservation has
// no budget and always grows.
func (r *reservation) growTo(n int64) error {
	if r == nil || n <= r.n {
		return nil
	}
	if !r.b.tryTake(n - r.n) {
		return fmt.Errorf("%w: body budget full (%d of %d bytes in flight)", ErrOverloaded, r.b.used.Load(), r.b.limit)
	}
	r.n = n
	return nil
}

// release gives the reserved bytes back; the reservation may grow again.
func (r *reservation) release() {
	if r != nil && r.n > 0 {
		r.b.used.Add(-r.n)
		r.n = 0
	}
}

// firstChunk is how much a body of unknown length reserves and reads
// first; each later step doubles what is held.
const firstChunk = 64 << 10

// errShortBody means the body ended before its declared length.
var errShortBody = errors.New("mediaproxy: body shorter than its declared length")

// readBody reads a body of declared length (-1 when unknown) of at most
// limit bytes, reserving from res (nil: no budget) before each allocation,
// so that no byte is buffered that the budget has not admitted.
//
// A declared length over limit is ErrTooLarge before anything is read or
// reserved; otherwise exactly declared bytes are reserved and read
// (errShortBody if the body ends first; bytes after them are left
// unread). An unknown length is read to EOF into a buffer that starts at
// firstChunk and doubles, never past limit+1 bytes: one byte over limit
// tells a body over it (ErrTooLarge). So the reservation never exceeds
// limit+1. ErrOverloaded means the budget had no room for the next
// step; the reader's other errors are returned as they are. The result is
// a prefix of the body. FuzzReadBody checks all of this.
func readBody(r io.Reader, declared, limit int64, res *reservation) ([]byte, error) {
	if declared > limit {
		return nil, fmt.Errorf("%w: body declares %d bytes, over %d", ErrTooLarge, declared, limit)
	}
	if declared >= 0 {
		if err := res.growTo(declared); err != nil {
			return nil, err
		}
		buf := make([]byte, declared)
		if _, err := io.ReadFull(r, buf); err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
				return nil, errShortBody
			}
			return nil, err
		}
		return buf, nil
	}
	// Unknown length: one byte more than limit tells a body over it.
	var buf []byte
	for {
		if len(buf) == cap(buf) {
			if int64(len(buf)) > limit {
				return nil, fmt.Errorf("%w: body over %d bytes", ErrTooLarge, limit)
			}
			next := min(max(2*int64(cap(buf)), firstChunk), limit+1)
			if err := res.growTo(next); err != nil {
				return nil, err
			}
			nb := make([]byte, len(buf), next)
			copy(nb, buf)
			buf = nb
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if errors.Is(err, io.EOF) {
			if int64(len(buf)) > limit {
				return nil, fmt.Errorf("%w: body over %d bytes", ErrTooLarge, limit)
			}
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}
