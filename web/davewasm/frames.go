//go:build js && wasm

package main

import (
	"encoding/binary"
	"encoding/json"
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
func frameEncrypt(codec, n, alone uint32) int32 {
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
func frameDecrypt(user uint64, n uint32) int32 {
	emitBuf = emitBuf[:0]
	cnt := int32(0)
	frames.Decrypt(user, input(n), func(p []byte, ok bool) { emit(p, ok); cnt++ })
	setOut(emitBuf)
	return cnt
}

// frameFlush emits (dropped) user's held frames whose time is over; the
// output and result as frame_decrypt's.
//
//go:wasmexport frame_flush
func frameFlush(user uint64) int32 {
	emitBuf = emitBuf[:0]
	cnt := int32(0)
	frames.Flush(user, func(p []byte, ok bool) { emit(p, ok); cnt++ })
	setOut(emitBuf)
	return cnt
}

// frameStats is the JSON shape of the media side's counters (davejs.md,
// dave.state().frames). Dropped is by reason: unencrypted (a
// transport-only frame while passthrough is off), expired / overtaken /
// overflow (a held DAVE frame no key opened: its hold time ended, a later
// frame of its sender opened first, its sender's hold was full), encrypt
// (Encrypt refused a frame). Failures are decryption attempts that failed
// (a held frame retried after a key change counts again), by why.
type frameStats struct {
	Encrypted     uint64            `json:"encrypted"`
	Decrypted     uint64            `json:"decrypted"`
	Passthrough   uint64            `json:"passthrough"`
	Unkeyed       uint64            `json:"unkeyed"`
	Silence       uint64            `json:"silence"`
	Held          uint64            `json:"held"`
	Released      uint64            `json:"released"`
	Holding       int               `json:"holding"`
	Dropped       map[string]uint64 `json:"dropped"`
	Failures      map[string]uint64 `json:"failures"`
	NotReady      uint64            `json:"not_ready"`
	DroppedTotal  uint64            `json:"dropped_total"`
	Undecryptable uint64            `json:"undecryptable"`
}

func nonZero(m map[string]uint64) map[string]uint64 {
	for k, v := range m {
		if v == 0 {
			delete(m, k)
		}
	}
	return m
}

// frameStatsJSON writes the counters as JSON (dave.state().frames).
//
//go:wasmexport frame_stats
func frameStatsJSON() int32 {
	s := frames.Stats()
	st := frameStats{
		Encrypted: s.Encrypt.Encrypted, Decrypted: s.Decrypt.Decrypted,
		Passthrough: s.Encrypt.Passthrough + s.Decrypt.Passthrough, Unkeyed: s.Unkeyed,
		Silence: s.Encrypt.Silence + s.Decrypt.Silence, Held: s.Held, Released: s.Released, Holding: s.Holding,
		Dropped: nonZero(map[string]uint64{"unencrypted": s.Decrypt.Unencrypted, "expired": s.Expired,
			"overtaken": s.Overtaken, "overflow": s.Overflow, "encrypt": s.Encrypt.Failures}),
		Failures: nonZero(map[string]uint64{"auth": s.Decrypt.AuthFailures, "replay": s.Decrypt.Replays,
			"generation": s.Decrypt.Generation, "no_key": s.Decrypt.NoKey}),
		NotReady: notReady, DroppedTotal: s.Dropped, Undecryptable: s.Undecryptable,
	}
	b, err := json.Marshal(st)
	if err != nil {
		return -1
	}
	setOut(b)
	return int32(len(b))
}

// The key exports: the KeySink calls the MLS worker's participant made,
// replayed in the media worker.

//go:wasmexport key_version
func keyVersion(v uint32) { frames.SetProtocolVersion(uint16(v)) }

// keySender installs the n-byte sender base secret from the input buffer;
// none (nil: no key) when has is 0.
//
//go:wasmexport key_sender
func keySender(n, has uint32) {
	if has == 0 {
		frames.SetSenderKey(nil)
		return
	}
	frames.SetSenderKey(clone(input(n)))
}

//go:wasmexport key_receiver
func keyReceiver(user uint64, n, fresh uint32) {
	frames.SetReceiverKey(user, clone(input(n)), fresh != 0)
}

// keyMembers sets the group's members: n user ids, u64 LE each, in the
// input buffer.
//
//go:wasmexport key_members
func keyMembers(n uint32) {
	frames.SetMembers(readUsers(n))
}

//go:wasmexport key_passthrough
func keyPassthrough(on, expiryMillis uint32) {
	frames.SetPassthrough(on != 0, time.Duration(expiryMillis)*time.Millisecond)
}

func clone(b []byte) []byte { return append([]byte(nil), b...) }
