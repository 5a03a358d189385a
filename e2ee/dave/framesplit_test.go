package dave

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"
)

// goSeal stands in for WebCrypto's AES-GCM encrypt (tagLength 64): the
// ciphertext of job.Plaintext and the first tagLen bytes of its tag.
func goSeal(t testing.TB, job *SealJob, tagLen int) []byte {
	t.Helper()
	c, err := newFrameCipher(job.Key[:])
	if err != nil {
		t.Fatal(err)
	}
	iv := job.IV
	return c.seal(nil, &iv, job.Plaintext, job.AAD)[:len(job.Plaintext)+tagLen]
}

// goOpen stands in for WebCrypto's decrypt: it tries the candidates in
// order and returns the id of the one that opened job.Sealed with the
// plaintext (0, nil: none).
func goOpen(t testing.TB, job *OpenJob) (uint64, []byte) {
	t.Helper()
	n := len(job.Sealed) - TagSize
	for _, c := range job.Candidates {
		fc, err := newFrameCipher(c.Key[:])
		if err != nil {
			t.Fatal(err)
		}
		iv := job.IV
		pt, _, _, ok := fc.open(make([]byte, 0, n+16), make([]byte, 0, n+16), &iv, job.Sealed[:n], job.AAD, job.Sealed[n:])
		if ok {
			return c.KeyID, bytes.Clone(pt)
		}
	}
	return 0, nil
}

// splitEncrypt encrypts frame through BeginSeal/FinishSeal with goSeal.
func splitEncrypt(t testing.TB, e *Encryptor, job *SealJob, codec Codec, frame []byte, tagLen int) ([]byte, error) {
	t.Helper()
	if !e.BeginSeal(job, codec, frame) {
		return e.EncryptCodec(nil, codec, frame)
	}
	for {
		out, again, err := e.FinishSeal(nil, job, goSeal(t, job, tagLen))
		if !again {
			return out, err
		}
	}
}

// splitCodecFrames are frames of every codec, with ranges and without.
func splitCodecFrames() []struct {
	codec Codec
	frame []byte
} {
	h264 := []byte{0, 0, 0, 1, 0x67, 0x42, 0x00, 0x1f, 0xaa, 0xbb, 0, 0, 1, 0x68, 0xce, 0x38, 0x80,
		0, 0, 0, 1, 0x65, 0x88, 0x84, 0x00, 0x33, 0xff, 0xfe, 0xf6, 0xf0, 0xfe, 0x05, 0x36, 0x56, 0x04, 0x50}
	h265 := []byte{0, 0, 0, 1, 0x40, 0x01, 0x0c, 0x01, 0xff, 0, 0, 0, 1, 0x26, 0x01, 0xaf, 0x06, 0xb8, 0x63, 0xef, 0x3a, 0x7f, 0x3e}
	av1 := []byte{0x12, 0x00, 0x0a, 0x03, 0x01, 0x02, 0x03, 0x32, 0x05, 0x10, 0x11, 0x12, 0x13, 0x14}
	big := bytes.Repeat([]byte{0x5a, 0x01, 0x77}, 4000)
	return []struct {
		codec Codec
		frame []byte
	}{
		{CodecOpus, bytes.Repeat([]byte{0xab}, 100)},
		{CodecUnknown, big},
		{CodecVP9, big},
		{CodecVP8, append([]byte{0x50, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01}, big...)},
		{CodecVP8, append([]byte{0x31}, big...)},
		{CodecH264, h264},
		{CodecH264, append(slices.Clone(h264), big...)},
		{CodecH265, h265},
		{CodecAV1, av1},
		{CodecH264, []byte{9, 9, 9, 9, 9, 9}}, // no start code: encrypted whole
	}
}

