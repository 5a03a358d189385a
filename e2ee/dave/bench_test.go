package dave

import (
	"bytes"
	"testing"
)

func benchFrames(b *testing.B, codec Codec, frame []byte) {
	clk := newFakeClock()
	e, d := pair(b, clk)
	enc := make([]byte, 0, len(frame)+MaxOverhead+gcmFullTag)
	dec := make([]byte, 0, len(frame)+MaxOverhead)
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		var err error
		enc, err = e.EncryptCodec(enc[:0], codec, frame)
		if err != nil {
			b.Fatal(err)
		}
		dec, err = d.Decrypt(dec[:0], enc)
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOpus100 is encrypt+decrypt of a 100-byte Opus frame (target
// ≤ 1 µs, 0 allocs).
func BenchmarkOpus100(b *testing.B) {
	benchFrames(b, CodecOpus, bytes.Repeat([]byte{0x5a}, 100))
}

// BenchmarkVideo20K is encrypt+decrypt of a 20 KB VP8 key frame (one clear
// range).
func BenchmarkVideo20K(b *testing.B) {
	f := bytes.Repeat([]byte{0x5a}, 20_000)
	f[0] = 0x50
	benchFrames(b, CodecVP8, f)
}

// BenchmarkH264_20K is encrypt+decrypt of a 20 KB H.264 IDR access unit.
func BenchmarkH264_20K(b *testing.B) {
	f := append([]byte{0, 0, 0, 1, 0x67, 0x42, 0, 0x1f, 0, 0, 0, 1, 0x68, 0xce, 0x38, 0x80, 0, 0, 0, 1, 0x65, 0x88, 0x84}, bytes.Repeat([]byte{0x5a}, 20_000-23)...)
	benchFrames(b, CodecH264, f)
}

func BenchmarkCheckFrame(b *testing.B) {
	clk := newFakeClock()
	e, _ := pair(b, clk)
	f, _ := e.Encrypt(nil, bytes.Repeat([]byte{1}, 100))
	b.ReportAllocs()
	for b.Loop() {
		if err := CheckFrame(f); err != nil {
			b.Fatal(err)
		}
	}
}

func TestHotPathNoAlloc(t *testing.T) {
	if testing.Short() {
		t.Skip("alloc counts")
	}
	for _, tc := range []struct {
		name  string
		codec Codec
		frame []byte
	}{
		{"opus", CodecOpus, bytes.Repeat([]byte{0x5a}, 100)},
		{"vp8", CodecVP8, append([]byte{0x50}, bytes.Repeat([]byte{0x5a}, 20_000)...)},
		{"h264", CodecH264, append([]byte{0, 0, 0, 1, 0x65, 0x88, 0x84}, bytes.Repeat([]byte{0x5a}, 2000)...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := newFakeClock()
			e, d := pair(t, clk)
			enc := make([]byte, 0, len(tc.frame)+MaxOverhead+gcmFullTag)
			dec := make([]byte, 0, len(tc.frame)+MaxOverhead)
			run := func() {
				var err error
				if enc, err = e.EncryptCodec(enc[:0], tc.codec, tc.frame); err != nil {
					t.Fatal(err)
				}
				if dec, err = d.Decrypt(dec[:0], enc); err != nil {
					t.Fatal(err)
				}
			}
			run() // warm up buffers and the generation cipher
			if n := testing.AllocsPerRun(200, run); n != 0 {
				t.Fatalf("%v allocs per encrypt+decrypt", n)
			}
		})
	}
}
