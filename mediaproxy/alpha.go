package mediaproxy

import (
	"github.com/davidbyttow/govips/v2/vips"
)

// loadPNG is thumbnail-on-load for a PNG source. PNG has no shrink-on-load,
// so libvips' thumbnail decodes every pixel whichever way it is called; what
// differs is the resize. For an 8-bit image with alpha, libvips 8.14's
// thumbnail premultiplies into float and shrinks and reduces in float, which
// cost ~1.3× the CPU of the rest of the job. Here the premultiplied pixels
// are cast back to 8 bits before vips_resize (its fixed-point, vectorised
// path), as libvips' own thumbnail does from 8.15 and imgproxy does: the
// rounding is that of the 8-bit colour a browser composites anyway.
// Anything else (no alpha, 16-bit, several pages) goes through
// vips_thumbnail_image, which for a PNG does what vips_thumbnail_buffer
// would.
//
// The box and size are those given to thumbnail (box w×h, after
// orientation); the output dimensions are the same as thumbnail's (same
// shrink arithmetic, and vips_resize rounds them the same way).
func loadPNG(src []byte, w, h int, size vips.Size) (*vips.ImageRef, error) {
	p := vips.NewImportParams() // FailOnError stays true
	p.Access.Set(vips.AccessSequential)
	img, err := vips.LoadImageFromBuffer(src, p)
	if err != nil {
		return nil, err
	}
	if err := resizeAlpha(img, w, h, size); err != nil {
		img.Close()
		return nil, err
	}
	return img, nil
}

// resizeAlpha fits a freshly loaded img into the w×h box as
// vips_thumbnail_image would (no crop), then applies its orientation.
func resizeAlpha(img *vips.ImageRef, w, h int, size vips.Size) error {
	if !img.HasAlpha() || img.BandFormat() != vips.BandFormatUchar || img.Pages() > 1 ||
		img.Interpretation() != vips.InterpretationSRGB && img.Interpretation() != vips.InterpretationBW {
		return img.ThumbnailWithSize(w, h, vips.InterestingNone, size)
	}
	switch img.Orientation() {
	case 5, 6, 7, 8: // rotated by 90°: the box is, before rotation
		w, h = h, w
	}
	hs, vs := thumbnailShrink(img.Width(), img.Height(), w, h, size)
	if hs != 1 || vs != 1 {
		// PremultiplyAlpha makes float; with the cast back to 8 bits,
		// ResizeWithVScale skips its own (float) premultiply and ends
		// with the unpremultiply and a cast to the recorded format.
		if err := img.PremultiplyAlpha(); err != nil {
			return err
		}
		if err := img.Cast(vips.BandFormatUchar); err != nil {
			return err
		}
		if err := img.ResizeWithVScale(1/hs, 1/vs, vips.KernelLanczos3); err != nil {
			return err
		}
	}
	if img.Orientation() > 1 {
		return img.AutoRotate()
	}
	return nil
}

// thumbnailShrink is vips_thumbnail's horizontal and vertical shrink for
// fitting a width×height image into a boxW×boxH box without cropping: the
// larger of the two axis ratios, at least 1 unless size allows growing, at
// most 1 unless size allows shrinking, and per axis never so large that the
// axis would reach 0.
func thumbnailShrink(width, height, boxW, boxH int, size vips.Size) (h, v float64) {
	s := max(float64(width)/float64(boxW), float64(height)/float64(boxH))
	switch size {
	case vips.SizeDown:
		s = max(1, s)
	case vips.SizeUp:
		s = min(1, s)
	}
	return min(s, float64(width)), min(s, float64(height))
}