// TestSealJobMatchesEncryptor: the split path lays out the same bytes as
// EncryptCodec for the same nonce and key, across a generation change,
// and keeps the same counters.
func TestSealJobMatchesEncryptor(t *testing.T) {
	for _, tagLen := range []int{TagSize, gcmFullTag} {
		for i, c := range splitCodecFrames() {
			t.Run(fmt.Sprintf("%s-%d-tag%d", c.codec, i, tagLen), func(t *testing.T) {
				clk := newFakeClock()
				goE, d := pair(t, clk)
				splitE, _ := pair(t, clk)
				var job SealJob
				var ids []uint64
				for n := range 6 {
					if n == 3 { // the next nonce is in generation 1
						goE.nonce, splitE.nonce = 1<<generationShift-1, 1<<generationShift-1
						clk.Advance(time.Duration(1<<generationShift/MaxFramesPerSecond+1) * time.Second)
					}
					want, err := goE.EncryptCodec(nil, c.codec, c.frame)
					if err != nil {
						t.Fatal(err)
					}
					got, err := splitEncrypt(t, splitE, &job, c.codec, c.frame, tagLen)
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(got, want) {
						t.Fatalf("frame %d: split\n%x\nEncryptCodec\n%x", n, got, want)
					}
					if _, err := d.Decrypt(nil, got); err != nil {
						t.Fatalf("frame %d: %v", n, err)
					}
					if !slices.Contains(ids, job.KeyID) {
						ids = append(ids, job.KeyID)
					}
					key, _ := splitE.ratchet.Key(splitE.gen)
					if !bytes.Equal(job.Key[:], key) {
						t.Fatalf("frame %d: job key is not the generation's", n)
					}
				}
				if len(ids) != 2 {
					t.Fatalf("key ids %v: want one per generation", ids)
				}
				if g, w := splitE.Stats(), goE.Stats(); g != w {
					t.Fatalf("stats %+v, want %+v", g, w)
				}
			})
		}
	}
}

// TestSealJobNotSplit: what the split path leaves to EncryptCodec.
func TestSealJobNotSplit(t *testing.T) {
	var job SealJob
	e := NewEncryptor()
	if e.BeginSeal(&job, CodecOpus, []byte{1, 2, 3}) {
		t.Fatal("no key")
	}
	e.SetKeyRatchet(testRatchet(t))
	for _, f := range [][]byte{nil, OpusSilence[:]} {
		if e.BeginSeal(&job, CodecOpus, f) {
			t.Fatalf("%x split", f)
		}
	}
	e.SetPassthrough(true)
	if e.BeginSeal(&job, CodecOpus, []byte{1, 2, 3}) {
		t.Fatal("passthrough split")
	}
	e.SetPassthrough(false)
	if !e.BeginSeal(&job, CodecOpus, []byte{1, 2, 3}) {
		t.Fatal("not split")
	}
	for _, bad := range [][]byte{nil, make([]byte, 3+TagSize-1), make([]byte, 3+gcmFullTag+1)} {
		if _, _, err := e.FinishSeal(nil, &job, bad); !errors.Is(err, ErrSealedSize) {
			t.Fatalf("%d sealed bytes: %v", len(bad), err)
		}
	}
	if s := e.Stats(); s.Failures != 3 || s.Encrypted != 0 {
		t.Fatalf("stats %+v", s)
	}
	if _, _, err := e.FinishSeal(nil, &SealJob{}, make([]byte, TagSize)); !errors.Is(err, ErrSealedSize) {
		t.Fatalf("job never begun: %v", err)
	}
}

// TestSealJobH26xRetry: a start code in the ciphertext makes FinishSeal
// ask for another seal under the next nonce, up to maxEncryptAttempts.
func TestSealJobH26xRetry(t *testing.T) {
	clk := newFakeClock()
	e, d := pair(t, clk)
	frame := append([]byte{0, 0, 0, 1, 0x65, 0x88, 0x84}, bytes.Repeat([]byte{0x42}, 40)...)
	var job SealJob
	if !e.BeginSeal(&job, CodecH264, frame) {
		t.Fatal("not split")
	}
	forged := goSeal(t, &job, TagSize)
	copy(forged[4:], []byte{0, 0, 1}) // a start code in the ciphertext
	nonce := job.nonce
	out, again, err := e.FinishSeal([]byte("x"), &job, forged)
	if !again || err != nil || string(out) != "x" || job.nonce != nonce+1 {
		t.Fatalf("again %v, err %v, out %q, nonce %d after %d", again, err, out, job.nonce, nonce)
	}
	out, again, err = e.FinishSeal(nil, &job, goSeal(t, &job, TagSize))
	if again || err != nil {
		t.Fatalf("again %v, err %v", again, err)
	}
	if pt, err := d.Decrypt(nil, out); err != nil || !bytes.Equal(pt, frame) {
		t.Fatalf("decrypt: %v", err)
	}
	if s := e.Stats(); s.Attempts != 2 || s.MaxAttempts != 2 || s.Encrypted != 1 {
		t.Fatalf("stats %+v", s)
	}
	if !e.BeginSeal(&job, CodecH264, frame) {
		t.Fatal("not split")
	}
	for i := 1; ; i++ {
		forged := goSeal(t, &job, TagSize)
		copy(forged[4:], []byte{0, 0, 1})
		_, again, err := e.FinishSeal(nil, &job, forged)
		if !again {
			if !errors.Is(err, ErrCiphertextValidation) || i != maxEncryptAttempts {
				t.Fatalf("attempt %d: %v", i, err)
			}
			break
		}
	}
	if s := e.Stats(); s.Failures != 1 || s.MaxAttempts != maxEncryptAttempts {
		t.Fatalf("stats %+v", s)
	}
}

