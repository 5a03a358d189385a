package mediabench

import (
	"bytes"
	"image"
	"image/color/palette"
	"image/gif"
	"math"

	"github.com/davidbyttow/govips/v2/vips"
	"github.com/parleyhq/parley/mediaproxy"
)

// Corpus is the generated input set.
type Corpus struct {
	Photo    []byte // 2560×1600 JPEG q88, sRGB, no ICC profile, no EXIF
	PhotoICC []byte // the same picture with an embedded sRGB ICC profile, as cameras and editors write
	Animated []byte // 8-frame 480×360 animated GIF
	Alpha    []byte // 2560×1600 RGBA PNG: the photo's pixels cut to a disc with a soft edge, as a sticker or logo
}

// Corpus file names in DATA/corpus/ (the bare-loop child reads them).
const (
	photoFile    = "photo.jpg"
	photoICCFile = "photo-srgb-icc.jpg"
	animFile     = "anim.gif"
	alphaFile    = "alpha.png"
)

func (c Corpus) files() map[string][]byte {
	return map[string][]byte{photoFile: c.Photo, photoICCFile: c.PhotoICC, animFile: c.Animated, alphaFile: c.Alpha}
}

// MakeCorpus generates the inputs deterministically: pixels in Go (a
// gradient plus noise for the photo, moving gradients for the animation),
// encoded by libvips (JPEG) and image/gif. It is quick even under -race.
func MakeCorpus() (Corpus, error) {
	if err := mediaproxy.StartVips(); err != nil {
		return Corpus{}, err
	}
	const w, h = 2560, 1600
	pix := make([]byte, w*h*3)
	seed := uint32(2463534242)
	for y := range h {
		row := pix[y*w*3 : (y+1)*w*3]
		for x := range w {
			seed ^= seed << 13
			seed ^= seed >> 17
			seed ^= seed << 5
			n := uint8(seed % 24)
			row[x*3+0] = uint8(x*255/w) + n
			row[x*3+1] = uint8(y*255/h) + n
			row[x*3+2] = uint8((x+y)*255/(w+h)) + n
		}
	}
	alpha, err := alphaPNG(pix, w, h)
	if err != nil {
		return Corpus{}, err
	}
	img, err := vips.NewImageFromMemory(pix, w, h, 3, vips.BandFormatUchar, vips.InterpretationSRGB)
	if err != nil {
		return Corpus{}, err
	}
	defer img.Close()
	ep := vips.NewJpegExportParams()
	ep.Quality, ep.StripMetadata, ep.Interlace = 88, true, false
	photo, _, err := img.ExportJpeg(ep)
	if err != nil {
		return Corpus{}, err
	}
	// Attach libvips' sRGB profile (an identity transform) and keep it.
	if err := img.TransformICCProfileWithFallback(vips.SRGBIEC6196621ICCProfilePath, vips.SRGBIEC6196621ICCProfilePath); err != nil {
		return Corpus{}, err
	}
	ep.StripMetadata = false
	photoICC, _, err := img.ExportJpeg(ep)
	if err != nil {
		return Corpus{}, err
	}
	g := &gif.GIF{}
	for i := range 8 {
		fr := image.NewPaletted(image.Rect(0, 0, 480, 360), palette.Plan9)
		for y := range 360 {
			row := fr.Pix[y*fr.Stride : y*fr.Stride+480]
			for x := range row {
				row[x] = uint8(x/2 + y/3 + i*30)
			}
		}
		g.Image = append(g.Image, fr)
		g.Delay = append(g.Delay, 10)
	}
	var gb bytes.Buffer
	if err := gif.EncodeAll(&gb, g); err != nil {
		return Corpus{}, err
	}
	return Corpus{Photo: photo, PhotoICC: photoICC, Animated: gb.Bytes(), Alpha: alpha}, nil
}

