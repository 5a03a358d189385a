package voiceclient

import (
	"bytes"
	"errors"
	"slices"
	"testing"
)

// FuzzReadIVF: any input either reads or fails with ErrIVF, never panics;
// what reads writes back (IVFWriter) to the same header and frames.
func FuzzReadIVF(f *testing.F) {
	var ok bytes.Buffer
	w, _ := NewIVFWriter(&ok, IVFHeader{FourCC: [4]byte{'V', 'P', '8', '0'}, Width: 320, Height: 240, Denominator: 30, Numerator: 1, Frames: 2})
	_ = w.WriteFrame(0, []byte{0x10, 0x02, 0x00})
	_ = w.WriteFrame(1, []byte{0x31})
	f.Add(ok.Bytes())
	f.Add(ok.Bytes()[:40])
	f.Add([]byte("DKIF"))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, frames, err := ReadIVF(bytes.NewReader(b))
		if err != nil {
			if !errors.Is(err, ErrIVF) {
				t.Fatalf("error %v is not ErrIVF", err)
			}
			return
		}
		var out bytes.Buffer
		w, err := NewIVFWriter(&out, h)
		if err != nil {
			t.Fatal(err)
		}
		for _, fr := range frames {
			if err := w.WriteFrame(fr.Timestamp, fr.Data); err != nil {
				t.Fatal(err)
			}
		}
		h2, frames2, err := ReadIVF(&out)
		if err != nil || h2 != h || !slices.EqualFunc(frames, frames2, func(a, c IVFFrame) bool {
			return a.Timestamp == c.Timestamp && bytes.Equal(a.Data, c.Data)
		}) {
			t.Fatalf("round trip: %+v %d frames, %v; want %+v %d frames", h2, len(frames2), err, h, len(frames))
		}
	})
}
