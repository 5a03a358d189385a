package dave

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// testKey returns a 16-byte base secret numbered k.
func testKey(k byte) []byte { return bytes.Repeat([]byte{k}, KeySize) }

// sender is a remote member's encryptor per key.
type sender struct {
	t   testing.TB
	enc map[byte]*Encryptor
}

func newSender(t testing.TB) *sender { return &sender{t: t, enc: map[byte]*Encryptor{}} }

// frame returns text encrypted under key k (0: text as is).
func (s *sender) frame(k byte, text string) []byte {
	s.t.Helper()
	if k == 0 {
		return []byte(text)
	}
	e := s.enc[k]
	if e == nil {
		r, err := NewKeyRatchet(testKey(k))
		if err != nil {
			s.t.Fatal(err)
		}
		e = NewEncryptor()
		e.SetKeyRatchet(r)
		s.enc[k] = e
	}
	out, err := e.Encrypt(nil, []byte(text))
	if err != nil {
		s.t.Fatal(err)
	}
	return out
}

// harness records a FrameSession's emits as "text" (ok) or "-" (dropped).
type harness struct {
	t   *testing.T
	clk *fakeClock
	fs  *FrameSession
	src *sender
	got []string
	in  int // frames passed
}

func newHarness(t *testing.T, opts ...FrameSessionOption) *harness {
	clk := newFakeClock()
	fs := NewFrameSession(append([]FrameSessionOption{WithFrameClock(clk.Now)}, opts...)...)
	fs.SetProtocolVersion(1)
	return &harness{t: t, clk: clk, fs: fs, src: newSender(t)}
}

func (h *harness) emit(plain []byte, ok bool) {
	if ok {
		h.got = append(h.got, string(plain))
	} else {
		h.got = append(h.got, "-")
	}
}

// send passes frames of user 7 under key k.
func (h *harness) send(k byte, texts ...string) {
	for _, s := range texts {
		h.in++
		h.fs.Decrypt(7, h.src.frame(k, s), h.emit)
	}
}

func (h *harness) raw(frame []byte) {
	h.in++
	h.fs.Decrypt(7, frame, h.emit)
}

func (h *harness) want(emits ...string) {
	h.t.Helper()
	if !slices.Equal(h.got, emits) {
		h.t.Fatalf("emits %q, want %q", h.got, emits)
	}
	h.got = nil
}

var silence = []byte{0xF8, 0xFF, 0xFE}

