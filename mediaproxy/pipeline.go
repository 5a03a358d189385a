package mediaproxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/davidbyttow/govips/v2/vips"
)

// Result is one processed variant.
type Result struct {
	Body   []byte
	Format Format
	Width  int
	Height int
	Frames int
}

// Job is the state one pipeline run works on. It is owned by one worker
// goroutine; only kill may be called from elsewhere (the deadline watcher).
type Job struct {
	Source []byte
	Opts   Options
	Limits Limits
	Probe  Probe
	Result Result
	// Decoded is set once libvips starts decoding pixels.
	Decoded bool

	mu  sync.Mutex
	img *vips.ImageRef // guarded by mu (for kill); written only by steps
	log *slog.Logger
}

func (j *Job) setImage(img *vips.ImageRef) {
	j.mu.Lock()
	j.img = img
	j.mu.Unlock()
}

// kill asks libvips to abandon evaluation of the current image. It is a
// best effort (see shared/docs/mediaproxy.md §4.5): limits come first.
func (j *Job) kill() {
	j.mu.Lock()
	if j.img != nil {
		j.img.SetKill(true)
	}
	j.mu.Unlock()
}

func (j *Job) close() {
	j.mu.Lock()
	img := j.img
	j.img = nil
	j.mu.Unlock()
	if img != nil {
		img.Close()
	}
}

// Step is one stage of the pipeline.
type Step struct {
	Name string
	Run  func(ctx context.Context, j *Job) error
}

// Pipeline is a processing pipeline as data: steps run in order and the
// deadline is checked between them.
type Pipeline []Step

// Stats counts pipeline outcomes (all fields atomic).
type Stats struct {
	Runs         atomic.Int64
	ProbeRejects atomic.Int64 // refused by the header probe or limits
	Decodes      atomic.Int64 // times libvips was asked to decode pixels
	DecodeErrors atomic.Int64
	Encodes      atomic.Int64
	Timeouts     atomic.Int64
}

// Run executes the steps, stopping at the first error or when ctx ends.
// While running, a deadline sets libvips' kill flag on the current image.
func (p Pipeline) Run(ctx context.Context, j *Job) error {
	stop := context.AfterFunc(ctx, j.kill)
	defer stop()
	defer j.close()
	for _, s := range p {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("%w: before %s", ErrTimeout, s.Name)
		}
		if err := s.Run(ctx, j); err != nil {
			if ctx.Err() != nil && !isClientError(err) {
				return fmt.Errorf("%w: during %s", ErrTimeout, s.Name)
			}
			return err
		}
	}
	return nil
}

func isClientError(err error) bool {
	s, _ := StatusOf(err)
	return s >= 400 && s < 500
}

// MainPipeline is probe → limits → thumbnail-on-load → sRGB → strip →
// encode. stats may be nil.
func MainPipeline(stats *Stats) Pipeline {
	if stats == nil {
		stats = &Stats{}
	}
	return Pipeline{
		{"probe", func(_ context.Context, j *Job) error {
			stats.Runs.Add(1)
			p, err := j.Limits.Check(j.Source)
			j.Probe = p
			if err != nil {
				stats.ProbeRejects.Add(1)
				return err
			}
			j.Opts = j.Opts.Resolve(p.Format)
			return nil
		}},
		{"load", func(_ context.Context, j *Job) error { return stepLoad(j, stats) }},
		{"colour", func(_ context.Context, j *Job) error { return stepColour(j) }},
		// Savers are also asked to strip, but libvips 8.14's WebP saver
		// still writes the EXIF it finds on the image: drop it here.
		{"strip", func(_ context.Context, j *Job) error { return wrapVips(j, "strip", j.img.RemoveMetadata()) }},
		{"encode", func(_ context.Context, j *Job) error {
			stats.Encodes.Add(1)
			return stepEncode(j)
		}},
	}
}

// wrapVips hides libvips' message (it carries a Go stack trace) from the
// client and logs it instead. Loads are lazy, so pixel decoding happens in
// the steps after load: a failure there almost always means the source is
// corrupt or truncated, and is reported as ErrUndecodable.
func wrapVips(j *Job, op string, err error) error {
	if err == nil {
		return nil
	}
	if j.log != nil {
		j.log.Debug("libvips error", "op", op, "format", j.Probe.Format.String(), "err", err)
	}
	return fmt.Errorf("%w: %s data is corrupt or truncated (%s failed)", ErrUndecodable, j.Probe.Format, op)
}

const vipsMaxCoord = 10_000_000

func stepLoad(j *Job, stats *Stats) error {
	if err := StartVips(); err != nil {
		return fmt.Errorf("%w: libvips unavailable", ErrInternal)
	}
	o := j.Opts
	w, h := o.Width, o.Height
	switch {
	case w == 0 && h == 0:
		w, h = MaxDimension, MaxDimension
	case w == 0:
		w = vipsMaxCoord
	case h == 0:
		h = vipsMaxCoord
	}
	size := vips.SizeDown
	if o.Upscale {
		size = vips.SizeBoth
	}
	params := vips.NewImportParams()                            // FailOnError stays true
	if f := j.Probe.Format; f == FormatGIF || f == FormatWebP { // only these loaders take n
		if o.Animated && j.Probe.Frames > 1 {
			params.NumPages.Set(-1)
		} else {
			params.NumPages.Set(1)
		}
	}
	j.Decoded = true
	stats.Decodes.Add(1)
	var img *vips.ImageRef
	var err error
	if j.Probe.Format == FormatPNG {
		img, err = loadPNG(j.Source, w, h, size)
	} else {
		img, err = vips.LoadThumbnailFromBuffer(j.Source, w, h, vips.InterestingNone, size, params)
	}
	if err != nil {
		stats.DecodeErrors.Add(1)
		if j.log != nil {
			j.log.Debug("decode failed", "format", j.Probe.Format.String(), "err", err)
		}
		return fmt.Errorf("%w: %s data is corrupt or truncated", ErrUndecodable, j.Probe.Format)
	}
	j.setImage(img)
	got := img.Format()
	if got != probeVipsType(j.Probe.Format) && !(j.Probe.Format == FormatAVIF && got == vips.ImageTypeHEIF) {
		return fmt.Errorf("%w: content decoded as a different format than its header (polyglot)", ErrUndecodable)
	}
	if img.Width() > MaxDimension*4 || img.Height() > MaxDimension*4*max(1, j.Probe.Frames) {
		return fmt.Errorf("%w: output too large", ErrImageBomb)
	}
	return nil
}

