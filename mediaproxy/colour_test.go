package mediaproxy

import (
	"bytes"
	"context"
	"image"
	"image/jpeg"
	"strings"
	"testing"
	"time"

	"github.com/davidbyttow/govips/v2/vips"
)

// withProfile converts an sRGB JPEG into the colour space of profile (a
// libvips built-in name such as "p3" or "cmyk", or a govips path token)
// and embeds that profile.
func withProfile(t testing.TB, src []byte, profile string) []byte {
	t.Helper()
	if err := StartVips(); err != nil {
		t.Fatal(err)
	}
	img, err := vips.NewImageFromBuffer(src)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	if err := img.TransformICCProfileWithFallback(profile, vips.SRGBIEC6196621ICCProfilePath); err != nil {
		t.Fatal(err)
	}
	p := vips.NewJpegExportParams()
	p.StripMetadata, p.Quality = false, 95
	out, _, err := img.ExportJpeg(p)
	if err != nil {
		t.Fatal(err)
	}
	chk, err := vips.NewImageFromBuffer(out)
	if err != nil {
		t.Fatal(err)
	}
	defer chk.Close()
	if !chk.HasICCProfile() {
		t.Fatalf("%s source has no embedded profile", profile)
	}
	return out
}

// pixelAt decodes a JPEG and returns the colour at (x, y) as 8-bit RGB.
func pixelAt(t *testing.T, b []byte, x, y int) [3]int {
	t.Helper()
	img, err := jpeg.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := img.(*image.CMYK); ok {
		t.Fatal("output is a CMYK JPEG")
	}
	r, g, bl, _ := img.At(x, y).RGBA()
	return [3]int{int(r >> 8), int(g >> 8), int(bl >> 8)}
}

func near(a, b [3]int, tol int) bool {
	for i := range a {
		if d := a[i] - b[i]; d > tol || d < -tol {
			return false
		}
	}
	return true
}

func hasProfile(t *testing.T, b []byte) bool {
	t.Helper()
	img, err := vips.NewImageFromBuffer(b)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	return img.HasICCProfile()
}

