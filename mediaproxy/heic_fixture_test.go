package mediaproxy

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/color"
	"os"
	"path/filepath"
	"testing"

	"github.com/davidbyttow/govips/v2/vips"
)

// HEIC test files are committed (testdata/phone.heic, and
// heic_selftest.heic embedded by heic.go), because encoding HEVC needs
// libheif's x265 plugin, which a machine that decodes HEIC may lack.
// PARLEY_REGEN_HEIC=1 rebuilds them with libvips:
//
//	PARLEY_REGEN_HEIC=1 go test -run TestHEICFixtures ./mediaproxy/
const regenHEIC = "PARLEY_REGEN_HEIC"

// phoneHEIC is testdata/phone.heic: markedPicture(96, 64) stored as a
// phone stores a portrait photo, landscape pixels with irot 3 (a quarter
// turn clockwise) and the same turn repeated as EXIF orientation 6, which
// a decoder must not apply a second time. Shown upright it is 64×96 with
// the red block top right.
const phoneW, phoneH = 96, 64

// markedPicture is white with a red block in the top-left corner and a
// green one in the bottom-right corner, so any turn or mirror shows.
func markedPicture(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			c := color.RGBA{255, 255, 255, 255}
			switch {
			case x < w/4 && y < h/4:
				c = color.RGBA{220, 20, 20, 255}
			case x >= 3*w/4 && y >= 3*h/4:
				c = color.RGBA{20, 160, 20, 255}
			}
			img.Set(x, y, c)
		}
	}
	return img
}

func solidPicture(w, h int, c [3]float64) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(c[0]), uint8(c[1]), uint8(c[2]), 255})
		}
	}
	return img
}

// encodeHEIC encodes pic as HEIC (HEVC) with libvips; orientation, when
// not 0, is written as EXIF (libvips 8.14 writes no irot).
func encodeHEIC(t *testing.T, pic image.Image, orientation int) []byte {
	t.Helper()
	if err := StartVips(); err != nil {
		t.Fatal(err)
	}
	img, err := vips.NewImageFromBuffer(encPNG(t, pic))
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	if orientation != 0 {
		if err := img.SetOrientation(orientation); err != nil {
			t.Fatal(err)
		}
	}
	p := vips.NewHeifExportParams()
	p.Quality, p.Effort = 60, 0
	out, _, err := img.ExportHeif(p)
	if err != nil {
		t.Skipf("libvips cannot encode HEIC here (libheif without x265?): %v", err)
	}
	if Sniff(out) != FormatHEIC {
		t.Fatalf("libvips wrote %q, not HEIC", out[:min(len(out), 24)])
	}
	return out
}

// box is a box header plus body, for rebuilding files in tests.
func box(typ string, body ...[]byte) []byte {
	n := 8
	for _, b := range body {
		n += len(b)
	}
	out := binary.BigEndian.AppendUint32(nil, uint32(n))
	out = append(out, typ...)
	for _, b := range body {
		out = append(out, b...)
	}
	return out
}

