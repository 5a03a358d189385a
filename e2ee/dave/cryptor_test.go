package dave

import (
	"bytes"
	"errors"
	"math"
	"testing"
	"time"
)

// TestOpusLayout checks the observed davey layout: a 60-byte Opus frame
// becomes 72 bytes ending "tag ‖ 01 ‖ 0c ‖ fa fa" (dave.md §7).
func TestOpusLayout(t *testing.T) {
	clk := newFakeClock()
	e, d := pair(t, clk)
	frame := bytes.Repeat([]byte{0x11}, 60)
	frame[0] = 0xfc
	out, err := e.Encrypt(nil, frame)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 72 || !bytes.Equal(out[68:], []byte{0x01, 0x0c, 0xfa, 0xfa}) {
		t.Fatalf("encrypted %d bytes: %x", len(out), out)
	}
	// Nonce 1 under the generation-0 key is the Node vector of gcm_test.go.
	if !bytes.Equal(out[:60], unhex(t, "2d34bafa5e91e10cbae75c6e74eb53c45e44377cc6bbc059d7ef93c94715424278da9604f967971fc427c5ae03ffafb2bd92e15f477356843f97aa32")) ||
		!bytes.Equal(out[60:68], unhex(t, "876e81711c2c8ca5")) {
		t.Fatalf("ciphertext/tag differ from Node AES-GCM: %x", out)
	}
	if err := CheckFrame(out); err != nil {
		t.Fatal(err)
	}
	pt, err := d.Decrypt(nil, out)
	if err != nil || !bytes.Equal(pt, frame) {
		t.Fatalf("decrypt: %v %x", err, pt)
	}
	if _, err := d.Decrypt(nil, out); !errors.Is(err, ErrReplay) {
		t.Fatalf("replay: %v", err)
	}
	tampered := bytes.Clone(out)
	tampered[3] ^= 0x40
	e2, d2 := pair(t, clk)
	out2, _ := e2.Encrypt(nil, frame)
	out2[3] ^= 0x40
	if _, err := d2.Decrypt(nil, out2); !errors.Is(err, ErrAuth) {
		t.Fatalf("tampered: %v", err)
	}
	if s := d2.Stats(); s.AuthFailures != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestRoundTripCodecs(t *testing.T) {
	h264 := []byte{
		0, 0, 0, 1, 0x67, 0x42, 0x00, 0x1f, 0xaa, 0xbb, // SPS (clear)
		0, 0, 1, 0x68, 0xce, 0x38, 0x80, // PPS (3-byte start code, clear)
		0, 0, 0, 1, 0x65, 0x88, 0x84, 0x00, 0x33, 0xff, 0xfe, 0xf6, 0xf0, 0xfe, 0x05, 0x36, 0x56, 0x04, 0x50, // IDR
	}
	h265 := []byte{
		0, 0, 0, 1, 0x40, 0x01, 0x0c, 0x01, 0xff, // VPS (type 32, clear)
		0, 0, 0, 1, 0x26, 0x01, 0xaf, 0x06, 0xb8, 0x63, 0xef, 0x3a, 0x7f, 0x3e, // IDR_W_RADL (19)
	}
	av1 := []byte{
		0x12, 0x00, // temporal delimiter with size 0 (dropped)
		0x0a, 0x03, 0x01, 0x02, 0x03, // sequence header, size 3
		0x32, 0x05, 0x10, 0x11, 0x12, 0x13, 0x14, // frame OBU, size 5 (last: size dropped)
	}
	vp8Key := append([]byte{0x50, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01}, bytes.Repeat([]byte{0x77}, 40)...)
	vp8Delta := append([]byte{0x31}, bytes.Repeat([]byte{0x66}, 30)...)
	tests := []struct {
		name   string
		codec  Codec
		frame  []byte
		want   []byte // expected decrypted frame (after sender rewrites)
		ranges int
	}{
		{"opus", CodecOpus, bytes.Repeat([]byte{0xab}, 100), nil, 0},
		{"vp9", CodecVP9, bytes.Repeat([]byte{0x12}, 64), nil, 0},
		{"vp8-key", CodecVP8, vp8Key, nil, 1},
		{"vp8-delta", CodecVP8, vp8Delta, nil, 1},
		{"vp8-short-key", CodecVP8, []byte{0x00, 0x01, 0x02}, nil, 1},
		{"h264", CodecH264, h264, append(append([]byte{0, 0, 0, 1}, h264[4:10]...), append([]byte{0, 0, 0, 1}, h264[13:]...)...), 1},
		{"h265", CodecH265, h265, nil, 1},
		{"av1", CodecAV1, av1, []byte{0x0a, 0x03, 0x01, 0x02, 0x03, 0x30, 0x10, 0x11, 0x12, 0x13, 0x14}, 2},
		{"h264-garbage-fallback", CodecH264, []byte{9, 9, 9, 9, 9, 9}, nil, 0},
		{"av1-malformed-fallback", CodecAV1, []byte{0x0a, 0x09, 0x01}, nil, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := newFakeClock()
			e, d := pair(t, clk)
			want := tc.want
			if want == nil {
				want = tc.frame
			}
			for i := range 5 { // several nonces, incl. H.26x retries
				out, err := e.EncryptCodec(nil, tc.codec, tc.frame)
				if err != nil {
					t.Fatal(err)
				}
				var buf [maxRanges]span
				info, ranges, err := parseFrame(out, buf[:0])
				if err != nil {
					t.Fatalf("frame %d: %v", i, err)
				}
				if len(ranges) != tc.ranges {
					t.Fatalf("ranges %v, want %d", ranges, tc.ranges)
				}
				for _, r := range ranges { // clear bytes are in place
					if !bytes.Equal(info.interleaved[r.off:r.off+r.size], want[r.off:r.off+r.size]) {
						t.Fatalf("range %v not clear", r)
					}
				}
				if tc.codec == CodecH264 || tc.codec == CodecH265 {
					if !validH26x(out, ranges) {
						t.Fatal("start code in encrypted H.26x frame")
					}
				}
				pt, err := d.Decrypt([]byte("prefix"), out)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(pt[6:], want) || string(pt[:6]) != "prefix" {
					t.Fatalf("decrypted %x\nwant      %x", pt, want)
				}
			}
		})
	}
}

