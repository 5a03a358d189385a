package dave

import (
	"slices"
	"sync"
	"time"
)

// Hold defaults (see FrameSession.Decrypt): enough for a sender that
// switched keys a few hundred milliseconds before this client installed
// the new one (20 ms Opus frames), bounded in memory.
const (
	DefaultHoldFrames = 16
	DefaultHoldBytes  = 256 << 10
	DefaultHoldTime   = 250 * time.Millisecond
	// Across all senders (WithHoldTotal): sixteen senders' full holds of
	// Opus, or four of video; a server inventing senders gets no more.
	DefaultHoldTotalFrames = 256
	DefaultHoldTotalBytes  = 1 << 20
)

// FrameStats are a FrameSession's counters.
type FrameStats struct {
	// Encrypt counts this client's frames; Decrypt sums its receivers
	// (a held frame retried after a key change counts its attempts
	// again; receivers of users who left stay counted).
	Encrypt EncryptorStats `json:"encrypt"`
	Decrypt DecryptorStats `json:"decrypt"`
	// Unkeyed counts non-DAVE frames passed from senders this session
	// has no key for (no DAVE from them yet).
	Unkeyed uint64 `json:"unkeyed"`
	// Held counts DAVE frames no current key opened, held for a key;
	// Released those of them decrypted after a key change.
	Held     uint64 `json:"held"`
	Released uint64 `json:"released"`
	// Held frames dropped: Expired (the hold time was over), Overtaken (a
	// later frame of the sender opened with a current key or was
	// transport-only), Overflow (the sender's hold was full), Capped (the
	// session's hold across all senders was full, WithHoldTotal). Why no
	// key opened them is in Decrypt (AuthFailures, Replays, Generation).
	Expired   uint64 `json:"expired"`
	Overtaken uint64 `json:"overtaken"`
	Overflow  uint64 `json:"overflow"`
	Capped    uint64 `json:"capped"`
	// Undecryptable counts the dropped held frames of senders this
	// session had no key for at all.
	Undecryptable uint64 `json:"undecryptable"`
	// Discarded counts the held frames Discard dropped.
	Discarded uint64 `json:"discarded"`
	// Dropped counts every emit with ok=false (held frames dropped, and
	// transport-only frames refused: Decrypt.Unencrypted).
	Dropped uint64 `json:"dropped"`
	// Holding is the number of frames held now (awaiting their emit);
	// HoldingBytes the bytes of those still waiting for a key.
	Holding      int `json:"holding"`
	HoldingBytes int `json:"holding_bytes"`
}

// FrameSessionOption configures a FrameSession.
type FrameSessionOption func(*FrameSession)

// WithFrameClock sets the clock (key and passthrough expiry, hold time).
// Default time.Now.
func WithFrameClock(now func() time.Time) FrameSessionOption {
	return func(s *FrameSession) { s.now = now }
}

// WithHold bounds the frames held per sender (see Decrypt): at most frames
// frames of at most bytes bytes in all, each for at most d. frames 0
// disables holding (frames no key opens are dropped at once).
func WithHold(frames, bytes int, d time.Duration) FrameSessionOption {
	return func(s *FrameSession) { s.holdFrames, s.holdBytes, s.holdTime = max(frames, 0), max(bytes, 0), d }
}

// WithHoldTotal bounds the frames held across all senders: at most frames
// frames of at most bytes bytes waiting for a key, however many senders
// (see Decrypt: the oldest are dropped). Defaults DefaultHoldTotalFrames
// and DefaultHoldTotalBytes.
func WithHoldTotal(frames, bytes int) FrameSessionOption {
	return func(s *FrameSession) { s.totalFrames, s.totalBytes = max(frames, 0), max(bytes, 0) }
}

// FrameSession is the media side of a DAVE client: this client's
// [Encryptor] and a [Decryptor] per sender, fed by a [Participant]
// through the [KeySink] methods. Its mutex is held only for one frame's
// crypto (or, after a key change, a sender's few held frames), never
// during MLS work, and never while emitting. No goroutines; the clock is
// injected.
//
// Encrypt, the KeySink methods and Stats may be called from any goroutine.
// Decrypt, Flush and Expire are serialised among themselves (one media
// reader at a time; a second waits) and must not be called from their
// emit.
type FrameSession struct {
	now                     func() time.Time
	holdFrames, holdBytes   int
	holdTime                time.Duration
	totalFrames, totalBytes int

	// dmu serialises Decrypt, Flush and Expire (held across emit); it owns
	// the emit buffers.
	dmu   sync.Mutex
	res   []result // +checklocks:dmu
	plain []byte   // +checklocks:dmu
	users []uint64 // +checklocks:dmu (Expire's)

	mu          sync.Mutex // guards all following fields
	version     uint16
	passthrough bool // new receivers accept transport-only frames
	enc         *Encryptor
	sendKey     bool // enc holds the current group's key
	recv        map[uint64]*receiver
	retired     DecryptorStats // receivers dropped by SetMembers
	stats       FrameStats     // hold and drop counters
	// heldFrames and heldBytes sum the receivers' pending and bytes.
	heldFrames, heldBytes int
}

