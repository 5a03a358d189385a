package dave

import (
	"bytes"
	"testing"
)

// FuzzULEB128 checks the decoder never panics and round-trips the values it
// accepts.
func FuzzULEB128(f *testing.F) {
	for _, s := range [][]byte{{0}, {0x80, 1}, {0xff, 0xff, 0xff, 0xff, 0x0f}, {0x80}, bytes.Repeat([]byte{0xff}, 11)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, n, err := readULEB128(b)
		if err != nil {
			return
		}
		if n < 1 || n > len(b) || n > maxLEB128Len {
			t.Fatalf("consumed %d of %d", n, len(b))
		}
		enc := appendULEB128(nil, v)
		if w, m, err := readULEB128(enc); err != nil || w != v || m != len(enc) || m != sizeULEB128(v) {
			t.Fatalf("round trip of %d: %x", v, enc)
		}
	})
}

// FuzzCheckFrame checks the footer parser never panics and that accepted
// frames satisfy the dave.md §7 invariants.
func FuzzCheckFrame(f *testing.F) {
	clk := newFakeClock()
	e, _ := pair(f, clk)
	for _, c := range []Codec{CodecOpus, CodecVP8, CodecH264, CodecAV1} {
		fr, _ := e.EncryptCodec(nil, c, []byte{0, 0, 0, 1, 0x65, 0x88, 0x84, 0x00, 0x12, 0x34})
		f.Add(fr)
	}
	f.Add(footer(make([]byte, 20), 0x05, 0x00, 0x04, 0x06, 0x02))
	f.Add([]byte{0xFA, 0xFA})
	f.Fuzz(func(t *testing.T, frame []byte) {
		var buf [maxRanges]span
		info, ranges, err := parseFrame(frame, buf[:0])
		if (err == nil) != IsProtocolFrame(frame) {
			t.Fatal("CheckFrame disagrees with parseFrame")
		}
		if err != nil {
			return
		}
		supp := int(frame[len(frame)-3])
		if len(info.interleaved) != len(frame)-supp || len(info.interleaved) == 0 || len(info.tag) != TagSize {
			t.Fatalf("bad split: %d interleaved of %d", len(info.interleaved), len(frame))
		}
		end := 0
		for _, r := range ranges {
			if r.off < end || r.size < 0 || r.off+r.size > len(info.interleaved) {
				t.Fatalf("range %v accepted (end %d, body %d)", r, end, len(info.interleaved))
			}
			end = r.off + r.size
		}
	})
}

// FuzzDecrypt feeds arbitrary frames (and mutations of valid ones) to a
// keyed Decryptor: it must never panic, and must never return plaintext for
// a frame it did not authenticate unless passthrough is on.
func FuzzDecrypt(f *testing.F) {
	clk := newFakeClock()
	e, _ := pair(f, clk)
	for _, c := range []Codec{CodecOpus, CodecVP8, CodecH264, CodecH265, CodecAV1} {
		fr, _ := e.EncryptCodec(nil, c, []byte{0, 0, 0, 1, 0x65, 0x88, 0x84, 0x00, 0x12, 0x34, 0x0a, 0x01, 0x00})
		f.Add(fr, false)
	}
	f.Add([]byte{1, 2, 3}, true)
	f.Add(OpusSilence[:], false)
	f.Fuzz(func(t *testing.T, frame []byte, passthrough bool) {
		_, d := pair(t, clk)
		if passthrough {
			d.SetPassthrough(true, 0)
		}
		out, err := d.Decrypt(nil, frame)
		if err != nil {
			if len(out) != 0 {
				t.Fatal("output on error")
			}
			return
		}
		if !IsProtocolFrame(frame) && !passthrough && !IsOpusSilence(frame) {
			t.Fatal("unencrypted frame accepted without passthrough")
		}
		if IsProtocolFrame(frame) && len(out) != len(frame)-int(frame[len(frame)-3]) {
			t.Fatalf("plaintext length %d for %d-byte frame", len(out), len(frame))
		}
	})
}

// FuzzEncryptCodecs runs every codec's range builder on arbitrary frames:
// no panics, and what is encrypted decrypts to the builder's frame.
func FuzzEncryptCodecs(f *testing.F) {
	f.Add(uint8(CodecH264), []byte{0, 0, 0, 1, 0x65, 0x88, 0x84, 0x00, 0x12})
	f.Add(uint8(CodecH265), []byte{0, 0, 1, 0x26, 0x01, 0xaf, 0, 0, 1, 0x40, 0x01})
	f.Add(uint8(CodecAV1), []byte{0x12, 0x00, 0x0a, 0x03, 0x01, 0x02, 0x03, 0x32, 0x02, 0x10, 0x11})
	f.Add(uint8(CodecVP8), []byte{0x50, 1, 2})
	clk := newFakeClock()
	f.Fuzz(func(t *testing.T, codec uint8, frame []byte) {
		e, d := pair(t, clk)
		c := Codec(codec % 7)
		out, err := e.EncryptCodec(nil, c, frame)
		if err != nil {
			return
		}
		if IsOpusSilence(frame) && (c == CodecOpus || c == CodecUnknown) {
			return
		}
		if err := CheckFrame(out); err != nil {
			t.Fatalf("encrypted frame fails CheckFrame: %v", err)
		}
		want := frame
		if e.fb.build(c, frame) {
			want = e.fb.buf
		}
		pt, err := d.Decrypt(nil, out)
		if err != nil || !bytes.Equal(pt, want) {
			t.Fatalf("decrypt: %v\n got %x\nwant %x", err, pt, want)
		}
	})
}
