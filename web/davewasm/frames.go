//go:build js && wasm

package main

import (
	"encoding/binary"
	"time"

	"github.com/parleyhq/parley/e2ee/dave"
)

// The media worker's side: one frame session (the media-side key state and
// the per-frame crypto) and its scratch buffers.
var (
	frames   = dave.NewFrameSession()
	encBuf   []byte // Encrypt's output
	emitBuf  []byte // Decrypt's and Flush's emit records
	notReady uint64 // frames dropped: version 1 without a sender key yet
)

// Results of frame_encrypt.
const (
	encryptPlain     = 0  // send the frame as it is (no output)
	encryptEncrypted = 1  // send the output
	encryptWait      = 2  // drop it: no sender key yet (counted not_ready)
	encryptFailed    = -1 // drop it: Encrypt refused it (counted)
)

// frameEncrypt encrypts the n-byte frame in the input buffer, encoded with
// codec (dave.Codec), for sending; alone (0/1) says whether no one else is
// in the call. See encryptPlain and the other results.
//
//go:wasmexport frame_encrypt
func frameEncrypt(codec, n, alone uint32) (res int32) {
	defer recovered(func(string) { res = encryptFailed })
	frame := input(n)
	if need := len(frame) + dave.MaxOverhead + 64; cap(encBuf) < need {
		encBuf = make([]byte, 0, need+need/4)
	}
	o, st, err := frames.Encrypt(encBuf[:0], dave.Codec(codec), frame, alone != 0)
	switch {
	case err != nil: // counted by the session (Encrypt.Failures)
		return encryptFailed
	case st == dave.SendWait:
		notReady++
		return encryptWait
	case st == dave.SendPlain:
		setOut(nil)
		return encryptPlain
	}
	setOut(o)
	return encryptEncrypted
}

// emit appends one emit record to emitBuf: u8 ok, u32 LE length, bytes.
func emit(plain []byte, ok bool) {
	b := byte(0)
	if ok {
		b = 1
	}
	emitBuf = append(emitBuf, b)
	emitBuf = binary.LittleEndian.AppendUint32(emitBuf, uint32(len(plain)))
	emitBuf = append(emitBuf, plain...)
}

// frameDecrypt decrypts the n-byte frame from user in the input buffer.
// The output holds its emit records (see emit) in order, one per frame
// passed to frame_decrypt or held before (FrameSession's contract); it
// returns how many.
//
//go:wasmexport frame_decrypt
func frameDecrypt(user uint64, n uint32) (cnt int32) {
	defer recovered(func(string) { cnt = discardHeld(user, true) })
	emitBuf = emitBuf[:0]
	frames.Decrypt(user, input(n), func(p []byte, ok bool) { emit(p, ok); cnt++ })
	setOut(emitBuf)
	return cnt
}

// frameFlush emits (dropped) user's held frames whose time is over; the
// output and result as frame_decrypt's.
//
//go:wasmexport frame_flush
func frameFlush(user uint64) (cnt int32) {
	defer recovered(func(string) { cnt = discardHeld(user, false) })
	emitBuf = emitBuf[:0]
	frames.Flush(user, func(p []byte, ok bool) { emit(p, ok); cnt++ })
	setOut(emitBuf)
	return cnt
}

// discardHeld keeps the emit contract after a recovered panic in a call
// for user: the output is one dropped emit per frame held for user (the
// session forgets them) and, when cur, one for the frame of the call; it
// returns how many.
func discardHeld(user uint64, cur bool) int32 {
	emitBuf = emitBuf[:0]
	cnt := int32(0)
	frames.Discard(user, func(p []byte, ok bool) { emit(p, ok); cnt++ })
	if cur {
		emit(nil, false)
		cnt++
	}
	setOut(emitBuf)
	return cnt
}

