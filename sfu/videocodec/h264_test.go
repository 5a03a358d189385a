package videocodec

import (
	"bytes"
	"errors"
	"testing"

	"github.com/pion/rtp/codecs"
)

// NAL units as a libwebrtc/OpenH264 constrained-baseline encoder emits
// them (first bytes; slices padded to size in the tests).
var (
	h264SPS      = []byte{0x67, 0x42, 0xc0, 0x1f, 0x8c, 0x8d, 0x40, 0x50, 0x1e, 0xd0, 0x0f, 0x08, 0x84, 0x6a}
	h264PPS      = []byte{0x68, 0xce, 0x3c, 0x80}
	h264AUD      = []byte{0x09, 0xf0}
	h264IDR      = []byte{0x65, 0x88, 0x84, 0x00, 0x33, 0xff} // first_mb_in_slice 0
	h264IDR2     = []byte{0x65, 0x00, 0x98, 0x84, 0x00, 0x33} // a later slice of the same picture
	h264Slice    = []byte{0x41, 0x9a, 0x02, 0x04, 0x58}       // P slice, first_mb 0
	h264SliceMid = []byte{0x41, 0x01, 0xe2, 0x04, 0x58}       // P slice, first_mb > 0
)

func stapA(nals ...[]byte) []byte {
	out := []byte{0x78} // F=0, NRI=3, type 24
	for _, n := range nals {
		out = append(out, byte(len(n)>>8), byte(len(n)))
		out = append(out, n...)
	}
	return out
}

// fuA fragments nal: start, middle or end (RFC 6184 §5.8).
func fuA(nal []byte, s, e bool) []byte {
	hdr := nal[0]&0x60 | NALFUA
	fu := nal[0] & 0x1f
	if s {
		fu |= 0x80
	}
	if e {
		fu |= 0x40
	}
	return cat([]byte{hdr, fu}, nal[1:])
}

