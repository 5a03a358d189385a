package voiceproto

import (
	"errors"
	"testing"
)

func TestParseHeader(t *testing.T) {
	tests := []struct {
		name    string
		in      []byte
		want    Header
		wantErr error
	}{
		{
			name: "plain",
			in:   pkt{pt: 120, seq: 0x1234, ts: 0xDEADBEEF, ssrc: 0x01020304, payload: seqBytes(10, 0)}.build(),
			want: Header{Version: 2, PayloadType: 120, Seq: 0x1234, Timestamp: 0xDEADBEEF, SSRC: 0x01020304, HeaderLen: 12, PayloadStart: 12, PayloadEnd: 22},
		},
		{
			name: "marker_csrc_ext_padding",
			in:   pkt{marker: true, pt: 120, seq: 1, ts: 2, ssrc: 3, csrcs: []uint32{1, 2, 3}, ext: true, profile: ExtProfileOneByte, extBody: seqBytes(8, 0), payload: seqBytes(5, 0), padding: 4}.build(),
			want: Header{Version: 2, Padding: true, Extension: true, CC: 3, Marker: true, PayloadType: 120, Seq: 1, Timestamp: 2, SSRC: 3, ExtensionProfile: ExtProfileOneByte, ExtensionLen: 8, HeaderLen: 36, PayloadStart: 36, PayloadEnd: 41},
		},
		{
			name: "header_only",
			in:   pkt{pt: 0}.build(),
			want: Header{Version: 2, HeaderLen: 12, PayloadStart: 12, PayloadEnd: 12},
		},
		{
			name: "padding_whole_payload",
			in:   pkt{pt: 120, padding: 4}.build(),
			want: Header{Version: 2, Padding: true, PayloadType: 120, HeaderLen: 12, PayloadStart: 12, PayloadEnd: 12},
		},
		{name: "short", in: make([]byte, 11), wantErr: ErrShortPacket},
		{name: "version1", in: append([]byte{0x40}, make([]byte, 20)...), wantErr: ErrNotRTP},
		{name: "version3", in: append([]byte{0xC0}, make([]byte, 20)...), wantErr: ErrNotRTP},
		{name: "csrc_past_end", in: append([]byte{0x82, 0x78}, make([]byte, 14)...), wantErr: ErrShortPacket},
		{name: "preamble_past_end", in: append([]byte{0x90, 0x78}, make([]byte, 12)...), wantErr: ErrShortPacket},
		{name: "ext_body_past_end", in: append(append([]byte{0x90, 0x78}, make([]byte, 10)...), 0xBE, 0xDE, 0, 2, 1, 2, 3, 4), wantErr: ErrShortPacket},
		{name: "padding_zero", in: append([]byte{0xA0, 0x78}, make([]byte, 14)...), wantErr: ErrBadPadding},
		{name: "padding_too_big", in: append(append([]byte{0xA0, 0x78}, make([]byte, 12)...), 1, 5), wantErr: ErrBadPadding},
		{name: "padding_no_room", in: append([]byte{0xA0, 0x78}, make([]byte, 10)...), wantErr: ErrBadPadding},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseHeader(tt.in)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err == nil && got != tt.want {
				t.Fatalf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestRTPSizeLen(t *testing.T) {
	for _, s := range shapes {
		h, err := ParseHeader(s.p.build())
		if err != nil {
			t.Fatal(err)
		}
		if h.RTPSizeLen() != s.p.rtpsizeLen() {
			t.Errorf("%s: RTPSizeLen = %d, want %d", s.name, h.RTPSizeLen(), s.p.rtpsizeLen())
		}
	}
}

func FuzzParseHeader(f *testing.F) {
	for _, s := range shapes {
		f.Add(s.p.build())
	}
	f.Add([]byte{0xBF, 0xFF, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseHeader(b)
		if err != nil {
			return
		}
		if h.Version != 2 || h.HeaderLen != h.PayloadStart || h.HeaderLen < 12 ||
			h.PayloadStart > h.PayloadEnd || h.PayloadEnd > len(b) || h.RTPSizeLen() > h.HeaderLen {
			t.Fatalf("inconsistent header %+v for %d bytes", h, len(b))
		}
	})
}

func TestExtension(t *testing.T) {
	// One-byte: id 1 (1 byte), padding, id 3 (2 bytes: a TWCC sequence).
	one := []byte{0x90, 111, 0, 1, 0, 0, 0, 1, 0, 0, 0, 9, 0xBE, 0xDE, 0, 2, 0x10, 0x7F, 0, 0x31, 0x12, 0x34, 0, 0, 0xAA}
	h, err := ParseHeader(one)
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := Extension(one, &h, 3); !ok || len(v) != 2 || v[0] != 0x12 || v[1] != 0x34 {
		t.Fatalf("id 3: %x %v", v, ok)
	}
	if v, ok := Extension(one, &h, 1); !ok || len(v) != 1 || v[0] != 0x7F {
		t.Fatalf("id 1: %x %v", v, ok)
	}
	if _, ok := Extension(one, &h, 5); ok {
		t.Fatal("absent id found")
	}
	// Two-byte profile: id 7, 2 bytes.
	two := []byte{0x90, 111, 0, 1, 0, 0, 0, 1, 0, 0, 0, 9, 0x10, 0x00, 0, 1, 7, 2, 0xAB, 0xCD, 0xEE}
	h, err = ParseHeader(two)
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := Extension(two, &h, 7); !ok || v[0] != 0xAB || v[1] != 0xCD {
		t.Fatalf("two-byte id 7: %x %v", v, ok)
	}
	// An element that runs past the block.
	bad := append([]byte(nil), one...)
	bad[19] = 0x3F // id 3, 16 bytes
	h, _ = ParseHeader(bad)
	if _, ok := Extension(bad, &h, 3); ok {
		t.Fatal("overlong element accepted")
	}
}

func FuzzExtension(f *testing.F) {
	f.Add([]byte{0x90, 111, 0, 1, 0, 0, 0, 1, 0, 0, 0, 9, 0xBE, 0xDE, 0, 1, 0x31, 0x12, 0x34, 0}, uint8(3))
	f.Fuzz(func(t *testing.T, pkt []byte, id uint8) {
		h, err := ParseHeader(pkt)
		if err != nil {
			return
		}
		if v, ok := Extension(pkt, &h, id); ok && len(v) > len(pkt) {
			t.Fatal("extension longer than the packet")
		}
	})
}
