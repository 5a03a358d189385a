package mediaproxy

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"image"
	"image/png"
	"testing"

	"github.com/davidbyttow/govips/v2/vips"
)

// orientedPNG inserts an eXIf chunk holding an EXIF orientation after a
// PNG's IHDR.
func orientedPNG(t *testing.T, src []byte, orientation int) []byte {
	t.Helper()
	exif := []byte{'M', 'M', 0, 42, 0, 0, 0, 8, // big-endian TIFF, IFD at 8
		0, 1, // one entry: Orientation, SHORT, 1 value
		0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, byte(orientation), 0, 0,
		0, 0, 0, 0} // no next IFD
	chunk := binary.BigEndian.AppendUint32(nil, uint32(len(exif)))
	chunk = append(append(chunk, "eXIf"...), exif...)
	chunk = binary.BigEndian.AppendUint32(chunk, crc32.ChecksumIEEE(chunk[4:]))
	const ihdrEnd = 8 + 4 + 4 + 13 + 4 // signature, then IHDR's length, type, data, CRC
	out := append(append(append([]byte{}, src[:ihdrEnd]...), chunk...), src[ihdrEnd:]...)
	img, err := vips.NewImageFromBuffer(out)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	if img.Orientation() != orientation {
		t.Fatalf("libvips reads orientation %d from the eXIf chunk, not %d", img.Orientation(), orientation)
	}
	return out
}

// overWhite decodes a PNG and composites it on white, 8 bits per channel.
func overWhite(t *testing.T, data []byte) image.Image {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	b := img.Bounds()
	out := image.NewRGBA(b)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, a := img.At(x, y).RGBA() // premultiplied, 16 bits
			i := out.PixOffset(x, y)
			for k, c := range [3]uint32{r, g, bl} {
				out.Pix[i+k] = uint8((c + 0xffff - a) >> 8)
			}
			out.Pix[i+3] = 255
		}
	}
	return out
}

// TestLoadPNGMatchesThumbnail: the PNG path gives the dimensions libvips'
// thumbnail gives, for alpha and opaque sources, every box shape, shrink
// and growth, and a quarter-turn orientation, and pixels that composite to
// within rounding of thumbnail's.
func TestLoadPNGMatchesThumbnail(t *testing.T) {
	if err := StartVips(); err != nil {
		t.Fatal(err)
	}
	alpha := encPNG(t, alphaPicture(300, 200))
	sources := []struct {
		name string
		src  []byte
	}{
		{"alpha", alpha},
		{"alpha_tall", encPNG(t, alphaPicture(120, 410))},
		{"alpha_strip", encPNG(t, alphaPicture(1000, 3))},
		{"alpha_oriented_6", orientedPNG(t, alpha, 6)},
		{"alpha_oriented_3", orientedPNG(t, alpha, 3)},
		{"opaque", encPNG(t, testPicture(300, 200))},
	}
	boxes := []struct {
		w, h int
		size vips.Size
	}{
		{100, vipsMaxCoord, vips.SizeDown},
		{vipsMaxCoord, 50, vips.SizeDown},
		{64, 64, vips.SizeDown},
		{MaxDimension, MaxDimension, vips.SizeDown},
		{500, vipsMaxCoord, vips.SizeBoth},
		{7, vipsMaxCoord, vips.SizeDown},
	}
	for _, s := range sources {
		for _, b := range boxes {
			t.Run(fmt.Sprintf("%s/%dx%d/%d", s.name, b.w, b.h, b.size), func(t *testing.T) {
				ref, err := vips.LoadThumbnailFromBuffer(s.src, b.w, b.h, vips.InterestingNone, b.size, vips.NewImportParams())
				if err != nil {
					t.Fatal(err)
				}
				defer ref.Close()
				got, err := loadPNG(s.src, b.w, b.h, b.size)
				if err != nil {
					t.Fatal(err)
				}
				defer got.Close()
				if got.Width() != ref.Width() || got.Height() != ref.Height() {
					t.Fatalf("%dx%d, thumbnail gives %dx%d", got.Width(), got.Height(), ref.Width(), ref.Height())
				}
				if got.Bands() != ref.Bands() || got.BandFormat() != ref.BandFormat() {
					t.Fatalf("%d bands of %v, thumbnail gives %d of %v", got.Bands(), got.BandFormat(), ref.Bands(), ref.BandFormat())
				}
				p := &vips.PngExportParams{Compression: 1}
				gb, _, err := got.ExportPng(p)
				if err != nil {
					t.Fatal(err)
				}
				rb, _, err := ref.ExportPng(p)
				if err != nil {
					t.Fatal(err)
				}
				gi, ri := overWhite(t, gb), overWhite(t, rb)
				var sum, far, n int
				bd := gi.Bounds()
				for y := bd.Min.Y; y < bd.Max.Y; y++ {
					for x := bd.Min.X; x < bd.Max.X; x++ {
						a, r := rgbAt(gi, x, y), rgbAt(ri, x, y)
						for k := range 3 {
							d := max(a[k]-r[k], r[k]-a[k])
							sum, n = sum+d, n+1
							if d > 8 {
								far++
							}
						}
					}
				}
				// Lanczos ringing at hard edges clips differently in 8 bits
				// than in float: a few samples may differ by more.
				if mean := float64(sum) / float64(n); mean > 1.5 || far > 1+n/200 {
					t.Fatalf("composited on white, differs from thumbnail by %.2f levels on average, by more than 8 in %d of %d samples", mean, far, n)
				}
			})
		}
	}
}

func TestThumbnailShrink(t *testing.T) {
	for _, c := range []struct {
		w, h, bw, bh int
		size         vips.Size
		hs, vs       float64
	}{
		{2560, 1600, 500, vipsMaxCoord, vips.SizeDown, 5.12, 5.12},
		{1600, 2560, 500, 500, vips.SizeDown, 5.12, 5.12},
		{300, 200, 600, 600, vips.SizeDown, 1, 1},
		{300, 200, 600, vipsMaxCoord, vips.SizeBoth, 0.5, 0.5},
		{300, 200, 600, vipsMaxCoord, vips.SizeUp, 0.5, 0.5},
		{3000, 200, 100, 100, vips.SizeUp, 1, 1},
		{10000, 2, 50, vipsMaxCoord, vips.SizeDown, 200, 2},
	} {
		hs, vs := thumbnailShrink(c.w, c.h, c.bw, c.bh, c.size)
		if hs != c.hs || vs != c.vs {
			t.Errorf("%dx%d into %dx%d (size %d): shrink %g, %g; want %g, %g", c.w, c.h, c.bw, c.bh, c.size, hs, vs, c.hs, c.vs)
		}
	}
}
