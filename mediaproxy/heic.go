package mediaproxy

import (
	_ "embed"
	"math"
	"sync"

	"github.com/davidbyttow/govips/v2/vips"
)

// heicSample is a 16×16 HEIC (HEVC) of one colour, heicSampleRGB; see
// TestHEICFixtures to regenerate it.
//
//go:embed heic_selftest.heic
var heicSample []byte

// heicSampleRGB is heicSample's colour.
var heicSampleRGB = [3]float64{200, 100, 50}

var (
	heicOnce sync.Once
	heicOK   bool
)

// HEICSupported reports whether this process decodes HEIC photos: libvips
// has its HEIF loader and libheif an HEVC decoder (libde265; Debian 13
// ships it as a separate plugin package, and a libheif with only AV1
// still loads AVIF). It finds out once, by decoding a tiny embedded HEIC
// the first time it is asked, which is when the first HEIC arrives.
func HEICSupported() bool {
	heicOnce.Do(func() { heicOK = decodesHEIC(heicSample) })
	return heicOK
}

// decodesHEIC decodes sample, which must be heicSample or a variant of it,
// and checks its pixels (a loader that "succeeds" with garbage does not
// count).
func decodesHEIC(sample []byte) bool {
	if StartVips() != nil || !vips.IsTypeSupported(vips.ImageTypeHEIF) {
		return false
	}
	img, err := vips.NewImageFromBuffer(sample)
	if err != nil {
		return false
	}
	defer img.Close()
	if img.Format() != vips.ImageTypeHEIF || img.Width() != 16 || img.Height() != 16 {
		return false
	}
	avg, err := img.Average() // decodes every pixel
	want := (heicSampleRGB[0] + heicSampleRGB[1] + heicSampleRGB[2]) / 3
	return err == nil && math.Abs(avg-want) < 8
}