// withIrot adds an irot property (angle: anticlockwise quarter turns) to
// the primary item of a libvips-written HEIF: ipco gets the box, the
// primary's ipma entry its index, and iloc's file offsets move by the
// growth of meta. It handles what libvips writes (ipma version 0 with
// 8-bit indices, iloc version 0 with a 4-byte base offset), nothing more.
func withIrot(t *testing.T, file []byte, angle byte) []byte {
	t.Helper()
	var out, meta []byte
	var metaStart int
	pos := 0
	err := eachBox(file, FormatHEIC, func(x heifBox) error {
		if binary.BigEndian.Uint32(file[pos:]) < 8 {
			t.Fatal("a large or open-ended box: not what libvips writes")
		}
		start := pos
		pos += 8 + len(x.body)
		if x.typ != "meta" {
			out = append(out, file[start:pos]...)
			return nil
		}
		metaStart = start
		var h heifFile
		h.f = FormatHEIC
		if err := eachBox(x.body[4:], FormatHEIC, h.metaChild); err != nil {
			return err
		}
		irotIndex := byte(len(h.props) + 1)
		var children [][]byte
		err := eachBox(x.body[4:], FormatHEIC, func(c heifBox) error {
			if c.typ != "iprp" {
				children = append(children, box(c.typ, c.body))
				return nil
			}
			var iprp [][]byte
			err := eachBox(c.body, FormatHEIC, func(p heifBox) error {
				switch p.typ {
				case "ipco":
					iprp = append(iprp, box("ipco", p.body, box("irot", []byte{angle})))
				case "ipma":
					iprp = append(iprp, box("ipma", ipmaWith(t, p.body, h.primary, 0x80|irotIndex)))
				default:
					iprp = append(iprp, box(p.typ, p.body))
				}
				return nil
			})
			children = append(children, box("iprp", iprp...))
			return err
		})
		meta = box("meta", append([][]byte{x.body[:4]}, children...)...)
		out = append(out, meta...)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return shiftILOC(t, out, metaStart, len(meta)-metaLen(file, metaStart))
}

func metaLen(file []byte, at int) int { return int(binary.BigEndian.Uint32(file[at:])) }

// ipmaWith appends property index idx to item id's entry.
func ipmaWith(t *testing.T, body []byte, id uint32, idx byte) []byte {
	t.Helper()
	if body[0] != 0 || body[3]&1 != 0 {
		t.Fatalf("ipma version %d flags %d: not what libvips writes", body[0], body[3])
	}
	out := append([]byte{}, body[:8]...)
	n := binary.BigEndian.Uint32(body[4:])
	p := 8
	for range n {
		item := uint32(binary.BigEndian.Uint16(body[p:]))
		cnt := int(body[p+2])
		entry := body[p : p+3+cnt]
		if item == id {
			entry = append(append([]byte{}, entry...), idx)
			entry[2]++
		}
		out = append(out, entry...)
		p += 3 + cnt
	}
	return out
}

// shiftILOC adds delta to every iloc base offset past metaStart.
func shiftILOC(t *testing.T, file []byte, metaStart, delta int) []byte {
	t.Helper()
	i := bytes.Index(file[metaStart:], []byte("iloc"))
	if i < 0 {
		t.Fatal("no iloc")
	}
	p := metaStart + i + 4
	if file[p] != 0 || file[p+4] != 0x44 || file[p+5] != 0x40 {
		t.Fatalf("iloc version %d sizes %x %x: not what libvips writes", file[p], file[p+4], file[p+5])
	}
	n := int(binary.BigEndian.Uint16(file[p+6:]))
	q := p + 8
	for range n {
		base := binary.BigEndian.Uint32(file[q+4:])
		if int(base) > metaStart {
			binary.BigEndian.PutUint32(file[q+4:], base+uint32(delta))
		}
		extents := int(binary.BigEndian.Uint16(file[q+8:]))
		q += 10 + 8*extents
	}
	return file
}

func readFixture(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (regenerate with %s=1)", err, regenHEIC)
	}
	return b
}

// TestHEICFixtures regenerates the committed HEIC files on request and
// always checks what they are: small, and probed as described above.
func TestHEICFixtures(t *testing.T) {
	phone := filepath.Join("testdata", "phone.heic")
	if os.Getenv(regenHEIC) == "1" {
		sample := encodeHEIC(t, solidPicture(16, 16, heicSampleRGB), 0)
		p := withIrot(t, encodeHEIC(t, markedPicture(phoneW, phoneH), 6), 3)
		if err := os.WriteFile("heic_selftest.heic", sample, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(phone, p, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		path         string
		w, h, orient int
	}{
		{"heic_selftest.heic", 16, 16, 0},
		{phone, phoneW, phoneH, 6},
	} {
		b := readFixture(t, c.path)
		if len(b) > 20<<10 {
			t.Fatalf("%s: %d bytes, keep it under 20 KB", c.path, len(b))
		}
		p, err := ProbeImage(b, 10)
		if err != nil || p.Format != FormatHEIC || p.Width != c.w || p.Height != c.h || p.Orientation != c.orient {
			t.Fatalf("%s: probe %+v %v", c.path, p, err)
		}
	}
	if !bytes.Equal(readFixture(t, "heic_selftest.heic"), heicSample) {
		t.Fatal("heic_selftest.heic changed: rebuild the package")
	}
}
