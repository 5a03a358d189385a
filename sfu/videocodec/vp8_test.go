package videocodec

import (
	"bytes"
	"errors"
	"testing"

	"github.com/pion/rtp/codecs"
)

// vp8Key320x240 is the start of a libvpx key frame of 320x240: frame tag
// (P=0, version 0, show_frame, first partition size 0x210), start code,
// width and height.
var vp8Key320x240 = []byte{0x50, 0x42, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00, 0xaa, 0xbb}

// vp8Delta is the start of an inter frame (P=1).
var vp8Delta = []byte{0x31, 0x05, 0x00, 0x11, 0x22}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func TestParseVP8(t *testing.T) {
	tests := []struct {
		name    string
		payload []byte
		want    VP8
		err     error
	}{
		{name: "empty", payload: nil, err: ErrShort},
		{name: "descriptor_only", payload: []byte{0x10}, err: ErrShort},
		{name: "x_truncated", payload: []byte{0x90}, err: ErrShort},
		{name: "pid15_truncated", payload: []byte{0x90, 0x80, 0x81}, err: ErrShort},
		{name: "tl0_truncated", payload: []byte{0x90, 0xc0, 0x05}, err: ErrShort},
		{name: "tk_truncated", payload: []byte{0x90, 0x20}, err: ErrShort},
		{
			// pion's VP8Payloader with EnablePictureID (15-bit, like Chrome).
			name:    "chrome_key_pid15",
			payload: cat([]byte{0x90, 0x80, 0x92, 0x34}, vp8Key320x240),
			want: VP8{HeaderLen: 4, S: true, HasPictureID: true, PictureID15: true, PictureID: 0x1234,
				Keyframe: true, Width: 320, Height: 240, pidOff: 2},
		},
		{
			name:    "no_extension_key",
			payload: cat([]byte{0x10}, vp8Key320x240),
			want:    VP8{HeaderLen: 1, S: true, Keyframe: true, Width: 320, Height: 240},
		},
		{
			// libwebrtc with temporal layers: I, L, T set; TID 2, Y.
			name:    "temporal_delta",
			payload: cat([]byte{0x90, 0xe0, 0x81, 0x00, 0x17, 0xa0}, vp8Delta),
			want: VP8{HeaderLen: 6, S: true, HasPictureID: true, PictureID15: true, PictureID: 0x100,
				HasTL0PICIDX: true, TL0PICIDX: 0x17, HasTID: true, TID: 2, Y: true, pidOff: 2, tl0Off: 4, tkOff: 5},
		},
		{
			name:    "all_fields_pid7",
			payload: cat([]byte{0xb0, 0xf0, 0x7f, 0xff, 0x5f}, vp8Delta),
			want: VP8{HeaderLen: 5, N: true, S: true, HasPictureID: true, PictureID: 0x7f,
				HasTL0PICIDX: true, TL0PICIDX: 0xff, HasTID: true, TID: 1, HasKeyIdx: true, KeyIdx: 0x1f,
				pidOff: 2, tl0Off: 3, tkOff: 4},
		},
		{
			name:    "key_continuation_not_keyframe",
			payload: cat([]byte{0x80, 0x80, 0x92, 0x34}, vp8Key320x240),
			want:    VP8{HeaderLen: 4, HasPictureID: true, PictureID15: true, PictureID: 0x1234, pidOff: 2},
		},
		{
			name:    "second_partition_start",
			payload: cat([]byte{0x11}, vp8Key320x240),
			want:    VP8{HeaderLen: 1, S: true, PartitionID: 1},
		},
		{
			// A DAVE-encrypted key frame keeps 10 bytes clear; a short one
			// is still a key frame, without size.
			name:    "key_short_header",
			payload: []byte{0x10, 0x50, 0x42},
			want:    VP8{HeaderLen: 1, S: true, Keyframe: true},
		},
		{
			name:    "k_only",
			payload: cat([]byte{0x90, 0x10, 0x03}, vp8Delta),
			want:    VP8{HeaderLen: 3, S: true, HasKeyIdx: true, KeyIdx: 3, tkOff: 2},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseVP8(tc.payload)
			if !errors.Is(err, tc.err) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if got != tc.want {
				t.Fatalf("got  %+v\nwant %+v", got, tc.want)
			}
			if err == nil {
				checkAgainstPion(t, tc.payload, got)
			}
		})
	}
}