func TestParseH264(t *testing.T) {
	tests := []struct {
		name    string
		payload []byte
		want    H264
		err     error
	}{
		{name: "empty", err: ErrShort},
		{name: "forbidden_bit", payload: []byte{0xe5, 0x88}, err: ErrMalformed},
		{name: "reserved_0", payload: []byte{0x00, 0x01}, err: ErrUnsupported},
		{name: "reserved_30", payload: []byte{0x1e, 0x01}, err: ErrUnsupported},
		{name: "stap_b", payload: []byte{0x19, 0x00, 0x01, 0x00, 0x01, 0x65}, err: ErrUnsupported},
		{name: "fu_b", payload: []byte{0x1d, 0x85, 0x00, 0x01, 0x88}, err: ErrUnsupported},
		{name: "mtap16", payload: []byte{0x1a, 0x00}, err: ErrUnsupported},
		{name: "stap_a_empty", payload: []byte{0x78}, err: ErrShort},
		{name: "stap_a_half_size", payload: []byte{0x78, 0x00}, err: ErrShort},
		{name: "stap_a_overrun", payload: []byte{0x78, 0x00, 0x05, 0x67, 0x42}, err: ErrShort},
		{name: "stap_a_zero_size", payload: []byte{0x78, 0x00, 0x00, 0x00, 0x01, 0x67}, err: ErrMalformed},
		{name: "stap_a_forbidden_inner", payload: []byte{0x78, 0x00, 0x01, 0xe7}, err: ErrMalformed},
		{name: "stap_a_nested", payload: []byte{0x78, 0x00, 0x02, 0x78, 0x00}, err: ErrMalformed},
		{name: "fu_a_short", payload: []byte{0x7c, 0x85}, err: ErrShort},
		{name: "fu_a_start_and_end", payload: []byte{0x7c, 0xc5, 0x88}, err: ErrMalformed},
		{name: "fu_a_type_0", payload: []byte{0x7c, 0x80, 0x88}, err: ErrMalformed},
		{name: "fu_a_type_stap", payload: []byte{0x7c, 0x98, 0x88}, err: ErrMalformed},
		{
			name:    "single_sps",
			payload: h264SPS,
			want:    H264{Type: NALSPS, FirstNAL: NALSPS, SPS: true, Keyframe: true, FrameStart: true},
		},
		{
			name:    "single_pps",
			payload: h264PPS,
			want:    H264{Type: NALPPS, FirstNAL: NALPPS, PPS: true, FrameStart: true},
		},
		{
			name:    "single_idr",
			payload: h264IDR,
			want:    H264{Type: NALIDR, FirstNAL: NALIDR, IDR: true, Keyframe: true, FrameStart: true},
		},
		{
			name:    "single_idr_later_slice",
			payload: h264IDR2,
			want:    H264{Type: NALIDR, FirstNAL: NALIDR, IDR: true, Keyframe: true},
		},
		{
			name:    "single_idr_header_only",
			payload: h264IDR[:1],
			want:    H264{Type: NALIDR, FirstNAL: NALIDR, IDR: true, Keyframe: true},
		},
		{
			name:    "single_p",
			payload: h264Slice,
			want:    H264{Type: NALSlice, FirstNAL: NALSlice, FrameStart: true},
		},
		{
			name:    "single_p_mid",
			payload: h264SliceMid,
			want:    H264{Type: NALSlice, FirstNAL: NALSlice},
		},
		{
			name:    "stap_a_sps_pps_idr",
			payload: stapA(h264SPS, h264PPS, h264IDR),
			want: H264{Type: NALSTAPA, FirstNAL: NALSPS, SPS: true, PPS: true, IDR: true,
				Keyframe: true, FrameStart: true},
		},
		{
			name:    "stap_a_aud_p",
			payload: stapA(h264AUD, h264Slice),
			want:    H264{Type: NALSTAPA, FirstNAL: NALAUD, FrameStart: true},
		},
		{
			name:    "fu_a_idr_start",
			payload: fuA(h264IDR, true, false),
			want:    H264{Type: NALFUA, FirstNAL: NALIDR, FUStart: true, IDR: true, Keyframe: true, FrameStart: true},
		},
		{
			name:    "fu_a_idr_middle",
			payload: fuA(h264IDR, false, false),
			want:    H264{Type: NALFUA, FirstNAL: NALIDR, IDR: true},
		},
		{
			name:    "fu_a_idr_end",
			payload: fuA(h264IDR, false, true),
			want:    H264{Type: NALFUA, FirstNAL: NALIDR, FUEnd: true, IDR: true},
		},
		{
			name:    "fu_a_p_start",
			payload: fuA(h264Slice, true, false),
			want:    H264{Type: NALFUA, FirstNAL: NALSlice, FUStart: true, FrameStart: true},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseH264(tc.payload)
			if !errors.Is(err, tc.err) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if got != tc.want {
				t.Fatalf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func annexB(nals ...[]byte) []byte {
	var out []byte
	for _, n := range nals {
		out = append(out, 0, 0, 0, 1)
		out = append(out, n...)
	}
	return out
}

// TestH264PionPayloader parses what pion's payloader (STAP-A for SPS and
// PPS, FU-A above the MTU) makes of a key frame and a delta frame, and
// checks the result with pion's depacketizer: exactly the first packet of
// the key frame is a switch point, a frame's first packet starts a frame
// and no packet inside a slice does.
func TestH264PionPayloader(t *testing.T) {
	idr := cat(h264IDR, bytes.Repeat([]byte{0x5a}, 3000))
	p := cat(h264Slice, bytes.Repeat([]byte{0x3c}, 900))
	pl := &codecs.H264Payloader{}
	frames := [][]byte{annexB(h264SPS, h264PPS, idr), annexB(p), annexB(h264AUD, p)}
	for fi, frame := range frames {
		pkts := pl.Payload(1200, frame)
		if len(pkts) < 1 {
			t.Fatalf("frame %d: no packets", fi)
		}
		var depack codecs.H264Packet
		for i, pkt := range pkts {
			h, err := ParseH264(pkt)
			if err != nil {
				t.Fatalf("frame %d packet %d (% x): %v", fi, i, pkt[:min(8, len(pkt))], err)
			}
			if _, err := depack.Unmarshal(pkt); err != nil {
				t.Fatalf("pion rejects frame %d packet %d: %v", fi, i, err)
			}
			if want := fi == 0 && i == 0; h.SwitchPoint() != want {
				t.Fatalf("frame %d packet %d: SwitchPoint %v (%+v)", fi, i, h.SwitchPoint(), h)
			}
			// pion sends SPS+PPS as a STAP-A, then the IDR slice.
			if h.FrameStart != (i == 0 || fi == 0 && i == 1) {
				t.Fatalf("frame %d packet %d: FrameStart %v (%+v)", fi, i, h.FrameStart, h)
			}
			if fi == 0 && !h.IDR && !h.SPS && !h.PPS {
				t.Fatalf("key frame packet %d: %+v", i, h)
			}
		}
	}
}

func BenchmarkParseH264(b *testing.B) {
	pkt := stapA(h264SPS, h264PPS, h264IDR)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseH264(pkt); err != nil {
			b.Fatal(err)
		}
	}
}
