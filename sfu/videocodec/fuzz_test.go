package videocodec

import (
	"bytes"
	"testing"

	"github.com/pion/rtp/codecs"
)

// FuzzParseVP8: no panic; whatever ParseVP8 accepts pion accepts with the
// same fields; Rewrite keeps the size, writes only the descriptor, and a
// reparse reads back what was written.
func FuzzParseVP8(f *testing.F) {
	f.Add(cat([]byte{0x90, 0x80, 0x92, 0x34}, vp8Key320x240), uint16(0x7fff), uint8(3), uint8(31))
	f.Add(cat([]byte{0x90, 0xe0, 0x81, 0x00, 0x17, 0xa0}, vp8Delta), uint16(1), uint8(0), uint8(0))
	f.Add(cat([]byte{0xb0, 0xf0, 0x7f, 0xff, 0x5f}, vp8Delta), uint16(200), uint8(255), uint8(7))
	f.Add([]byte{0x90, 0x80}, uint16(0), uint8(0), uint8(0))
	f.Fuzz(func(t *testing.T, payload []byte, pid uint16, tl0, keyIdx uint8) {
		v, err := ParseVP8(payload)
		var p codecs.VP8Packet
		_, perr := p.Unmarshal(payload)
		if err != nil {
			if perr == nil && len(payload) > 0 && v.HeaderLen == 0 && err != ErrShort {
				t.Fatalf("ParseVP8 %v where pion accepts", err)
			}
			return
		}
		checkAgainstPion(t, payload, v)
		if v.Keyframe && !v.FrameStart() {
			t.Fatal("key frame outside the start of partition 0")
		}
		buf := bytes.Clone(payload)
		if err := v.Rewrite(buf, pid, tl0, keyIdx); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf[v.HeaderLen:], payload[v.HeaderLen:]) || buf[0] != payload[0] {
			t.Fatal("Rewrite touched bytes outside the descriptor fields")
		}
		w, err := ParseVP8(buf)
		if err != nil {
			t.Fatalf("reparse: %v", err)
		}
		if w != v {
			t.Fatalf("reparse %+v, want %+v", w, v)
		}
		if v.HasPictureID && w.PictureID != pid&v.PictureIDMask() || v.HasTL0PICIDX && w.TL0PICIDX != tl0 ||
			v.HasKeyIdx && w.KeyIdx != keyIdx&0x1f {
			t.Fatalf("reparse %+v after Rewrite(%d, %d, %d)", w, pid, tl0, keyIdx)
		}
	})
}

// FuzzParseH264: no panic; an accepted packet is one pion can depacketize
// (except pion's own limits), its flags are consistent.
func FuzzParseH264(f *testing.F) {
	f.Add(h264SPS)
	f.Add(stapA(h264SPS, h264PPS, h264IDR))
	f.Add(fuA(h264IDR, true, false))
	f.Add(fuA(h264Slice, false, true))
	f.Add([]byte{0x78, 0x00, 0x01})
	f.Fuzz(func(t *testing.T, payload []byte) {
		h, err := ParseH264(payload)
		if err != nil {
			if h != (H264{}) {
				t.Fatalf("non-zero result with error %v", err)
			}
			return
		}
		if h.Type == 0 || h.Type > NALFUA || h.FirstNAL == 0 || h.FirstNAL > 23 {
			t.Fatalf("types %+v", h)
		}
		if h.Keyframe && !h.SPS && !h.IDR {
			t.Fatalf("key frame without SPS or IDR: %+v", h)
		}
		if h.SwitchPoint() && !h.Keyframe {
			t.Fatalf("switch point that is no key frame: %+v", h)
		}
		if h.Type != NALFUA && (h.FUStart || h.FUEnd) {
			t.Fatalf("FU bits outside an FU-A: %+v", h)
		}
		if h.Type == NALSTAPA || h.Type == NALFUA && h.FUEnd {
			// pion depacketizes STAP-A and the last fragment of an FU-A
			// it has not seen the start of; it must not reject them.
			var p codecs.H264Packet
			if _, perr := p.Unmarshal(payload); perr != nil && h.Type == NALSTAPA {
				t.Fatalf("pion rejects an accepted STAP-A: %v", perr)
			}
		}
	})
}