func TestH264PPSCoverage(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want int
	}{
		// first_mb=0 (1), slice_type=7 (0001000), pps_id=0 (1): 9 bits -> 2 bytes
		{"idr", []byte{0x88, 0x84, 0x00}, 2},
		{"three-ones", []byte{0xe0}, 1},
		{"emulation-prevention", []byte{0x00, 0x00, 0x03, 0x80, 0x80}, 0},
		{"exhausted", []byte{0x00}, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := bytesCoveringH264PPS(tc.in)
			if tc.name == "emulation-prevention" {
				// 16 zero bits, skip the 03 byte, then 1 → a 16-zero value;
				// 24 zeros in total never reach the 32 limit here.
				if got < 4 {
					t.Fatalf("got %d, expected the 03 byte skipped", got)
				}
				return
			}
			if got != tc.want {
				t.Fatalf("got %d, want %d", got, tc.want)
			}
		})
	}
}

func TestEncryptorModes(t *testing.T) {
	e := NewEncryptor()
	frame := []byte{1, 2, 3, 4}
	if _, err := e.Encrypt(nil, frame); !errors.Is(err, ErrNoKey) {
		t.Fatalf("no key: %v", err)
	}
	e.SetPassthrough(true)
	out, err := e.Encrypt(nil, frame)
	if err != nil || !bytes.Equal(out, frame) || !e.Passthrough() {
		t.Fatalf("passthrough: %x %v", out, err)
	}
	e.SetPassthrough(false)
	e.SetKeyRatchet(testRatchet(t))
	out, err = e.Encrypt(nil, OpusSilence[:])
	if err != nil || !bytes.Equal(out, OpusSilence[:]) {
		t.Fatalf("silence: %x %v", out, err)
	}
	if _, err := e.Encrypt(nil, nil); !errors.Is(err, ErrEmptyFrame) {
		t.Fatalf("empty: %v", err)
	}
	s := e.Stats()
	if s.Passthrough != 1 || s.Silence != 1 || s.Failures != 2 {
		t.Fatalf("stats %+v", s)
	}
}