// checkAgainstPion compares a successful parse with pion/rtp's.
func checkAgainstPion(t *testing.T, payload []byte, v VP8) {
	t.Helper()
	var p codecs.VP8Packet
	rest, err := p.Unmarshal(payload)
	if err != nil {
		t.Fatalf("pion rejects what ParseVP8 accepts: %v", err)
	}
	if len(rest) != len(payload)-v.HeaderLen {
		t.Fatalf("header length %d, pion %d", v.HeaderLen, len(payload)-len(rest))
	}
	if v.HasPictureID && p.PictureID != v.PictureID || v.HasTL0PICIDX && p.TL0PICIDX != v.TL0PICIDX ||
		v.HasTID && (p.TID != v.TID || (p.Y == 1) != v.Y) || v.HasKeyIdx && p.KEYIDX != v.KeyIdx ||
		(p.S == 1) != v.S || p.PID != v.PartitionID || (p.N == 1) != v.N {
		t.Fatalf("fields differ from pion's: %+v vs %+v", v, p)
	}
}

// TestVP8PionPayloader parses what pion's payloader makes of a key frame
// and a delta frame: the first packet of the key frame is the only switch
// point and the picture ID advances per frame.
func TestVP8PionPayloader(t *testing.T) {
	key := cat(vp8Key320x240, bytes.Repeat([]byte{0x5a}, 2500))
	delta := cat(vp8Delta, bytes.Repeat([]byte{0x3c}, 700))
	pl := &codecs.VP8Payloader{EnablePictureID: true}
	var pids []uint16
	for fi, frame := range [][]byte{key, delta} {
		pkts := pl.Payload(1200, frame)
		if len(pkts) < 1 {
			t.Fatal("no packets")
		}
		for i, pkt := range pkts {
			v, err := ParseVP8(pkt)
			if err != nil {
				t.Fatalf("frame %d packet %d: %v", fi, i, err)
			}
			checkAgainstPion(t, pkt, v)
			if want := fi == 0 && i == 0; v.SwitchPoint() != want {
				t.Fatalf("frame %d packet %d: SwitchPoint %v", fi, i, v.SwitchPoint())
			}
			if v.FrameStart() != (i == 0) {
				t.Fatalf("frame %d packet %d: FrameStart %v", fi, i, v.FrameStart())
			}
			if i == 0 {
				pids = append(pids, v.PictureID)
			}
		}
	}
	if pids[1] != (pids[0]+1)&0x7fff {
		t.Fatalf("picture IDs %v", pids)
	}
}

func TestVP8Rewrite(t *testing.T) {
	tests := []struct {
		name        string
		payload     []byte
		pid         uint16
		tl0, keyIdx uint8
		want        []byte
	}{
		{
			name:    "pid15_tl0_tid_kept",
			payload: cat([]byte{0x90, 0xe0, 0x81, 0x00, 0x17, 0xa0}, vp8Delta),
			pid:     0x7ffe, tl0: 0x00, keyIdx: 9,
			want: cat([]byte{0x90, 0xe0, 0xff, 0xfe, 0x00, 0xa0}, vp8Delta),
		},
		{
			name:    "pid7_wraps_keyidx_5bit",
			payload: cat([]byte{0xb0, 0xf0, 0x7f, 0xff, 0x5f}, vp8Delta),
			pid:     0x1234, tl0: 0x42, keyIdx: 0x21,
			want: cat([]byte{0xb0, 0xf0, 0x34, 0x42, 0x41}, vp8Delta),
		},
		{
			name:    "no_fields",
			payload: cat([]byte{0x10}, vp8Key320x240),
			pid:     77, tl0: 1, keyIdx: 2,
			want: cat([]byte{0x10}, vp8Key320x240),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := ParseVP8(tc.payload)
			if err != nil {
				t.Fatal(err)
			}
			buf := bytes.Clone(tc.payload)
			if err := v.Rewrite(buf, tc.pid, tc.tl0, tc.keyIdx); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(buf, tc.want) {
				t.Fatalf("got  % x\nwant % x", buf, tc.want)
			}
			again, err := ParseVP8(buf)
			if err != nil {
				t.Fatal(err)
			}
			if again != v {
				t.Fatalf("reparse %+v, descriptor after Rewrite %+v", again, v)
			}
		})
	}
	v, _ := ParseVP8(cat([]byte{0x90, 0x80, 0x92, 0x34}, vp8Delta))
	if err := v.Rewrite([]byte{0x90, 0x80}, 1, 0, 0); !errors.Is(err, ErrMismatch) {
		t.Fatalf("short payload: %v", err)
	}
	var zero VP8
	if err := zero.Rewrite([]byte{1, 2, 3}, 1, 0, 0); !errors.Is(err, ErrMismatch) {
		t.Fatalf("unparsed descriptor: %v", err)
	}
}

func BenchmarkParseVP8(b *testing.B) {
	pkt := cat([]byte{0x90, 0xe0, 0x81, 0x00, 0x17, 0xa0}, vp8Key320x240)
	b.ReportAllocs()
	for b.Loop() {
		v, err := ParseVP8(pkt)
		if err != nil {
			b.Fatal(err)
		}
		if err := v.Rewrite(pkt, v.PictureID+1, v.TL0PICIDX, 0); err != nil {
			b.Fatal(err)
		}
	}
}
