package dave

import (
	"bytes"
	"slices"
	"time"
)

// receiver is one sender's side of a FrameSession: its Decryptor and the
// frames held for a key (guarded by FrameSession.mu).
type receiver struct {
	dec   *Decryptor // nil: no key for this sender (not yet, or it left)
	keys  uint64     // SetReceiverKey calls; held frames are retried when it moves
	tried uint64     // keys when the held frames were last tried
	held  []heldFrame
	bytes int // len of the held frames' copies
	// pending counts the held frames still waiting for a key (not
	// resolved): the ones the session-wide bounds count (WithHoldTotal).
	pending int
}

// heldFrame is a frame waiting in a sender's hold queue: a DAVE frame no
// current key opened (pending), or one that came after such a frame and
// waits for its turn (resolved), or a pending one the session-wide bound
// dropped (resolved, not ok, frame nil), emitted at the sender's next
// Decrypt, Flush or Expire.
type heldFrame struct {
	frame    []byte // owned copy (pending), or the plaintext (resolved)
	at       time.Time
	resolved bool
	ok       bool
	silence  bool // the Opus silence frame (never overtakes)
	keyed    bool // a key existed when it was last tried
}

// result is one emit.
type result struct {
	plain []byte
	ok    bool
}

// opusSilence is the Opus silence frame F8 FF FE.
var opusSilence = []byte{0xF8, 0xFF, 0xFE}

// Decrypt passes the frames of user, in the order they arrive, to emit:
// exactly one emit per frame, in order (held frames before the current
// one). ok=true with the plaintext (the Opus, the silence frame, or a
// transport-only frame while passthrough allows it, or from a sender this
// session has no key for); ok=false when the frame is dropped (counted in
// Stats). plain is valid only during the emit.
//
// A DAVE frame that no current key opens is HELD rather than dropped:
// davey (discord.js) switches its sender key when it processes a commit,
// before this client may have processed it, and a new member's frames can
// arrive before its Welcome's commit is processed here. When SetReceiverKey
// has installed a new key for user, its next Decrypt (or Flush) retries the
// held frames in order first. A held frame is dropped when a later frame of
// the same sender opens with a current key or is transport-only
// (overtaken), when its hold time is over (expired), or when the sender's
// hold is full (overflow); see WithHold. The silence frame never overtakes:
// it waits behind held frames.
//
// The frames held across all senders are bounded too (WithHoldTotal): when
// holding a frame passes the bound, the oldest held frames of any sender
// are dropped (Stats.Capped) and freed at once; each is still emitted, as
// dropped and in its place, by its sender's next Decrypt, Flush or Expire.
// Expire reaches senders that went quiet.
func (s *FrameSession) Decrypt(user uint64, frame []byte, emit func(plain []byte, ok bool)) {
	s.dmu.Lock()
	defer s.dmu.Unlock()
	s.processLocked(user, frame, true, nil)
	for _, r := range s.res {
		emit(r.plain, r.ok)
	}
}

// Flush emits what is held for user that can go now: held frames a key
// installed since opens, and the dropped (ok=false) ones whose hold time
// is over, or the session-wide bound dropped. For a sender that went
// quiet; it never drops a frame early.
func (s *FrameSession) Flush(user uint64, emit func(plain []byte, ok bool)) {
	s.dmu.Lock()
	defer s.dmu.Unlock()
	s.processLocked(user, nil, false, nil)
	for _, r := range s.res {
		emit(r.plain, r.ok)
	}
}

// Expire is Flush for every sender with held frames, in user order: emit
// gets the user of each emit. A media reader calls it now and then (every
// hold time or so) so that the frames of senders that went quiet, or left,
// are released or dropped and their memory freed rather than kept until
// the sender's next frame. It costs a look at each sender when nothing is
// held.
func (s *FrameSession) Expire(emit func(user uint64, plain []byte, ok bool)) {
	s.dmu.Lock()
	defer s.dmu.Unlock()
	s.mu.Lock()
	s.users = s.users[:0]
	for u, r := range s.recv {
		if len(r.held) > 0 {
			s.users = append(s.users, u)
		}
	}
	s.mu.Unlock()
	slices.Sort(s.users)
	for _, u := range s.users {
		s.processLocked(u, nil, false, nil)
		for _, r := range s.res {
			emit(u, r.plain, r.ok)
		}
	}
}