func TestFrameSessionDecrypt(t *testing.T) {
	tests := []struct {
		name  string
		run   func(h *harness)
		stats FrameStats // the hold counters checked
	}{
		{"steady", func(h *harness) {
			h.fs.SetReceiverKey(7, testKey(1), false)
			h.send(1, "a", "b")
			h.want("a", "b")
		}, FrameStats{}},
		{"sender switched before the key was installed (davey)", func(h *harness) {
			h.fs.SetReceiverKey(7, testKey(1), false)
			h.send(1, "a")
			h.send(2, "b", "c", "d")
			h.want("a")
			h.fs.SetReceiverKey(7, testKey(2), false) // never emits
			h.want()
			h.send(2, "e")
			h.want("b", "c", "d", "e")
			h.send(1, "late under the previous key")
			h.want("late under the previous key")
		}, FrameStats{Held: 3, Released: 3}},
		{"new member before its commit", func(h *harness) {
			h.send(3, "a", "b")
			h.want()
			h.fs.SetReceiverKey(7, testKey(3), false)
			h.send(3, "c")
			h.want("a", "b", "c")
		}, FrameStats{Held: 2, Released: 2}},
		{"hold time over", func(h *harness) {
			h.fs.SetReceiverKey(7, testKey(1), false)
			h.send(2, "a", "b")
			h.clk.Advance(DefaultHoldTime)
			h.send(2, "c")
			h.want("-", "-")
			h.fs.SetReceiverKey(7, testKey(2), false)
			h.send(2, "d")
			h.want("c", "d")
		}, FrameStats{Held: 3, Released: 1, Expired: 2, Dropped: 2}},
		{"overflow drops the oldest", func(h *harness) {
			h.fs.SetReceiverKey(7, testKey(1), false)
			h.send(2, "a", "b", "c", "d")
			h.want("-")
			h.fs.SetReceiverKey(7, testKey(2), false)
			h.send(2, "e")
			h.want("b", "c", "d", "e")
		}, FrameStats{Held: 4, Released: 3, Overflow: 1, Dropped: 1}},
		{"tampered frame overtaken by the next", func(h *harness) {
			h.fs.SetReceiverKey(7, testKey(1), false)
			f := h.src.frame(1, "a")
			f[0] ^= 1
			h.raw(f)
			h.want()
			h.send(1, "b")
			h.want("-", "b")
		}, FrameStats{Held: 1, Overtaken: 1, Dropped: 1}},
		{"replay held then overtaken", func(h *harness) {
			h.fs.SetReceiverKey(7, testKey(1), false)
			f := h.src.frame(1, "a")
			h.raw(f)
			h.raw(f)
			h.send(1, "b")
			h.want("a", "-", "b")
		}, FrameStats{Held: 1, Overtaken: 1, Dropped: 1}},
		{"silence waits behind held frames", func(h *harness) {
			h.fs.SetReceiverKey(7, testKey(1), false)
			h.send(2, "a")
			h.raw(silence)
			h.want()
			h.fs.SetReceiverKey(7, testKey(2), false)
			h.send(2, "b")
			h.want("a", string(silence), "b")
		}, FrameStats{Held: 1, Released: 1}},
		{"transport-only frame overtakes", func(h *harness) {
			h.fs.SetReceiverKey(7, testKey(1), false)
			h.fs.SetPassthrough(true, 0)
			h.send(2, "a")
			h.send(0, "plain")
			h.want("-", "plain")
		}, FrameStats{Held: 1, Overtaken: 1, Dropped: 1}},
		{"transport-only refused", func(h *harness) {
			h.fs.SetReceiverKey(7, testKey(1), false)
			h.send(0, "plain")
			h.want("-")
		}, FrameStats{Dropped: 1}},
		{"fresh group accepts transport-only for a while", func(h *harness) {
			h.fs.SetReceiverKey(7, testKey(1), true)
			h.send(0, "plain")
			h.clk.Advance(TransitionExpiry)
			h.send(0, "too late")
			h.want("plain", "-")
		}, FrameStats{Dropped: 1}},
		{"no key: transport-only passes", func(h *harness) {
			h.send(0, "plain")
			h.raw(silence)
			h.want("plain", string(silence))
		}, FrameStats{Unkeyed: 1}},
		{"never keyed: undecryptable", func(h *harness) {
			h.send(1, "a")
			h.clk.Advance(DefaultHoldTime)
			h.fs.Flush(7, h.emit)
			h.want("-")
		}, FrameStats{Held: 1, Expired: 1, Undecryptable: 1, Dropped: 1}},
		{"flush releases after a key change, never early", func(h *harness) {
			h.fs.SetReceiverKey(7, testKey(1), false)
			h.send(2, "a")
			h.fs.Flush(7, h.emit)
			h.want()
			h.fs.SetReceiverKey(7, testKey(2), false)
			h.fs.Flush(7, h.emit)
			h.want("a")
			h.send(3, "b")
			h.clk.Advance(DefaultHoldTime - time.Millisecond)
			h.fs.Flush(7, h.emit)
			h.want()
			h.clk.Advance(time.Millisecond)
			h.fs.Flush(7, h.emit)
			h.want("-")
		}, FrameStats{Held: 2, Released: 1, Expired: 1, Dropped: 1}},
		{"member left: its held frames still get their emit", func(h *harness) {
			h.fs.SetReceiverKey(7, testKey(1), false)
			h.send(2, "a")
			h.fs.SetMembers([]uint64{1})
			h.send(1, "b") // no key any more: held
			h.clk.Advance(DefaultHoldTime)
			h.fs.Flush(7, h.emit)
			h.want("-", "-")
		}, FrameStats{Held: 2, Expired: 2, Undecryptable: 1, Dropped: 2}},
		{"hold off", func(h *harness) {
			h.fs.SetReceiverKey(7, testKey(1), false)
			h.send(2, "a")
			h.want("-")
		}, FrameStats{Held: 1, Overflow: 1, Dropped: 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var opts []FrameSessionOption
			if tc.name == "hold off" {
				opts = append(opts, WithHold(0, 0, DefaultHoldTime))
			} else if strings.HasPrefix(tc.name, "overflow") {
				opts = append(opts, WithHold(3, DefaultHoldBytes, DefaultHoldTime))
			}
			h := newHarness(t, opts...)
			tc.run(h)
			h.want()
			st := h.fs.Stats()
			got := FrameStats{Unkeyed: st.Unkeyed, Held: st.Held, Released: st.Released, Expired: st.Expired,
				Overtaken: st.Overtaken, Overflow: st.Overflow, Undecryptable: st.Undecryptable, Dropped: st.Dropped}
			if got != tc.stats {
				t.Fatalf("stats %+v\nwant  %+v", got, tc.stats)
			}
			if st.Holding != 0 {
				t.Fatalf("%d frames still held", st.Holding)
			}
		})
	}
}