// NewFrameSession returns a session at protocol version 0 with no keys.
func NewFrameSession(opts ...FrameSessionOption) *FrameSession {
	s := &FrameSession{now: time.Now, holdFrames: DefaultHoldFrames, holdBytes: DefaultHoldBytes,
		holdTime: DefaultHoldTime, totalFrames: DefaultHoldTotalFrames, totalBytes: DefaultHoldTotalBytes, enc: NewEncryptor(), recv: map[uint64]*receiver{}}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Encrypt returns frame as it goes out, encoded with codec. SendPlain: out
// is frame itself (protocol version 0, the Opus silence frame, or alone
// without a sender key). SendEncrypted: out is the DAVE frame appended to
// dst (dst must not overlap frame), or err. SendWait: protocol version 1
// without a sender key yet (joining, re-creating the group, recovering):
// no receiver could use the frame; out is nil and the caller waits for the
// next key change or drops the frame.
func (s *FrameSession) Encrypt(dst []byte, codec Codec, frame []byte, alone bool) (out []byte, st SendStatus, err error) {
	if (codec == CodecOpus || codec == CodecUnknown) && IsOpusSilence(frame) {
		return frame, SendPlain, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.version == 0 || !s.sendKey && alone:
		return frame, SendPlain, nil
	case s.sendKey:
		out, err = s.enc.EncryptCodec(dst, codec, frame)
		return out, SendEncrypted, err
	}
	return nil, SendWait, nil
}

// CanSend reports whether Encrypt would not answer SendWait now.
func (s *FrameSession) CanSend(alone bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.version == 0 || s.sendKey || alone
}

// Stats returns the counters.
func (s *FrameSession) Stats() FrameStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Encrypt = s.enc.Stats()
	st.Decrypt = s.retired
	st.Holding, st.HoldingBytes = 0, s.heldBytes
	for _, r := range s.recv {
		if r.dec != nil {
			addDecryptorStats(&st.Decrypt, r.dec.Stats())
		}
		st.Holding += len(r.held)
	}
	return st
}

func addDecryptorStats(a *DecryptorStats, s DecryptorStats) {
	a.Decrypted += s.Decrypted
	a.Passthrough += s.Passthrough
	a.Silence += s.Silence
	a.Attempts += s.Attempts
	a.Unencrypted += s.Unencrypted
	a.NoKey += s.NoKey
	a.AuthFailures += s.AuthFailures
	a.Replays += s.Replays
	a.Generation += s.Generation
}

// SetProtocolVersion implements KeySink.
func (s *FrameSession) SetProtocolVersion(v uint16) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.version = v
}

// SetSenderKey implements KeySink. A base secret of the wrong size counts
// as none.
func (s *FrameSession) SetSenderKey(base []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sendKey = false
	if base == nil {
		return
	}
	r, err := NewKeyRatchet(base)
	if err != nil {
		return
	}
	s.enc.SetKeyRatchet(r)
	s.sendKey = true
}

// SetReceiverKey implements KeySink. Frames held for user are retried by
// its next Decrypt (or Flush).
func (s *FrameSession) SetReceiverKey(user uint64, base []byte, fresh bool) {
	kr, err := NewKeyRatchet(base)
	if err != nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.recv[user]
	if r == nil {
		r = &receiver{}
		s.recv[user] = r
	}
	if r.dec == nil {
		r.dec = NewDecryptor(WithClock(s.now))
		switch {
		case s.passthrough || s.version == 0:
			r.dec.SetPassthrough(true, 0)
		case fresh: // members may still send transport-only frames for a moment
			r.dec.SetPassthrough(true, 0)
			r.dec.SetPassthrough(false, TransitionExpiry)
		}
	}
	r.dec.TransitionToKeyRatchet(kr)
	r.keys++
}

// SetMembers implements KeySink: the receivers of users not in users are
// dropped (frames they still hold are emitted by their next Decrypt, Flush
// or Expire).
func (s *FrameSession) SetMembers(users []uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for u, r := range s.recv {
		if slices.Contains(users, u) {
			continue
		}
		if r.dec != nil {
			addDecryptorStats(&s.retired, r.dec.Stats())
			r.dec = nil
		}
		if len(r.held) == 0 {
			delete(s.recv, u)
		}
	}
}

// SetPassthrough implements KeySink.
func (s *FrameSession) SetPassthrough(on bool, expiry time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.passthrough = on
	for _, r := range s.recv {
		if r.dec != nil {
			r.dec.SetPassthrough(on, expiry)
		}
	}
}