// Discard emits every frame held for user as dropped (ok=false), in
// order, and forgets them (counted in Stats.Discarded and Dropped): for a
// caller that can no longer trust the session's hold for user, such as
// the browser's module after it recovered from a panic in a Decrypt, so
// that its count of frames awaiting an emit stays the session's.
func (s *FrameSession) Discard(user uint64, emit func(plain []byte, ok bool)) {
	s.dmu.Lock()
	defer s.dmu.Unlock()
	n := s.discard(user)
	for range n {
		emit(nil, false)
	}
}

func (s *FrameSession) discard(user uint64) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.recv[user]
	if r == nil {
		return 0
	}
	n := len(r.held)
	s.stats.Discarded += uint64(n)
	s.stats.Dropped += uint64(n)
	s.heldFrames -= r.pending
	s.heldBytes -= r.bytes
	r.held, r.bytes, r.pending = nil, 0, 0
	if r.dec == nil {
		delete(s.recv, user)
	}
	return n
}

// processLocked is process under mu, released even if process panics
// (the browser's module recovers from a panic and goes on).
func (s *FrameSession) processLocked(user uint64, frame []byte, cur bool, open openFunc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.process(user, frame, cur, open)
}

// openFunc opens a DAVE frame with a receiver's Decryptor:
// (*Decryptor).Decrypt, or the end of a split open (FinishOpen).
type openFunc func(d *Decryptor, dst, frame []byte) ([]byte, error)

// process fills s.res with the emits for user's held frames and, when cur,
// frame, which open (nil: Decrypt) opens. Callers hold dmu and mu.
func (s *FrameSession) process(user uint64, frame []byte, cur bool, open openFunc) {
	s.res = s.res[:0]
	r := s.recv[user]
	if r == nil {
		if !cur {
			return
		}
		if plain, ok, done := s.now1(nil, frame, nil); done {
			s.emit(plain, ok)
			return
		}
		r = &receiver{}
		s.recv[user] = r
	}
	now := s.now()
	q := r.held
	// A key installed since the held frames were tried: retry them, oldest
	// first (the replay window moves forward).
	if len(q) > 0 && r.dec != nil && r.keys != r.tried {
		for i := range q {
			if h := &q[i]; !h.resolved {
				h.keyed = true
				if plain, err := r.dec.Decrypt(nil, h.frame); err == nil {
					s.unhold(r, len(h.frame))
					h.frame, h.resolved, h.ok = plain, true, true
					s.stats.Released++
				}
			}
		}
	}
	r.tried = r.keys
	overtake := -1 // pending frames before this index are dropped
	for i := range q {
		if q[i].resolved && q[i].ok && !q[i].silence {
			overtake = i
		}
	}
	var curPlain []byte
	curOK, curDone := false, false
	if cur {
		if IsOpusSilence(frame) {
			q = append(q, heldFrame{frame: opusSilence, at: now, resolved: true, ok: true, silence: true})
		} else if curPlain, curOK, curDone = s.now1(r, frame, open); curDone {
			overtake = len(q) // everything held goes first
		} else {
			q = append(q, heldFrame{frame: bytes.Clone(frame), at: now, keyed: r.dec != nil})
			s.hold(r, len(frame))
			s.stats.Held++
		}
	}
	// Emit in order what can go: resolved frames, pending ones overtaken
	// or expired, then the overflow.
	i := 0
	for ; i < len(q); i++ {
		h := &q[i]
		switch {
		case h.resolved:
			s.emit(h.frame, h.ok)
			continue
		case i < overtake:
			s.drop(r, h, &s.stats.Overtaken)
			continue
		case now.Sub(h.at) >= s.holdTime:
			s.drop(r, h, &s.stats.Expired)
			continue
		}
		break
	}
	for i < len(q) && (len(q)-i > s.holdFrames || r.bytes > s.holdBytes) {
		s.drop(r, &q[i], &s.stats.Overflow) // q[i] is pending
		for i++; i < len(q) && q[i].resolved; i++ {
			s.emit(q[i].frame, q[i].ok)
		}
	}
	if curDone {
		s.emit(curPlain, curOK)
	}
	r.held = compact(q, i)
	if s.heldFrames > s.totalFrames || s.heldBytes > s.totalBytes {
		// Only a hold passes the bounds, so no current frame was emitted
		// above: this sender's frames the bound dropped go out now, in
		// order.
		s.capHold()
		i = 0
		for ; i < len(r.held) && r.held[i].resolved; i++ {
			s.emit(r.held[i].frame, r.held[i].ok)
		}
		r.held = compact(r.held, i)
	}
	if len(r.held) == 0 && r.dec == nil {
		delete(s.recv, user)
	}
}