func TestFrameSessionHoldBytes(t *testing.T) {
	h := newHarness(t, WithHold(DefaultHoldFrames, 100, DefaultHoldTime))
	h.fs.SetReceiverKey(7, testKey(1), false)
	h.send(2, strings.Repeat("a", 60), strings.Repeat("b", 60))
	h.want("-")
	if st := h.fs.Stats(); st.Holding != 1 || st.Overflow != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestFrameSessionEncrypt(t *testing.T) {
	fs := NewFrameSession()
	tests := []struct {
		name    string
		setup   func()
		frame   []byte
		alone   bool
		want    SendStatus
		canSend bool
	}{
		{"version 0", func() {}, []byte("a"), false, SendPlain, true},
		{"version 1 without a key", func() { fs.SetProtocolVersion(1) }, []byte("a"), false, SendWait, false},
		{"alone without a key", func() {}, []byte("a"), true, SendPlain, true},
		{"silence", func() {}, silence, false, SendPlain, false},
		{"with a key", func() { fs.SetSenderKey(testKey(1)) }, []byte("a"), false, SendEncrypted, true},
		{"alone with a key", func() {}, []byte("a"), true, SendEncrypted, true},
		{"key removed (re-init)", func() { fs.SetSenderKey(nil) }, []byte("a"), false, SendWait, false},
		{"bad key size counts as none", func() { fs.SetSenderKey([]byte{1}) }, []byte("a"), false, SendWait, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.setup()
			out, st, err := fs.Encrypt(nil, CodecOpus, tc.frame, tc.alone)
			if err != nil || st != tc.want {
				t.Fatalf("Encrypt: %v %v, want %v", st, err, tc.want)
			}
			if fs.CanSend(tc.alone) != tc.canSend {
				t.Fatalf("CanSend %v", !tc.canSend)
			}
			switch st {
			case SendPlain:
				if !bytes.Equal(out, tc.frame) {
					t.Fatalf("plain %x", out)
				}
			case SendEncrypted:
				rx := NewFrameSession()
				rx.SetReceiverKey(1, testKey(1), false)
				rx.Decrypt(1, out, func(plain []byte, ok bool) {
					if !ok || !bytes.Equal(plain, tc.frame) {
						t.Fatalf("decrypted %x %v", plain, ok)
					}
				})
			}
		})
	}
	if st := fs.Stats().Encrypt; st.Encrypted != 2 {
		t.Fatalf("encrypt stats %+v", st)
	}
	if s := SendStatus(9).String(); s != "send_status(9)" {
		t.Fatal(s)
	}
}

// TestFrameSessionEmitContract drives random operations and checks the
// 1:1 emit contract: every frame passed to Decrypt gets exactly one emit,
// in order, and an ok emit carries that frame's plaintext.
func TestFrameSessionEmitContract(t *testing.T) {
	for seed := range 200 {
		ops := make([]byte, 400)
		x := uint32(seed*2654435761 + 1)
		for i := range ops {
			x ^= x << 13
			x ^= x >> 17
			x ^= x << 5
			ops[i] = byte(x)
		}
		checkEmitContract(t, ops)
	}
}

// FuzzFrameSession checks the emit contract for any operation sequence.
func FuzzFrameSession(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9})
	f.Add([]byte{0x10, 0x21, 0x31, 0x41, 0x02, 0x12, 0x22, 0x05, 0x07, 0x17})
	f.Add(bytes.Repeat([]byte{0x21, 0x11, 0x03}, 30))
	f.Fuzz(func(t *testing.T, ops []byte) {
		if len(ops) > 2000 {
			return
		}
		checkEmitContract(t, ops)
	})
}