// TestOpenJobMatchesDecrypt: the split open of what Encryptor made gives
// Decrypt's plaintext, errors and counters, across two epochs, replays,
// tampering and frames Decrypt refuses without AES work.
func TestOpenJobMatchesDecrypt(t *testing.T) {
	clk := newFakeClock()
	e1 := NewEncryptor()
	e1.SetKeyRatchet(testRatchet(t))
	r2, _ := NewKeyRatchet(testKey(9))
	e2 := NewEncryptor()
	e2.SetKeyRatchet(r2)
	newDec := func() *Decryptor {
		d := NewDecryptor(WithClock(clk.Now))
		d.TransitionToKeyRatchet(testRatchet(t))
		r, _ := NewKeyRatchet(testKey(9))
		d.TransitionToKeyRatchet(r)
		return d
	}
	goD, splitD := newDec(), newDec()
	var frames [][]byte
	for _, c := range splitCodecFrames() {
		for _, e := range []*Encryptor{e1, e2} {
			f, err := e.EncryptCodec(nil, c.codec, c.frame)
			if err != nil {
				t.Fatal(err)
			}
			frames = append(frames, f)
		}
	}
	tampered := bytes.Clone(frames[3])
	tampered[2] ^= 1
	frames = append(frames, frames[0], tampered, OpusSilence[:], []byte("plain"), frames[5])
	var job OpenJob
	for i, f := range frames {
		want, wantErr := goD.Decrypt(nil, f)
		var got []byte
		var err error
		if splitD.BeginOpen(&job, f) {
			if n := len(job.Candidates); n == 0 || n > 2 {
				t.Fatalf("frame %d: %d candidates", i, n)
			}
			id, pt := goOpen(t, &job)
			got, err = splitD.FinishOpen(nil, &job, id, pt)
		} else {
			got, err = splitD.Decrypt(nil, f)
		}
		if !bytes.Equal(got, want) || !errors.Is(err, wantErr) {
			t.Fatalf("frame %d: split %x %v, Decrypt %x %v", i, got, err, want, wantErr)
		}
	}
	if g, w := splitD.Stats(), goD.Stats(); g != w {
		t.Fatalf("stats %+v\nwant  %+v", g, w)
	}
	// A frame decrypted between BeginOpen and FinishOpen is a replay.
	f, _ := e1.Encrypt(nil, []byte("twice"))
	if !splitD.BeginOpen(&job, f) {
		t.Fatal("not split")
	}
	id, pt := goOpen(t, &job)
	if _, err := splitD.Decrypt(nil, f); err != nil {
		t.Fatal(err)
	}
	if _, err := splitD.FinishOpen(nil, &job, id, pt); !errors.Is(err, ErrReplay) {
		t.Fatalf("replay: %v", err)
	}
	// A wrong-sized plaintext or an unknown key id opens nothing.
	f, _ = e1.Encrypt(nil, []byte("sizes"))
	if !splitD.BeginOpen(&job, f) {
		t.Fatal("not split")
	}
	id, pt = goOpen(t, &job)
	for _, c := range []struct {
		id uint64
		pt []byte
	}{{id, pt[1:]}, {id + 1000, pt}, {0, pt}} {
		if _, err := splitD.FinishOpen(nil, &job, c.id, c.pt); !errors.Is(err, ErrAuth) {
			t.Fatalf("%+v: %v", c, err)
		}
	}
	if out, err := splitD.FinishOpen(nil, &job, id, pt); err != nil || string(out) != "sizes" {
		t.Fatalf("%q %v", out, err)
	}
	// Keys dropped meanwhile open nothing.
	splitD.TransitionToKeyRatchet(nil)
	f, _ = e1.Encrypt(nil, []byte("expired"))
	if !splitD.BeginOpen(&job, f) {
		t.Fatal("not split")
	}
	id, pt = goOpen(t, &job)
	clk.Advance(RatchetExpiry + time.Second)
	if _, err := splitD.FinishOpen(nil, &job, id, pt); !errors.Is(err, ErrNoKey) {
		t.Fatalf("expired: %v", err)
	}
}