// asSRGB renders a profiled source to sRGB at full size with libvips'
// own transform: the reference the pipeline's output must match.
func asSRGB(t *testing.T, src []byte) []byte {
	t.Helper()
	img, err := vips.NewImageFromBuffer(src)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	if err := img.TransformICCProfileWithFallback(vips.SRGBIEC6196621ICCProfilePath, vips.SRGBIEC6196621ICCProfilePath); err != nil {
		t.Fatal(err)
	}
	p := vips.NewJpegExportParams()
	p.StripMetadata, p.Quality = true, 95
	out, _, err := img.ExportJpeg(p)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestPipelineColour checks the colour step: sRGB-profiled, wide-gamut
// (Display P3) and CMYK sources all come out as sRGB matching libvips' own
// full-size transform, and no output carries a profile. The samples are
// inside the yellow disc and the blue box of testPicture (uniform areas,
// so scaling does not move them).
func TestPipelineColour(t *testing.T) {
	const w, h = 240, 160
	plain := sourceOf(t, FormatJPEG, w, h)
	opts := mustOpts(t, "width=120&format=jpeg&quality=95", "")
	yellow, blue := image.Pt(40, 40), image.Pt(100, 30) // in the 120×80 output
	for _, c := range []struct {
		profile string
		tol     int
	}{
		{vips.SRGBIEC6196621ICCProfilePath, 4},
		{"p3", 4},
		// libvips' thumbnail converts CMYK itself, with relative
		// colorimetric intent where the reference uses perceptual, which
		// differs by up to ~25 levels on these out-of-gamut colours; a
		// CMYK source left unconverted would not decode as RGB at all.
		{"cmyk", 32},
	} {
		profile := c.profile
		t.Run(strings.Trim(profile, "\x00"), func(t *testing.T) {
			src := withProfile(t, plain, profile)
			ref := asSRGB(t, src)
			res, err := Process(context.Background(), src, opts, DefaultLimits(), 10*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if hasProfile(t, res.Body) {
				t.Fatal("output keeps an ICC profile")
			}
			for _, pt := range []image.Point{yellow, blue} {
				got, want := pixelAt(t, res.Body, pt.X, pt.Y), pixelAt(t, ref, 2*pt.X, 2*pt.Y)
				if !near(got, want, c.tol) {
					t.Fatalf("at %v: %v, want about %v", pt, got, want)
				}
			}
		})
	}
	// P3 numbers differ from sRGB's, so the check above would catch a
	// pipeline that dropped a non-sRGB profile without converting.
	p3 := withProfile(t, plain, "p3")
	if a, b := pixelAt(t, p3, 2*yellow.X, 2*yellow.Y), pixelAt(t, plain, 2*yellow.X, 2*yellow.Y); near(a, b, 4) {
		t.Fatalf("P3 yellow %v is indistinguishable from sRGB %v: the test would not catch a skipped transform", a, b)
	}
}

// TestSRGBProfileSkipsTransform checks that an sRGB-profiled source gives
// exactly what the bare thumbnail-and-encode gives: no transform ran.
func TestSRGBProfileSkipsTransform(t *testing.T) {
	src := withProfile(t, sourceOf(t, FormatJPEG, 240, 160), vips.SRGBIEC6196621ICCProfilePath)
	res, err := Process(context.Background(), src, mustOpts(t, "width=120&format=jpeg&quality=90", ""), DefaultLimits(), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	img, err := vips.LoadThumbnailFromBuffer(src, 120, vipsMaxCoord, vips.InterestingNone, vips.SizeDown, vips.NewImportParams())
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	p := vips.NewJpegExportParams()
	p.StripMetadata, p.Quality, p.Interlace, p.OptimizeCoding = true, 90, false, true
	bare, _, err := img.ExportJpeg(p)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(res.Body, bare) {
		t.Fatalf("pipeline output (%d B) differs from the untransformed bare output (%d B)", len(res.Body), len(bare))
	}
}

// exifMake is a camera make planted in test EXIF; no output may carry it.
const exifMake = "ParleySecretCam"

// exifOriented inserts an APP1 Exif segment (IFD0: Make = exifMake,
// Orientation = o) right after the JPEG's SOI.
func exifOriented(jpg []byte, o uint16) []byte {
	mk := append([]byte(exifMake), 0)
	tiff := []byte{'M', 'M', 0, 42, 0, 0, 0, 8, // big-endian TIFF header, IFD0 at 8
		0, 2, // two entries, sorted by tag
		0x01, 0x0F, 0, 2, 0, 0, 0, byte(len(mk)), 0, 0, 0, 38, // Make, ASCII, at offset 38
		0x01, 0x12, 0, 3, 0, 0, 0, 1, byte(o >> 8), byte(o), 0, 0, // Orientation, SHORT
		0, 0, 0, 0} // no next IFD
	seg := append(append([]byte("Exif\x00\x00"), tiff...), mk...)
	app1 := append([]byte{0xFF, 0xE1, byte((len(seg) + 2) >> 8), byte(len(seg) + 2)}, seg...)
	return append(append(append([]byte{}, jpg[:2]...), app1...), jpg[2:]...)
}

// TestPipelineAutoRotatesAndStrips: an orientation-6 640×480 JPEG comes
// out 480×640, with no orientation left for viewers to apply again and
// none of the source's EXIF. (libvips 8.14's WebP saver writes a minimal
// EXIF block rebuilt from the image, orientation 1, even when stripping.)
func TestPipelineAutoRotatesAndStrips(t *testing.T) {
	src := exifOriented(sourceOf(t, FormatJPEG, 640, 480), 6)
	if img, err := vips.NewImageFromBuffer(src); err != nil || img.Orientation() != 6 {
		t.Fatalf("test source: %v", err)
	} else {
		img.Close()
	}
	for _, f := range []string{"jpeg", "webp", "png", "avif", "gif"} {
		res, err := Process(context.Background(), src, mustOpts(t, "format="+f, ""), DefaultLimits(), 20*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if res.Width != 480 || res.Height != 640 {
			t.Fatalf("%s: %dx%d, want 480x640", f, res.Width, res.Height)
		}
		if bytes.Contains(res.Body, []byte(exifMake)) {
			t.Fatalf("%s: output carries the source's EXIF", f)
		}
		img, err := vips.NewImageFromBuffer(res.Body)
		if err != nil {
			t.Fatal(err)
		}
		if img.Orientation() > 1 {
			t.Fatalf("%s: output keeps orientation %d", f, img.Orientation())
		}
		img.Close()
	}
}
