package service

import (
	"context"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// hasher runs the password hashing (PBKDF2, deliberately expensive) with
// at most Config.PasswordHashers at once, and lets at most
// Config.PasswordQueue callers wait for a slot, each at most
// Config.PasswordWait; the others get ErrBusy at once. So logins and
// registrations, however many arrive, take at most that many cores and
// leave the rest to everything else.
type hasher struct {
	slots   chan struct{}
	queue   int64
	maxWait time.Duration

	waiting atomic.Int64
	// inUse is the slots taken; maxInUse the most ever taken at once, and
	// done the hashes run (tests, diagnostics).
	inUse, maxInUse, done atomic.Int64
}

func newHasher(slots, queue int, maxWait time.Duration) *hasher {
	return &hasher{slots: make(chan struct{}, slots), queue: int64(queue), maxWait: maxWait}
}

// do runs f in a slot, or returns ErrBusy: no slot within maxWait, too
// many waiting already, or ctx ended.
func (h *hasher) do(ctx context.Context, f func()) error {
	select {
	case h.slots <- struct{}{}:
	default:
		if h.waiting.Add(1) > h.queue {
			h.waiting.Add(-1)
			return ErrBusy
		}
		t := time.NewTimer(h.maxWait)
		select {
		case h.slots <- struct{}{}:
			t.Stop()
			h.waiting.Add(-1)
		case <-t.C:
			h.waiting.Add(-1)
			return ErrBusy
		case <-ctx.Done():
			t.Stop()
			h.waiting.Add(-1)
			return ErrBusy
		}
	}
	n := h.inUse.Add(1)
	for m := h.maxInUse.Load(); n > m && !h.maxInUse.CompareAndSwap(m, n); m = h.maxInUse.Load() {
	}
	defer func() {
		h.inUse.Add(-1)
		h.done.Add(1)
		<-h.slots
	}()
	f()
	return nil
}

// dummyHash is a stored hash no password matches, at cost iter: a login
// for a name without a password (no such user, a bot) checks against it,
// so it costs what a real check costs and its time tells nothing.
func dummyHash(iter int) string {
	return "pbkdf2-sha256$" + strconv.Itoa(iter) + "$" + strings.Repeat("00", 16) + "$" + strings.Repeat("00", 32)
}