// splitSide runs a FrameSession's frames through BeginOpen/FinishOpen
// (goOpen in between), or Decrypt when BeginOpen says no.
// It reports whether the split path took the frame.
func splitDecrypt(t testing.TB, fs *FrameSession, job *OpenJob, user uint64, frame []byte, between func(), emit func([]byte, bool)) bool {
	if !fs.BeginOpen(job, user, frame) {
		between()
		fs.Decrypt(user, frame, emit)
		return false
	}
	id, pt := goOpen(t, job)
	between()
	fs.FinishOpen(job, id, pt, emit)
	return true
}

// TestFrameSessionSplitMatches runs the emit-contract operation sequences
// on two sessions, one decrypting in Go, one through the split path
// (sometimes with a key operation between BeginOpen and FinishOpen,
// matched by the same operation before Decrypt): same emits, same
// counters.
func TestFrameSessionSplitMatches(t *testing.T) {
	split, frames := 0, 0
	for seed := range 200 {
		ops := make([]byte, 400)
		x := uint32(seed*2246822519 + 7)
		for i := range ops {
			x ^= x << 13
			x ^= x >> 17
			x ^= x << 5
			ops[i] = byte(x)
		}
		s, f := checkSplitMatches(t, ops)
		split, frames = split+s, frames+f
	}
	if split < frames/4 {
		t.Fatalf("only %d of %d frames took the split path", split, frames)
	}
	t.Logf("%d of %d frames took the split path", split, frames)
}

// FuzzFrameSessionSplit: the split path agrees with Decrypt for any
// operation sequence.
func FuzzFrameSessionSplit(f *testing.F) {
	f.Add([]byte{0x04, 0x80, 0x01, 0x24, 0x81, 0x02, 0x83, 0x06})
	f.Add(bytes.Repeat([]byte{0x21, 0x11, 0x03, 0xa1, 0x44}, 20))
	f.Fuzz(func(t *testing.T, ops []byte) {
		if len(ops) > 2000 {
			return
		}
		checkSplitMatches(t, ops)
	})
}

// checkSplitMatches returns how many frames took the split path, of all.
func checkSplitMatches(t *testing.T, ops []byte) (split, frames int) {
	t.Helper()
	clk := newFakeClock()
	newFS := func() *FrameSession {
		fs := NewFrameSession(WithFrameClock(clk.Now), WithHold(4, 1<<10, 100*time.Millisecond))
		fs.SetProtocolVersion(1)
		return fs
	}
	goFS, splitFS := newFS(), newFS()
	var srcs [3]*sender
	for i := range srcs {
		srcs[i] = newSender(t)
	}
	var goGot, splitGot []string
	rec := func(got *[]string) func([]byte, bool) {
		return func(p []byte, ok bool) {
			if !ok {
				*got = append(*got, "-")
				return
			}
			*got = append(*got, string(p))
		}
	}
	keyOp := func(fs *FrameSession, op byte) {
		uid, k := uint64(op>>3)%3, byte(op>>5)%3+1
		if op&7 == 4 {
			fs.SetReceiverKey(uid, testKey(k), op&0x80 != 0)
			return
		}
		switch op >> 6 {
		case 0:
			fs.SetMembers([]uint64{uid})
		case 1:
			fs.SetPassthrough(op&0x20 != 0, time.Second)
		default:
			fs.SetSenderKey(testKey(k))
		}
	}
	var job OpenJob
	n := 0
	for i := 0; i < len(ops); i++ {
		op := ops[i]
		uid, k := uint64(op>>3)%3, byte(op>>5)%3+1
		switch op & 7 {
		case 0, 1, 2, 3:
			n++
			var f []byte
			switch {
			case op&7 == 3 && op&0x80 != 0:
				f = silence
			case op&7 == 3:
				f = srcs[uid].frame(k, "tampered")
				f[0] ^= 1
			default:
				f = srcs[uid].frame(k, fmt.Sprintf("u%d#%d", uid, n))
			}
			between := func() {}
			// op 2: a key operation that follows runs between BeginOpen
			// and FinishOpen (and before Decrypt on the Go side).
			if op&7 == 2 && i+1 < len(ops) && (ops[i+1]&7 == 4 || ops[i+1]&7 == 7) {
				i++
				next := ops[i]
				keyOp(goFS, next)
				between = func() { keyOp(splitFS, next) }
			}
			goFS.Decrypt(uid, f, rec(&goGot))
			if splitDecrypt(t, splitFS, &job, uid, f, between, rec(&splitGot)) {
				split++
			}
		case 4, 7:
			keyOp(goFS, op)
			keyOp(splitFS, op)
		case 5:
			clk.Advance(time.Duration(op>>3) * 5 * time.Millisecond)
		case 6:
			goFS.Flush(uid, rec(&goGot))
			splitFS.Flush(uid, rec(&splitGot))
		}
		if !slices.Equal(goGot, splitGot) {
			t.Fatalf("op %d (%#x): split emits\n%q\nGo emits\n%q", i, op, splitGot, goGot)
		}
	}
	// Attempts may differ by the keys installed between BeginOpen and
	// FinishOpen: the test reinstalls the same base secret as a new epoch,
	// and a frame both open is opened by the one Decrypt tries first after
	// the change but by the candidate WebCrypto found before it.
	g, w := splitFS.Stats(), goFS.Stats()
	g.Decrypt.Attempts, w.Decrypt.Attempts = 0, 0
	if g != w {
		t.Fatalf("stats %+v\nwant  %+v", g, w)
	}
	return split, n
}