// alphaPNG encodes the w×h RGB pixels as an RGBA PNG whose alpha is a
// disc of radius 0.4h, opaque inside and falling to 0 over 8 pixels.
func alphaPNG(rgb []byte, w, h int) ([]byte, error) {
	pix := make([]byte, w*h*4)
	r2 := float64(h) * 0.4
	for y := range h {
		for x := range w {
			i := y*w + x
			copy(pix[i*4:i*4+3], rgb[i*3:i*3+3])
			dx, dy := float64(x-w/2), float64(y-h/2)
			d := math.Sqrt(dx*dx+dy*dy) - r2
			pix[i*4+3] = uint8(max(0, min(255, 128-d*32)))
		}
	}
	img, err := vips.NewImageFromMemory(pix, w, h, 4, vips.BandFormatUchar, vips.InterpretationSRGB)
	if err != nil {
		return nil, err
	}
	defer img.Close()
	p := vips.NewPngExportParams()
	p.StripMetadata = true
	out, _, err := img.ExportPng(p)
	return out, err
}

// resizeCase is one resize workload, measured through the proxy and as a
// bare govips loop doing the same libvips work.
type resizeCase struct {
	name     string
	file     string // corpus file
	query    string // options after the signed attachment URL
	width    int    // thumbnail box width (height unbounded)
	out      mediaproxy.Format
	animated bool
}

var resizeCases = []resizeCase{
	{"jpeg2560_to_jpeg500", photoFile, "width=500&format=jpeg", 500, mediaproxy.FormatJPEG, false},
	{"jpeg2560icc_to_jpeg500", photoICCFile, "width=500&format=jpeg", 500, mediaproxy.FormatJPEG, false},
	{"jpeg2560_to_webp500", photoFile, "width=500&format=webp", 500, mediaproxy.FormatWebP, false},
	{"jpeg2560_to_avif500", photoFile, "width=500&format=avif", 500, mediaproxy.FormatAVIF, false},
	{"gif_to_animated_webp500", animFile, "width=500&format=webp&animated=true", 500, mediaproxy.FormatWebP, true},
	// The bare loop's libvips 8.14 thumbnail resizes an image with alpha
	// in float; the pipeline does it in 8 bits (mediaproxy/alpha.go).
	{"png2560alpha_to_png500", alphaFile, "width=500&format=png", 500, mediaproxy.FormatPNG, false},
	{"png2560alpha_to_webp500", alphaFile, "width=500&format=webp", 500, mediaproxy.FormatWebP, false},
}

// hitCase is one cache-hit workload: the same variant requested over and
// over once it is cached.
type hitCase struct {
	name  string
	file  string
	query string
}

var hitCases = []hitCase{
	{"avatar128_webp", photoFile, "size=128&format=webp"},
	{"thumb500_webp", photoFile, "width=500&format=webp"},
}

// qualityFor is the quality of request i: alternating 80/79 so that two
// concurrent clients never ask for the same variant (which the proxy would
// coalesce into one job). The bare loop uses the same sequence.
func qualityFor(i int) int { return 80 - i%2 }

// bareOp is the bare govips equivalent of one proxy request: the same
// thumbnail-on-load call (box, size mode, import options: FailOnError, page
// count) and the same export options as mediaproxy's pipeline, without the
// probe, colour check, metadata copy, store or HTTP.
func bareOp(src []byte, c resizeCase, quality int) (int, error) {
	p := vips.NewImportParams()
	if c.animated {
		p.NumPages.Set(-1)
	}
	img, err := vips.LoadThumbnailFromBuffer(src, c.width, 10_000_000, vips.InterestingNone, vips.SizeDown, p)
	if err != nil {
		return 0, err
	}
	defer img.Close()
	var out []byte
	switch c.out {
	case mediaproxy.FormatWebP:
		e := vips.NewWebpExportParams()
		e.Quality, e.StripMetadata = quality, true
		out, _, err = img.ExportWebp(e)
	case mediaproxy.FormatJPEG:
		e := vips.NewJpegExportParams()
		e.Quality, e.StripMetadata, e.Interlace, e.OptimizeCoding = quality, true, false, true
		out, _, err = img.ExportJpeg(e)
	case mediaproxy.FormatPNG:
		e := vips.NewPngExportParams()
		e.StripMetadata, e.Filter, e.Compression = true, vips.PngFilterAll, 4
		out, _, err = img.ExportPng(e)
	case mediaproxy.FormatAVIF:
		e := vips.NewAvifExportParams()
		e.Quality, e.StripMetadata, e.Effort = quality, true, 2
		out, _, err = img.ExportAvif(e)
	}
	return len(out), err
}
