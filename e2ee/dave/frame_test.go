package dave

import (
	"errors"
	"math"
	"testing"
)

func TestULEB128(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		v    uint64
		n    int
		err  error
	}{
		{"zero", []byte{0}, 0, 1, nil},
		{"one", []byte{1, 0xff}, 1, 1, nil},
		{"127", []byte{0x7f}, 127, 1, nil},
		{"128", []byte{0x80, 0x01}, 128, 2, nil},
		{"624485", []byte{0xe5, 0x8e, 0x26}, 624485, 3, nil},
		{"non-minimal", []byte{0x81, 0x00}, 1, 2, nil},
		{"max-u64", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, math.MaxUint64, 10, nil},
		{"overflow", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02}, 0, 0, ErrLEB128},
		{"too-long", []byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00}, 0, 0, ErrLEB128},
		{"truncated", []byte{0x80}, 0, 0, ErrLEB128},
		{"empty", nil, 0, 0, ErrLEB128},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, n, err := readULEB128(tc.in)
			if !errors.Is(err, tc.err) || v != tc.v || n != tc.n {
				t.Fatalf("got (%d, %d, %v), want (%d, %d, %v)", v, n, err, tc.v, tc.n, tc.err)
			}
			if err == nil && tc.name != "non-minimal" {
				enc := appendULEB128(nil, v)
				if string(enc) != string(tc.in[:n]) || sizeULEB128(v) != n {
					t.Fatalf("encode %d = %x (size %d)", v, enc, sizeULEB128(v))
				}
			}
		})
	}
}

// footer builds "tag ‖ meta ‖ size ‖ FA FA" after body with a consistent
// size byte.
func footer(body []byte, meta ...byte) []byte {
	f := append([]byte{}, body...)
	f = append(f, make([]byte, TagSize)...)
	f = append(f, meta...)
	return append(f, byte(TagSize+len(meta)+3), 0xFA, 0xFA)
}

func TestCheckFrame(t *testing.T) {
	body := make([]byte, 20)
	tests := []struct {
		name  string
		frame []byte
		err   error
	}{
		{"opus", footer(body, 0x01), nil},
		{"big-nonce", footer(body, 0xff, 0xff, 0xff, 0xff, 0x0f), nil},
		{"one-range", footer(body, 0x05, 0x00, 0x0a), nil},
		{"two-ranges", footer(body, 0x05, 0x00, 0x04, 0x06, 0x02), nil},
		{"adjacent-ranges", footer(body, 0x05, 0x00, 0x04, 0x04, 0x02), nil},
		{"range-to-end", footer(body, 0x05, 0x10, 0x04), nil},
		{"empty", nil, ErrFrameTooShort},
		{"short", []byte{1, 2, 3, 0xFA, 0xFA}, ErrFrameTooShort},
		{"no-marker", append(footer(body, 0x01)[:30], 0xFA, 0xFB), ErrNoMarker},
		{"silence", OpusSilence[:], ErrFrameTooShort},
		{"supp-too-small", func() []byte { f := footer(body, 0x01); f[len(f)-3] = 10; return f }(), ErrSupplementalSize},
		{"supp-equals-size", func() []byte { f := footer(nil, 0x01); return f }(), ErrSupplementalSize},
		{"supp-too-big", func() []byte { f := footer(body, 0x01); f[len(f)-3] = byte(len(f)); return f }(), ErrSupplementalSize},
		{"no-nonce", footer(body), ErrNonce},
		{"truncated-nonce", footer(body, 0x80), ErrNonce},
		{"nonce-over-32-bits", footer(body, 0xff, 0xff, 0xff, 0xff, 0x1f), ErrNonce},
		{"dangling-offset", footer(body, 0x01, 0x00), ErrRanges},
		{"truncated-range", footer(body, 0x01, 0x00, 0x80), ErrRanges},
		{"range-past-end", footer(body, 0x01, 0x10, 0x05), ErrRanges},
		{"offset-past-end", footer(body, 0x01, 0x15, 0x00), ErrRanges},
		{"overlapping", footer(body, 0x01, 0x00, 0x05, 0x04, 0x02), ErrRanges},
		{"descending", footer(body, 0x01, 0x08, 0x01, 0x02, 0x01), ErrRanges},
		{"huge-size", footer(body, 0x01, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01), ErrRanges},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckFrame(tc.frame)
			if !errors.Is(err, tc.err) {
				t.Fatalf("CheckFrame = %v, want %v", err, tc.err)
			}
			if IsProtocolFrame(tc.frame) != (tc.err == nil) {
				t.Fatal("IsProtocolFrame disagrees with CheckFrame")
			}
		})
	}
}

func TestMarkerAndSilence(t *testing.T) {
	if !HasMarker([]byte{1, 0xFA, 0xFA}) || HasMarker([]byte{0xFA}) || HasMarker([]byte{0xFA, 0xFB}) {
		t.Fatal("HasMarker")
	}
	if !IsOpusSilence([]byte{0xF8, 0xFF, 0xFE}) || IsOpusSilence([]byte{0xF8, 0xFF, 0xFE, 0}) || IsOpusSilence([]byte{0xF8, 0xFF}) {
		t.Fatal("IsOpusSilence")
	}
}

func TestCheckFrameNoAlloc(t *testing.T) {
	f := footer(make([]byte, 100), 0x05, 0x00, 0x04, 0x06, 0x02)
	if n := testing.AllocsPerRun(100, func() { _ = CheckFrame(f) }); n != 0 {
		t.Fatalf("CheckFrame allocates %v times", n)
	}
}

func TestWrappedGeneration(t *testing.T) {
	tests := []struct{ oldest, gen8, want uint32 }{
		{0, 0, 0}, {0, 5, 5}, {3, 5, 5}, {250, 255, 255}, {250, 0, 256},
		{250, 3, 259}, {256, 0, 256}, {300, 40, 296 + 256}, {300, 44, 300}, {511, 0, 512},
	}
	for _, tc := range tests {
		if got := wrappedGeneration(tc.oldest, tc.gen8); got != tc.want {
			t.Errorf("wrappedGeneration(%d, %d) = %d, want %d", tc.oldest, tc.gen8, got, tc.want)
		}
	}
}
