package mediaproxy

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

// heifItems builds an AVIF whose primary item 1 is an av01 image w×h
// and whose item 2, of type typ, is referenced from it by ref (thmb,
// auxl) with its own ispe w2×h2.
func heifItems(w, h uint32, typ, ref string, w2, h2 uint32) []byte {
	u16 := func(v int) []byte { return binary.BigEndian.AppendUint16(nil, uint16(v)) }
	u32 := func(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
	full := []byte{0, 0, 0, 0}
	return append(box("ftyp", []byte("avif"), u32(0), []byte("mif1avif")),
		box("meta", full,
			box("hdlr", full, u32(0), []byte("pict"), make([]byte, 13)),
			box("pitm", full, u16(1)),
			box("iinf", full, u16(2),
				box("infe", []byte{2, 0, 0, 0}, u16(1), u16(0), []byte("av01")),
				box("infe", []byte{2, 0, 0, 0}, u16(2), u16(0), []byte(typ))),
			box("iref", full, box(ref, u16(2), u16(1), u16(1))),
			box("iprp",
				box("ipco", box("ispe", full, u32(w), u32(h)), box("ispe", full, u32(w2), u32(h2))),
				box("ipma", full, u32(2), u16(1), []byte{1, 0x01}, u16(2), []byte{1, 0x02})))...)
}

// TestProbeHEIFWeighsEveryItem: a small primary does not let a huge
// thumbnail or alpha plane through; the largest item is weighed as a
// frame.
func TestProbeHEIFWeighsEveryItem(t *testing.T) {
	cases := []struct {
		name    string
		b       []byte
		items   int64
		limited error
	}{
		{"small thumbnail", heifItems(640, 480, "av01", "thmb", 160, 120), 0, nil},
		{"huge thumbnail", heifItems(64, 64, "av01", "thmb", 30000, 30000), 30000 * 30000, ErrImageBomb},
		{"huge alpha", heifItems(64, 64, "av01", "auxl", 10000, 6000), 10000 * 6000, ErrImageBomb},
		{"alpha within a frame", heifItems(64, 64, "av01", "auxl", 5000, 5000), 5000 * 5000, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := ProbeImage(c.b, 10)
			if err != nil || p.ItemPixels != c.items {
				t.Fatalf("probe %+v %v, want item pixels %d", p, err, c.items)
			}
			if _, err := DefaultLimits().Check(c.b); !errors.Is(err, c.limited) {
				t.Fatalf("limits: %v, want %v", err, c.limited)
			}
		})
	}
}

// hostileILOC is heifWithGrid's file with its iloc replaced: version 0
// with every field size 0, n entries of other items with 65,535 extents
// each (6 bytes apiece), then the grid's.
func hostileILOC(n int) []byte {
	good := heifWithGrid("avif", 64, 64, 64, 64, 32, 32, 2, 2)
	body := []byte{0, 0, 0, 0, 0x00, 0x00}
	body = binary.BigEndian.AppendUint16(body, uint16(n+1))
	for range n {
		body = append(body, 0, 99, 0, 0, 0xff, 0xff) // item 99, ref 0, 65535 extents
	}
	body = append(body, 0, 1, 0, 0, 0, 1)
	i := bytes.Index(good, []byte("iloc")) - 4
	size := int(binary.BigEndian.Uint32(good[i:]))
	meta := bytes.Index(good, []byte("meta")) - 4
	out := append(append(append([]byte(nil), good[:i]...), box("iloc", body)...), good[i+size:]...)
	binary.BigEndian.PutUint32(out[meta:], binary.BigEndian.Uint32(good[meta:])+uint32(len(box("iloc", body))-size))
	return out
}

// TestProbeHEIFBoundedWork: an iloc whose extents read nothing cannot
// make the probe loop: the entries walked never exceed iloc's bytes
// (the work used to be 65,535 steps per 6-byte entry, 0.3 s for 12 KB).
func TestProbeHEIFBoundedWork(t *testing.T) {
	cases := []struct {
		name string
		b    []byte
	}{
		{"one hostile entry", hostileILOC(1)},
		{"2000 hostile entries", hostileILOC(2000)},
		{"good grid", heifWithGrid("avif", 64, 64, 64, 64, 32, 32, 2, 2)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := heifFile{f: FormatAVIF, file: c.b}
			_, err := h.probe()
			if h.steps > len(c.b) {
				t.Fatalf("walked %d iloc entries and extents for a %d-byte file", h.steps, len(c.b))
			}
			if bad := c.name != "good grid"; bad != errors.Is(err, ErrUndecodable) {
				t.Fatalf("err %v", err)
			}
			t.Logf("%d steps, %v", h.steps, err)
		})
	}
}