func TestDecryptorPassthrough(t *testing.T) {
	clk := newFakeClock()
	e, d := pair(t, clk)
	plain := []byte{0xfc, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
	if _, err := d.Decrypt(nil, plain); !errors.Is(err, ErrUnencrypted) {
		t.Fatalf("passthrough off: %v", err)
	}
	if out, err := d.Decrypt(nil, OpusSilence[:]); err != nil || !bytes.Equal(out, OpusSilence[:]) {
		t.Fatalf("silence: %v", err)
	}
	// Turning passthrough off when it was never on grants nothing.
	d.SetPassthrough(false, 10*time.Second)
	if d.CanPassthrough() {
		t.Fatal("passthrough granted by SetPassthrough(false)")
	}
	d.SetPassthrough(true, 0)
	if out, err := d.Decrypt(nil, plain); err != nil || !bytes.Equal(out, plain) {
		t.Fatalf("passthrough on: %x %v", out, err)
	}
	// Encrypted frames still decrypt during passthrough.
	enc, _ := e.Encrypt(nil, plain)
	if out, err := d.Decrypt(nil, enc); err != nil || !bytes.Equal(out, plain) {
		t.Fatalf("encrypted during passthrough: %v", err)
	}
	d.SetPassthrough(false, 10*time.Second)
	clk.Advance(9 * time.Second)
	if _, err := d.Decrypt(nil, plain); err != nil {
		t.Fatalf("within transition expiry: %v", err)
	}
	d.SetPassthrough(false, 30*time.Second) // cannot extend
	clk.Advance(2 * time.Second)
	if _, err := d.Decrypt(nil, plain); !errors.Is(err, ErrUnencrypted) {
		t.Fatalf("after expiry: %v", err)
	}
	if s := d.Stats(); s.Passthrough != 2 || s.Unencrypted != 2 || s.Silence != 1 || s.Decrypted != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestReplayWindow(t *testing.T) {
	clk := newFakeClock()
	e, d := pair(t, clk)
	frames := make([][]byte, 1100)
	for i := range frames {
		frames[i], _ = e.Encrypt(nil, []byte{byte(i), byte(i >> 8), 0xaa})
	}
	mustDecrypt := func(i int, want error) {
		t.Helper()
		_, err := d.Decrypt(nil, frames[i])
		if !errors.Is(err, want) {
			t.Fatalf("frame %d (nonce %d): err %v, want %v", i, i+1, err, want)
		}
	}
	mustDecrypt(5, nil)
	mustDecrypt(2, ErrReplay) // before the first decrypted nonce
	mustDecrypt(5, ErrReplay)
	mustDecrypt(9, nil)
	mustDecrypt(7, nil) // late but in the window
	mustDecrypt(7, ErrReplay)
	mustDecrypt(1011, nil)     // newest nonce 1012
	mustDecrypt(11, nil)       // nonce 12, 1000 behind: still tracked
	mustDecrypt(10, ErrReplay) // nonce 11, 1001 behind: outside the window
	mustDecrypt(12, nil)
	mustDecrypt(1099, nil)
	mustDecrypt(1050, nil)
	mustDecrypt(1050, ErrReplay)
}

func TestPreviousEpochKeys(t *testing.T) {
	clk := newFakeClock()
	e, d := pair(t, clk)
	old, _ := e.Encrypt(nil, []byte("old epoch frame"))
	old2, _ := e.Encrypt(nil, []byte("old epoch frame 2"))

	newBase := unhex(t, "00112233445566778899aabbccddeeff")
	rSend, _ := NewKeyRatchet(newBase)
	rRecv, _ := NewKeyRatchet(newBase)
	e.SetKeyRatchet(rSend)
	d.TransitionToKeyRatchet(rRecv)
	fresh, _ := e.Encrypt(nil, []byte("new epoch frame"))
	if fresh[len(fresh)-4] != 0x01 {
		t.Fatalf("nonce not reset for the new ratchet: %x", fresh)
	}
	if out, err := d.Decrypt(nil, fresh); err != nil || string(out) != "new epoch frame" {
		t.Fatalf("new: %q %v", out, err)
	}
	clk.Advance(9 * time.Second)
	if out, err := d.Decrypt(nil, old); err != nil || string(out) != "old epoch frame" {
		t.Fatalf("old within 10 s: %q %v", out, err)
	}
	clk.Advance(2 * time.Second)
	if _, err := d.Decrypt(nil, old2); err == nil {
		t.Fatal("old epoch frame decrypted after 10 s")
	}
	if len(d.epochs) != 1 {
		t.Fatalf("%d epochs kept", len(d.epochs))
	}
}

func TestNoKeyDecrypt(t *testing.T) {
	clk := newFakeClock()
	e, _ := pair(t, clk)
	d := NewDecryptor(WithClock(clk.Now))
	f, _ := e.Encrypt(nil, []byte{1, 2, 3, 4})
	if _, err := d.Decrypt(nil, f); !errors.Is(err, ErrNoKey) {
		t.Fatalf("got %v", err)
	}
}

// TestGenerations drives the nonce counter across generation boundaries and
// the 32-bit wrap, with the receiver's clock aged enough for the ratchet
// age cap.
func TestGenerations(t *testing.T) {
	clk := newFakeClock()
	e, d := pair(t, clk)
	dec := func(f []byte, want error) {
		t.Helper()
		out, err := d.Decrypt(nil, f)
		if !errors.Is(err, want) {
			t.Fatalf("nonce %x: %v, want %v", f[len(f)-8:], err, want)
		}
		if err == nil && !bytes.Equal(out, []byte("gen")) {
			t.Fatalf("plaintext %q", out)
		}
	}
	f0, _ := e.Encrypt(nil, []byte("gen"))
	dec(f0, nil)

	e.nonce = 1<<24 - 1 // next frame is generation 1
	f1, _ := e.Encrypt(nil, []byte("gen"))
	dec(f1, ErrGenerationTooNew) // ratchet too young for generation 1
	secsPerGen := time.Duration((1<<24)/MaxFramesPerSecond+1) * time.Second
	clk.Advance(secsPerGen)
	dec(f1, nil)
	lateGen0 := func(nonce uint32) []byte { // a generation-0 frame arriving late
		e0, _ := pair(t, clk)
		e0.nonce = nonce - 1
		f, _ := e0.Encrypt(nil, []byte("gen"))
		return f
	}
	dec(lateGen0(1<<24-10), nil) // generation 0 is kept 10 s after generation 1
	dec(lateGen0(1<<24-2000), ErrReplay)
	clk.Advance(11 * time.Second)
	// Generation 0 is erased (expired 10 s after generation 1 decrypted).
	dec(lateGen0(1<<24-20), ErrGenerationExpired)
	if k := d.epochs[0]; k.oldest != 1 || len(k.ciphers) != 1 {
		t.Fatalf("oldest %d, %d ciphers", k.oldest, len(k.ciphers))
	}
	if _, err := k0(d); !errors.Is(err, ErrGenerationExpired) {
		t.Fatalf("generation 0 key: %v", err)
	}

	// Far future generation: more than MaxGenerationGap ahead.
	e.nonce = (1+MaxGenerationGap+1)<<24 - 1
	far, _ := e.Encrypt(nil, []byte("gen"))
	clk.Advance(secsPerGen * 300)
	dec(far, ErrGenerationTooNew)

	// 32-bit wrap: generation 255 -> 256 (wire generation 0).
	clk2 := newFakeClock()
	e2, d2 := pair(t, clk2)
	clk2.Advance(secsPerGen * 260)
	e2.gen, e2.nonce = 0, 0
	steps := []uint32{250 << 24, 255<<24 | 5, math.MaxUint32 - 1}
	d2.epochs[0].newest = 250 // as if generations up to 250 had been seen
	d2.epochs[0].oldest = 250
	for _, n := range steps {
		e2.nonce = n
		f, err := e2.Encrypt(nil, []byte("gen"))
		if err != nil {
			t.Fatal(err)
		}
		if out, err := d2.Decrypt(nil, f); err != nil || string(out) != "gen" {
			t.Fatalf("nonce %#x: %v", n+1, err)
		}
	}
	// Nonce counter wraps to 0: generation 256 with truncated nonce 0.
	f, err := e2.Encrypt(nil, []byte("gen")) // nonce MaxUint32
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d2.Decrypt(nil, f); err != nil {
		t.Fatal(err)
	}
	f, err = e2.Encrypt(nil, []byte("gen")) // nonce 0, generation 256
	if err != nil || e2.gen != 256 {
		t.Fatalf("gen %d, %v", e2.gen, err)
	}
	if out, err := d2.Decrypt(nil, f); err != nil || string(out) != "gen" {
		t.Fatalf("after wrap: %v", err)
	}
}

func k0(d *Decryptor) ([]byte, error) { return d.epochs[0].ratchet.Key(0) }

// TestDecryptorEpochOrder: with several epochs kept, a frame is tried
// under the epoch that opened the last one first, then newest first, so
// a sender's steady frames take one attempt each; old-epoch frames still
// open within RatchetExpiry, replays stay refused, and the remembered
// epoch is forgotten when it expires.
func TestDecryptorEpochOrder(t *testing.T) {
	clk := newFakeClock()
	d := NewDecryptor(WithClock(clk.Now))
	encs := make([]*Encryptor, 4) // one sender's encryptor per epoch
	for i := range encs {
		base := make([]byte, 16)
		base[0] = byte(i + 1)
		rs, _ := NewKeyRatchet(base)
		rr, _ := NewKeyRatchet(base)
		encs[i] = NewEncryptor()
		encs[i].SetKeyRatchet(rs)
		d.TransitionToKeyRatchet(rr)
	}
	frame := func(epoch int) []byte {
		f, err := encs[epoch].Encrypt(nil, []byte{0x78, byte(epoch), 1, 2})
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	steps := []struct {
		name     string
		epoch    int
		replay   []byte // decrypt this instead of a fresh frame
		advance  time.Duration
		attempts uint64
		err      error
	}{
		{name: "newest epoch first", epoch: 3, attempts: 1},
		{name: "then the same", epoch: 3, attempts: 1},
		{name: "an old epoch: the last, then newest first", epoch: 0, attempts: 4},
		{name: "the old epoch again: the last first", epoch: 0, attempts: 1},
		{name: "back to the newest", epoch: 3, attempts: 2},
		{name: "a middle epoch", epoch: 2, attempts: 2},
		{name: "no epoch opens a tampered frame: each tried once", epoch: -1, attempts: 4, err: ErrAuth},
		{name: "the old epochs expire", epoch: 3, advance: RatchetExpiry + time.Second, attempts: 1},
	}
	var replayed []byte
	for _, s := range steps {
		clk.Advance(s.advance)
		var f []byte
		switch {
		case s.epoch < 0:
			f = frame(3)
			f[1] ^= 0xff
		default:
			f = frame(s.epoch)
		}
		before := d.Stats().Attempts
		_, err := d.Decrypt(nil, f)
		if !errors.Is(err, s.err) || err == nil && s.err != nil {
			t.Fatalf("%s: err %v, want %v", s.name, err, s.err)
		}
		if got := d.Stats().Attempts - before; got != s.attempts {
			t.Errorf("%s: %d attempts, want %d", s.name, got, s.attempts)
		}
		if s.epoch == 3 && replayed == nil {
			replayed = f
		}
	}
	if len(d.epochs) != 1 || d.last != d.epochs[0] {
		t.Fatalf("after expiry: %d epochs, last %p (newest %p)", len(d.epochs), d.last, d.epochs[0])
	}
	if _, err := d.Decrypt(nil, replayed); !errors.Is(err, ErrReplay) {
		t.Fatalf("a replayed frame: %v, want ErrReplay", err)
	}
	// The remembered epoch expires: it is forgotten, not tried.
	d.TransitionToKeyRatchet(testRatchet(t))
	clk.Advance(RatchetExpiry + time.Second)
	before := d.Stats().Attempts
	_, _ = d.Decrypt(nil, frame(3))
	if d.last != nil || d.Stats().Attempts-before != 1 {
		t.Fatalf("an expired last epoch: last %p, %d attempts", d.last, d.Stats().Attempts-before)
	}
}