// checkEmitContract interprets ops (low 3 bits: operation, next bits: a
// user among 3 and a key among 3) and checks every emit against the frame
// it answers.
func checkEmitContract(t *testing.T, ops []byte) {
	t.Helper()
	clk := newFakeClock()
	fs := NewFrameSession(WithFrameClock(clk.Now), WithHold(4, 1<<10, 100*time.Millisecond), WithHoldTotal(6, 100))
	fs.SetProtocolVersion(1)
	type user struct {
		src  *sender
		want []string // texts of frames not yet emitted; "" for a frame that must not open
		n    int
	}
	users := [3]*user{}
	for i := range users {
		users[i] = &user{src: newSender(t)}
	}
	emitFor := func(u *user, uid int) func([]byte, bool) {
		return func(plain []byte, ok bool) {
			if len(u.want) == 0 {
				t.Fatalf("user %d: emit without a frame", uid)
			}
			w := u.want[0]
			u.want = u.want[1:]
			if ok && string(plain) != w {
				t.Fatalf("user %d: emit %q for frame %q", uid, plain, w)
			}
		}
	}
	frames := 0
	for _, op := range ops {
		uid, k := int(op>>3)%3, byte(op>>5)%3+1
		u := users[uid]
		switch op & 7 {
		case 0, 1, 2: // a frame under key k
			u.n++
			text := fmt.Sprintf("u%d#%d", uid, u.n)
			u.want = append(u.want, text)
			frames++
			fs.Decrypt(uint64(uid), u.src.frame(k, text), emitFor(u, uid))
		case 3: // the silence frame, or a tampered one
			frames++
			if op&0x80 != 0 {
				u.want = append(u.want, string(silence))
				fs.Decrypt(uint64(uid), silence, emitFor(u, uid))
				break
			}
			f := u.src.frame(k, "tampered")
			f[0] ^= 1
			u.want = append(u.want, "")
			fs.Decrypt(uint64(uid), f, emitFor(u, uid))
		case 4:
			fs.SetReceiverKey(uint64(uid), testKey(k), op&0x80 != 0)
		case 5:
			clk.Advance(time.Duration(op>>3) * 5 * time.Millisecond)
		case 6:
			if op&0x80 != 0 {
				fs.Expire(func(uid uint64, plain []byte, ok bool) {
					if uid >= uint64(len(users)) {
						t.Fatalf("Expire: emit for user %d", uid)
					}
					emitFor(users[uid], int(uid))(plain, ok)
				})
				break
			}
			fs.Flush(uint64(uid), emitFor(u, uid))
		case 7:
			switch op >> 6 {
			case 0:
				fs.SetMembers([]uint64{uint64(uid)})
			case 1:
				fs.SetPassthrough(op&0x20 != 0, time.Second)
			default:
				fs.SetSenderKey(testKey(k))
			}
		}
		checkHoldCounts(t, fs, 6, 100)
	}
	clk.Advance(time.Hour)
	for uid, u := range users {
		fs.Flush(uint64(uid), emitFor(u, uid))
		if len(u.want) != 0 {
			t.Fatalf("user %d: %d frames never emitted", uid, len(u.want))
		}
	}
	st := fs.Stats()
	if st.Holding != 0 || st.HoldingBytes != 0 || st.Held != st.Released+st.Expired+st.Overtaken+st.Overflow+st.Capped {
		t.Fatalf("hold counters do not add up: %+v", st)
	}
}

// checkHoldCounts checks the session's hold counters against its queues
// and its bounds across senders.
func checkHoldCounts(t *testing.T, fs *FrameSession, frames, bytes int) {
	t.Helper()
	fs.mu.Lock()
	defer fs.mu.Unlock()
	n, b := 0, 0
	for u, r := range fs.recv {
		rn, rb := 0, 0
		for _, h := range r.held {
			if !h.resolved {
				rn++
				rb += len(h.frame)
			} else if !h.ok && h.frame != nil {
				t.Fatalf("user %d: a dropped stub keeps %d bytes", u, len(h.frame))
			}
		}
		if rn != r.pending || rb != r.bytes {
			t.Fatalf("user %d: counts %d frames %d bytes, queue has %d %d", u, r.pending, r.bytes, rn, rb)
		}
		n, b = n+rn, b+rb
	}
	if n != fs.heldFrames || b != fs.heldBytes {
		t.Fatalf("session counts %d frames %d bytes, queues have %d %d", fs.heldFrames, fs.heldBytes, n, b)
	}
	if n > frames || b > bytes {
		t.Fatalf("%d frames of %d bytes held, bound %d %d", n, b, frames, bytes)
	}
}