// frameStatsJSON writes the media side's counters as JSON
// (dave.state().frames, davejs.md): encrypted, decrypted, passthrough,
// unkeyed, silence, held, released, holding; dropped by reason:
// unencrypted (a transport-only frame while passthrough is off), expired
// / overtaken / overflow / capped (a held DAVE frame no key opened: its
// hold time ended, a later frame of its sender opened first, its sender's
// hold was full, the hold across all senders was full), encrypt (Encrypt
// refused a frame); failures, the decryption attempts that failed (a held
// frame retried after a key change counts again), by why; not_ready,
// dropped_total, undecryptable. The maps hold only non-zero counts.
// panics counts the exports' recovered panics (the module's own bugs),
// discarded the held frames dropped after one.
//
//go:wasmexport frame_stats
func frameStatsJSON() (res int32) {
	defer recovered(func(msg string) { failOut(msg); res = -1 })
	s := frames.Stats()
	var w jsonw
	w.obj()
	for _, c := range []struct {
		name string
		v    uint64
	}{{"encrypted", s.Encrypt.Encrypted}, {"decrypted", s.Decrypt.Decrypted},
		{"passthrough", s.Encrypt.Passthrough + s.Decrypt.Passthrough}, {"unkeyed", s.Unkeyed},
		{"silence", s.Encrypt.Silence + s.Decrypt.Silence}, {"held", s.Held}, {"released", s.Released},
		{"holding", uint64(s.Holding)}, {"not_ready", notReady}, {"dropped_total", s.Dropped},
		{"undecryptable", s.Undecryptable}, {"panics", panics}, {"discarded", s.Discarded}} {
		w.key(c.name)
		w.uint(c.v)
	}
	w.key("dropped")
	w.counts([]string{"unencrypted", "expired", "overtaken", "overflow", "capped", "encrypt"},
		s.Decrypt.Unencrypted, s.Expired, s.Overtaken, s.Overflow, s.Capped, s.Encrypt.Failures)
	w.key("failures")
	w.counts([]string{"auth", "replay", "generation", "no_key"},
		s.Decrypt.AuthFailures, s.Decrypt.Replays, s.Decrypt.Generation, s.Decrypt.NoKey)
	w.end('}')
	setOut(w.b)
	return int32(len(w.b))
}

// The key exports: the KeySink calls the MLS worker's participant made,
// replayed in the media worker.

//go:wasmexport key_version
func keyVersion(v uint32) int32 {
	defer recovered(failOut)
	frames.SetProtocolVersion(uint16(v))
	return 0
}

// keySender installs the n-byte sender base secret from the input buffer;
// none (nil: no key) when has is 0.
//
//go:wasmexport key_sender
func keySender(n, has uint32) (res int32) {
	defer recovered(func(msg string) { failOut(msg); res = -1 })
	if has == 0 {
		frames.SetSenderKey(nil)
		return 0
	}
	frames.SetSenderKey(takeSecret(n))
	return 0
}

//go:wasmexport key_receiver
func keyReceiver(user uint64, n, fresh uint32) (res int32) {
	defer recovered(func(msg string) { failOut(msg); res = -1 })
	frames.SetReceiverKey(user, takeSecret(n), fresh != 0)
	return 0
}

// keyMembers sets the group's members: n user ids, u64 LE each, in the
// input buffer.
//
//go:wasmexport key_members
func keyMembers(n uint32) (res int32) {
	defer recovered(func(msg string) { failOut(msg); res = -1 })
	frames.SetMembers(readUsers(n))
	return 0
}

//go:wasmexport key_passthrough
func keyPassthrough(on, expiryMillis uint32) (res int32) {
	defer recovered(func(msg string) { failOut(msg); res = -1 })
	frames.SetPassthrough(on != 0, time.Duration(expiryMillis)*time.Millisecond)
	return 0
}

// The key exports answer 0, or -1 with the error as the output.

func clone(b []byte) []byte { return append([]byte(nil), b...) }

// takeSecret copies the n-byte secret out of the input buffer and zeroes
// it there (the buffer outlives the call).
func takeSecret(n uint32) []byte {
	b := input(n)
	c := clone(b)
	clear(b)
	return c
}