func probeVipsType(f Format) vips.ImageType {
	switch f {
	case FormatJPEG:
		return vips.ImageTypeJPEG
	case FormatPNG:
		return vips.ImageTypePNG
	case FormatGIF:
		return vips.ImageTypeGIF
	case FormatWebP:
		return vips.ImageTypeWEBP
	case FormatAVIF:
		return vips.ImageTypeAVIF
	case FormatHEIC:
		return vips.ImageTypeHEIF
	}
	return vips.ImageTypeUnknown
}

// stepColour brings the image to sRGB without a profile. An embedded
// profile that is sRGB itself (isSRGBProfile) on an 8-bit sRGB image is
// dropped without a transform, which would be an identity costing ~10% of
// a JPEG thumbnail's CPU; every other profile, and CMYK, is transformed.
func stepColour(j *Job) error {
	img := j.img
	interp := img.Interpretation()
	if img.HasICCProfile() || interp == vips.InterpretationCMYK {
		if interp != vips.InterpretationSRGB || img.BandFormat() != vips.BandFormatUchar || !isSRGBProfile(img.GetICCProfile()) {
			if err := img.TransformICCProfileWithFallback(vips.SRGBIEC6196621ICCProfilePath, vips.SRGBIEC6196621ICCProfilePath); err != nil {
				return wrapVips(j, "icc_transform", err)
			}
		}
		if err := img.RemoveICCProfile(); err != nil {
			return wrapVips(j, "remove_icc", err)
		}
		interp = img.Interpretation()
	}
	switch interp {
	case vips.InterpretationSRGB, vips.InterpretationBW:
		return nil
	}
	return wrapVips(j, "colourspace", img.ToColorSpace(vips.InterpretationSRGB))
}

// pngCompression is the zlib level of PNG output (see stepEncode).
const pngCompression = 4

func stepEncode(j *Job) error {
	img, o := j.img, j.Opts
	var (
		out []byte
		err error
	)
	switch o.Format {
	case FormatWebP:
		p := vips.NewWebpExportParams()
		p.StripMetadata, p.Quality, p.Lossless = true, max(o.Quality, 1), o.Lossless
		out, _, err = img.ExportWebp(p)
	case FormatJPEG:
		// Optimised Huffman tables: ~13% fewer bytes at the same
		// quality for ~0.1 ms on a 500-wide thumbnail (imgproxy sets it
		// too).
		p := vips.NewJpegExportParams()
		p.StripMetadata, p.Quality, p.Interlace, p.OptimizeCoding = true, o.Quality, false, true
		out, _, err = img.ExportJpeg(p)
	case FormatPNG:
		// Adaptive row filters at zlib level 4: ~40% fewer bytes than
		// no filter at level 6, for the same CPU; level 6 (imgproxy's)
		// saves 2-5% more bytes for ~2.5× the encode time.
		p := vips.NewPngExportParams()
		p.StripMetadata, p.Filter, p.Compression = true, vips.PngFilterAll, pngCompression
		out, _, err = img.ExportPng(p)
	case FormatGIF:
		p := vips.NewGifExportParams()
		p.StripMetadata = true
		out, _, err = img.ExportGIF(p)
	case FormatAVIF:
		p := vips.NewAvifExportParams()
		// Effort 2: effort 5 costs ~8× the CPU (shared/docs/mediaproxy.md §3).
		p.StripMetadata, p.Quality, p.Lossless, p.Effort = true, max(o.Quality, 1), o.Lossless, 2
		out, _, err = img.ExportAvif(p)
	default:
		return fmt.Errorf("%w: no output format", ErrBadOptions)
	}
	if err != nil {
		return wrapVips(j, "encode "+o.Format.String(), err)
	}
	frames := 1
	if ph := img.PageHeight(); ph > 0 && ph < img.Height() {
		frames = img.Height() / ph
	}
	j.Result = Result{Body: out, Format: o.Format, Width: img.Width(), Height: img.Height() / frames, Frames: frames}
	return nil
}

// Process runs the main pipeline once on src, outside any server (the
// bench and tests use it). It returns the variant and whether pixels were
// decoded.
func Process(ctx context.Context, src []byte, opts Options, lim Limits, timeout time.Duration) (Result, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	j := &Job{Source: src, Opts: opts, Limits: lim}
	if err := MainPipeline(nil).Run(ctx, j); err != nil {
		return Result{}, err
	}
	if j.Result.Body == nil {
		return Result{}, errors.New("mediaproxy: pipeline produced nothing")
	}
	return j.Result, nil
}