// TestFrameSessionHoldTotal: the bound across senders drops the oldest
// held frames of any sender, each emitted dropped in its place by its
// sender's next Decrypt, Flush or Expire.
func TestFrameSessionHoldTotal(t *testing.T) {
	type emit struct {
		user uint64
		text string // "-": dropped
	}
	tests := []struct {
		name          string
		frames, bytes int
		run           func(d func(user uint64, k byte, text string), flush func(user uint64), expire func(), clk *fakeClock, fs *FrameSession)
		want          []emit
		capped        uint64
	}{
		{"another sender's oldest", 2, 1 << 20, func(d func(uint64, byte, string), flush func(uint64), _ func(), _ *fakeClock, fs *FrameSession) {
			d(1, 2, "a")
			d(1, 2, "b")
			d(2, 2, "c") // passes the bound: 1's "a" goes
			flush(2)     // nothing for 2
			fs.SetReceiverKey(1, testKey(2), false)
			flush(1)
		}, []emit{{1, "-"}, {1, "b"}}, 1},
		{"the sender's own oldest, at once", 2, 1 << 20, func(d func(uint64, byte, string), _ func(uint64), _ func(), _ *fakeClock, fs *FrameSession) {
			d(1, 2, "a")
			d(1, 2, "b")
			d(1, 2, "c")
			fs.SetReceiverKey(1, testKey(2), false)
			d(1, 2, "d")
		}, []emit{{1, "-"}, {1, "b"}, {1, "c"}, {1, "d"}}, 1},
		{"bytes", 100, 150, func(d func(uint64, byte, string), _ func(uint64), _ func(), _ *fakeClock, fs *FrameSession) {
			d(1, 2, strings.Repeat("a", 60))
			d(2, 2, strings.Repeat("b", 60))
			d(3, 2, strings.Repeat("c", 60)) // 3 x 72 > 150: 1's goes
			fs.SetReceiverKey(1, testKey(2), false)
			fs.SetReceiverKey(2, testKey(2), false)
			fs.SetReceiverKey(3, testKey(2), false)
			d(3, 2, "d")
			d(1, 2, "e")
		}, []emit{{3, strings.Repeat("c", 60)}, {3, "d"}, {1, "-"}, {1, "e"}}, 1},
		{"a stub behind a resolved frame never overtakes", 2, 1 << 20, func(d func(uint64, byte, string), flush func(uint64), _ func(), _ *fakeClock, fs *FrameSession) {
			fs.SetReceiverKey(1, testKey(1), false)
			d(1, 2, "a")
			d(1, 1, string(silence)) // waits behind "a"
			d(1, 2, "b")
			d(2, 2, "x") // 1's "a" goes
			fs.SetReceiverKey(1, testKey(2), false)
			flush(1)
		}, []emit{{1, "-"}, {1, string(silence)}, {1, "b"}}, 1},
		{"expire reaches quiet senders", 100, 1 << 20, func(d func(uint64, byte, string), _ func(uint64), expire func(), clk *fakeClock, fs *FrameSession) {
			d(5, 2, "a")
			d(3, 2, "b")
			d(3, 2, "c")
			expire() // too early: nothing
			fs.SetReceiverKey(3, testKey(2), false)
			expire() // 3's frames open now
			clk.Advance(DefaultHoldTime)
			expire() // 5's expired
		}, []emit{{3, "b"}, {3, "c"}, {5, "-"}}, 0},
		{"expire emits the stubs", 1, 1 << 20, func(d func(uint64, byte, string), _ func(uint64), expire func(), _ *fakeClock, _ *FrameSession) {
			d(1, 2, "a")
			d(2, 2, "b")
			d(3, 2, "c")
			expire()
		}, []emit{{1, "-"}, {2, "-"}}, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := newFakeClock()
			fs := NewFrameSession(WithFrameClock(clk.Now), WithHoldTotal(tc.frames, tc.bytes))
			fs.SetProtocolVersion(1)
			src := map[uint64]*sender{}
			var got []emit
			rec := func(user uint64) func([]byte, bool) {
				return func(plain []byte, ok bool) {
					e := emit{user, "-"}
					if ok {
						e.text = string(plain)
					}
					got = append(got, e)
				}
			}
			d := func(user uint64, k byte, text string) {
				if src[user] == nil {
					src[user] = newSender(t)
				}
				f := src[user].frame(k, text)
				if text == string(silence) {
					f = silence
				}
				fs.Decrypt(user, f, rec(user))
				checkHoldCounts(t, fs, tc.frames, tc.bytes)
			}
			flush := func(user uint64) { fs.Flush(user, rec(user)) }
			expire := func() {
				fs.Expire(func(user uint64, plain []byte, ok bool) { rec(user)(plain, ok) })
				checkHoldCounts(t, fs, tc.frames, tc.bytes)
			}
			tc.run(d, flush, expire, clk, fs)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("emits %v\nwant  %v", got, tc.want)
			}
			if st := fs.Stats(); st.Capped != tc.capped {
				t.Fatalf("capped %d, want %d (%+v)", st.Capped, tc.capped, st)
			}
		})
	}
}

