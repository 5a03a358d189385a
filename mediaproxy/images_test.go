package mediaproxy

import (
	"bytes"
	"image"
	"image/color"
	"image/color/palette"
	"image/gif"
	"image/jpeg"
	"image/png"
	"testing"

	"github.com/davidbyttow/govips/v2/vips"
)

// testPicture is a deterministic, photo-like picture: gradients plus a few
// shapes, so perceptual hashes have structure to lock onto.
func testPicture(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			r := uint8(255 * x / w)
			g := uint8(255 * y / h)
			b := uint8(128)
			if (x-w/3)*(x-w/3)+(y-h/2)*(y-h/2) < (h/4)*(h/4) {
				r, g, b = 250, 240, 40
			}
			if x > 2*w/3 && y > h/5 && y < 3*h/5 {
				r, g, b = 20, 30, 200
			}
			img.Set(x, y, color.RGBA{r, g, b, 255})
		}
	}
	return img
}

func encPNG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func encJPEG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func encGIF(t testing.TB, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := gif.Encode(&b, img, &gif.Options{NumColors: 256}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// animatedGIF is four solid-colour-ish frames, 200 ms each, loop forever.
func animatedGIF(t testing.TB, w, h int) []byte {
	t.Helper()
	g := &gif.GIF{LoopCount: 0}
	cols := []color.Color{color.RGBA{255, 0, 0, 255}, color.RGBA{0, 255, 0, 255}, color.RGBA{0, 0, 255, 255}, color.RGBA{255, 255, 0, 255}}
	for i, c := range cols {
		fr := image.NewPaletted(image.Rect(0, 0, w, h), palette.Plan9)
		for y := range h {
			for x := range w {
				if x < w/2 || (x+i*w/8)%(w/2) < w/8 {
					fr.Set(x, y, c)
				} else {
					fr.Set(x, y, color.White)
				}
			}
		}
		g.Image = append(g.Image, fr)
		g.Delay = append(g.Delay, 20)
	}
	var b bytes.Buffer
	if err := gif.EncodeAll(&b, g); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// vipsConvert re-encodes a PNG through libvips into WebP or AVIF.
func vipsConvert(t testing.TB, pngData []byte, f Format) []byte {
	t.Helper()
	if err := StartVips(); err != nil {
		t.Fatal(err)
	}
	img, err := vips.NewImageFromBuffer(pngData)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	var out []byte
	switch f {
	case FormatWebP:
		out, _, err = img.ExportWebp(vips.NewWebpExportParams())
	case FormatAVIF:
		p := vips.NewAvifExportParams()
		p.Effort = 2
		out, _, err = img.ExportAvif(p)
	default:
		t.Fatalf("vipsConvert: %v", f)
	}
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// sourceOf returns a test image of the given format.
func sourceOf(t testing.TB, f Format, w, h int) []byte {
	t.Helper()
	pic := testPicture(w, h)
	switch f {
	case FormatJPEG:
		return encJPEG(t, pic)
	case FormatPNG:
		return encPNG(t, pic)
	case FormatGIF:
		return encGIF(t, pic)
	default:
		return vipsConvert(t, encPNG(t, pic), f)
	}
}

// alphaPicture is a photo-like picture with a varying alpha channel: the
// colours of testPicture plus per-pixel noise, fully transparent in one
// corner, opaque in the middle and translucent between (a sticker or a
// screenshot with a soft shadow).
func alphaPicture(w, h int) *image.NRGBA {
	pic := testPicture(w, h)
	img := image.NewNRGBA(pic.Rect)
	seed := uint32(2463534242)
	for y := range h {
		for x := range w {
			seed ^= seed << 13
			seed ^= seed >> 17
			seed ^= seed << 5
			n := uint8(seed % 16)
			c := pic.RGBAAt(x, y)
			dx, dy := x-w/2, y-h/2
			d := 255 - 255*(dx*dx+dy*dy)/(w*w/4+h*h/4)
			a := uint8(max(0, min(255, 2*d-128)))
			img.SetNRGBA(x, y, color.NRGBA{min(c.R, 255-n) + n, min(c.G, 255-n) + n, min(c.B, 255-n) + n, a})
		}
	}
	return img
}