// compact returns q without its first i frames, in q's array (the rest
// cleared, so no copy stays reachable).
func compact(q []heldFrame, i int) []heldFrame {
	if i == 0 {
		return q
	}
	n := copy(q, q[i:])
	clear(q[n:])
	return q[:n]
}

// capHold drops the oldest pending held frames of any sender (the oldest
// first, the lower user on a tie) while the session holds more than
// WithHoldTotal allows. A dropped frame is freed at once and stays in its
// sender's queue as a stub (resolved, not ok) so that its emit keeps its
// place. It scans the senders once per frame it drops. Callers hold mu.
func (s *FrameSession) capHold() {
	for s.heldFrames > s.totalFrames || s.heldBytes > s.totalBytes {
		var victim *heldFrame
		var vr *receiver
		var vu uint64
		for u, r := range s.recv {
			if r.pending == 0 {
				continue
			}
			for j := range r.held {
				if h := &r.held[j]; !h.resolved {
					if victim == nil || h.at.Before(victim.at) || h.at.Equal(victim.at) && u < vu {
						victim, vr, vu = h, r, u
					}
					break
				}
			}
		}
		if victim == nil {
			return // the counts say otherwise; never loop
		}
		s.stats.Capped++
		if !victim.keyed {
			s.stats.Undecryptable++
		}
		s.unhold(vr, len(victim.frame))
		victim.frame, victim.resolved, victim.ok = nil, true, false
	}
}

// hold counts a pending frame of n bytes held for r.
func (s *FrameSession) hold(r *receiver, n int) {
	r.bytes += n
	r.pending++
	s.heldBytes += n
	s.heldFrames++
}

// unhold counts a pending frame of n bytes of r no longer pending.
func (s *FrameSession) unhold(r *receiver, n int) {
	r.bytes -= n
	r.pending--
	s.heldBytes -= n
	s.heldFrames--
}

// now1 handles frame from r (nil: no key) without its hold queue, opening
// it with open (nil: Decrypt): done with the plaintext and ok, or not done
// (a DAVE frame no current key opens).
func (s *FrameSession) now1(r *receiver, frame []byte, open openFunc) (plain []byte, ok, done bool) {
	if IsOpusSilence(frame) {
		return frame, true, true
	}
	if r == nil || r.dec == nil {
		if IsProtocolFrame(frame) {
			return nil, false, false
		}
		s.stats.Unkeyed++
		return frame, true, true // no DAVE from this sender (yet)
	}
	if open == nil {
		open = (*Decryptor).Decrypt
	}
	out, err := open(r.dec, s.plain[:0], frame)
	switch err {
	case nil:
		s.plain = out[:0]
		return out, true, true
	case ErrUnencrypted:
		return nil, false, true
	}
	r.tried = r.keys
	return nil, false, false
}

func (s *FrameSession) emit(plain []byte, ok bool) {
	if !ok {
		s.stats.Dropped++
	}
	s.res = append(s.res, result{plain: plain, ok: ok})
}

// drop emits a pending held frame of r as dropped, counted in how.
func (s *FrameSession) drop(r *receiver, h *heldFrame, how *uint64) {
	*how++
	s.unhold(r, len(h.frame))
	if !h.keyed {
		s.stats.Undecryptable++
	}
	s.emit(nil, false)
}