// TestFrameSessionInventedSenders: a server inventing senders gets no more
// held than the bound across senders, and Expire frees them all.
func TestFrameSessionInventedSenders(t *testing.T) {
	clk := newFakeClock()
	fs := NewFrameSession(WithFrameClock(clk.Now))
	fs.SetProtocolVersion(1)
	src := newSender(t)
	frame := src.frame(9, strings.Repeat("v", 8000)) // a big video frame
	emits := map[uint64]int{}
	for u := range uint64(5000) {
		fs.Decrypt(u, frame, func([]byte, bool) { emits[u]++ })
	}
	checkHoldCounts(t, fs, DefaultHoldTotalFrames, DefaultHoldTotalBytes)
	st := fs.Stats()
	if st.Capped == 0 || st.HoldingBytes > DefaultHoldTotalBytes {
		t.Fatalf("stats %+v", st)
	}
	clk.Advance(DefaultHoldTime)
	fs.Expire(func(u uint64, _ []byte, ok bool) {
		if ok {
			t.Fatalf("user %d: a frame opened", u)
		}
		emits[u]++
	})
	for u := range uint64(5000) {
		if emits[u] != 1 {
			t.Fatalf("user %d: %d emits", u, emits[u])
		}
	}
	if st := fs.Stats(); st.Holding != 0 || st.HoldingBytes != 0 || len(fs.recv) != 0 ||
		st.Held != st.Capped+st.Expired || st.Undecryptable != st.Held {
		t.Fatalf("after Expire: %d receivers, stats %+v", len(fs.recv), st)
	}
}

// TestFrameSessionDiscard: Discard emits each held frame dropped, in
// order, and forgets them; a panic inside the hold path (the browser's
// module recovers from one) leaves the session's locks free.
func TestFrameSessionDiscard(t *testing.T) {
	s := NewFrameSession()
	s.SetProtocolVersion(1)
	s.SetReceiverKey(7, testKey(1), false)
	snd := newSender(t)
	var got []bool
	emit := func(_ []byte, ok bool) { got = append(got, ok) }
	for i := range 3 {
		s.Decrypt(7, snd.frame(2, fmt.Sprint("held ", i)), emit) // no key 2 here: held
	}
	if len(got) != 0 || s.Stats().Holding != 3 {
		t.Fatalf("emits %v, holding %d; want 3 held", got, s.Stats().Holding)
	}
	s.Discard(7, emit)
	if st := s.Stats(); !slices.Equal(got, []bool{false, false, false}) || st.Holding != 0 || st.Discarded != 3 || st.Dropped != 3 {
		t.Fatalf("emits %v, stats %+v", got, st)
	}
	got = nil
	s.Discard(99, emit) // nobody
	s.Decrypt(7, snd.frame(1, "next"), emit)
	if !slices.Equal(got, []bool{true}) {
		t.Fatalf("after Discard: emits %v, want one decrypted frame", got)
	}

	func() {
		defer func() { _ = recover() }()
		s.processLocked(7, []byte("x"), true, func(*Decryptor, []byte, []byte) ([]byte, error) { panic("boom") })
	}()
	if !s.mu.TryLock() {
		t.Fatal("a panic in process left mu locked")
	}
	s.mu.Unlock()
}