// FuzzOpenJob feeds arbitrary frames and answers to the split open: no
// panics, Decrypt's verdict when answered honestly, and never a
// plaintext for a frame no candidate opened.
func FuzzOpenJob(f *testing.F) {
	clk := newFakeClock()
	e, _ := pair(f, clk)
	for _, c := range splitCodecFrames() {
		fr, _ := e.EncryptCodec(nil, c.codec, c.frame[:min(len(c.frame), 200)])
		f.Add(fr, uint8(0), uint64(0))
	}
	f.Add([]byte{1, 2, 3}, uint8(1), uint64(7))
	f.Add(footer(make([]byte, 20), 0x05, 0x00, 0x04, 0x06, 0x02), uint8(2), uint64(1))
	f.Fuzz(func(t *testing.T, frame []byte, lie uint8, id uint64) {
		_, goD := pair(t, clk)
		_, d := pair(t, clk)
		want, wantErr := goD.Decrypt(nil, frame)
		var job OpenJob
		if !d.BeginOpen(&job, frame) {
			if err := CheckFrame(frame); err == nil && wantErr == nil && !IsOpusSilence(frame) {
				t.Fatal("a frame Decrypt opens was not split")
			}
			return
		}
		if len(job.Sealed) < TagSize || len(job.Sealed)-TagSize+len(job.AAD) != len(frame)-int(frame[len(frame)-3]) {
			t.Fatalf("sealed %d + aad %d for a %d-byte frame", len(job.Sealed), len(job.AAD), len(frame))
		}
		keyID, pt := goOpen(t, &job)
		switch lie % 3 {
		case 1:
			keyID = id
		case 2:
			pt = append(pt, byte(id))
		}
		got, err := d.FinishOpen(nil, &job, keyID, pt)
		if lie%3 == 0 && (!bytes.Equal(got, want) || !errors.Is(err, wantErr)) {
			t.Fatalf("split %x %v, Decrypt %x %v", got, err, want, wantErr)
		}
		if err == nil && len(got) != len(frame)-int(frame[len(frame)-3]) {
			t.Fatalf("plaintext of %d bytes", len(got))
		}
	})
}

// FuzzFinishSeal feeds arbitrary frames and sealed answers: no panics,
// and a frame CheckFrame accepts when it succeeds.
func FuzzFinishSeal(f *testing.F) {
	f.Add(uint8(CodecH264), []byte{0, 0, 0, 1, 0x65, 0x88, 0x84, 0x00, 0x12}, []byte{1, 2, 3}, true)
	f.Add(uint8(CodecOpus), []byte{1, 2, 3}, []byte{}, false)
	clk := newFakeClock()
	f.Fuzz(func(t *testing.T, codec uint8, frame, sealed []byte, honest bool) {
		e, d := pair(t, clk)
		var job SealJob
		if !e.BeginSeal(&job, Codec(codec%7), frame) {
			return
		}
		if honest {
			sealed = goSeal(t, &job, TagSize)
		}
		out, again, err := e.FinishSeal(nil, &job, sealed)
		if err != nil || again {
			if len(out) != 0 {
				t.Fatal("output on error or again")
			}
			return
		}
		if err := CheckFrame(out); err != nil {
			t.Fatalf("sealed frame fails CheckFrame: %v", err)
		}
		if _, err := d.Decrypt(nil, out); honest && err != nil {
			t.Fatalf("honest seal does not open: %v", err)
		}
	})
}
