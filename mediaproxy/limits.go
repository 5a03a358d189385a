package mediaproxy

import "fmt"

// Limits bound what the proxy will decode. They apply to the header probe,
// before any pixel is touched.
type Limits struct {
	// MaxBytes caps the source size (413 beyond it).
	MaxBytes int64
	// MaxFramePixels caps width × height of the canvas (422).
	MaxFramePixels int64
	// MaxTotalPixels caps width × height × frames (422).
	MaxTotalPixels int64
	// MaxFrames caps the frame count (422); the probe stops walking there.
	MaxFrames int
	// DisableHEIC refuses HEIC/HEIF photos with ErrHEICUnsupported, at
	// upload and when served, even where libvips can decode them (libheif
	// is not among the loaders VIPS_BLOCK_UNTRUSTED blocks, so an operator
	// may want it off). Where libvips cannot, they are refused anyway.
	DisableHEIC bool
}

// DefaultLimits: 25 MiB, 50 MP per frame (imgproxy's default), 200 MP
// over all frames, 500 frames.
func DefaultLimits() Limits {
	return Limits{MaxBytes: 25 << 20, MaxFramePixels: 50_000_000, MaxTotalPixels: 200_000_000, MaxFrames: 500}
}

// withDefaults fills each zero limit from DefaultLimits.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.MaxBytes == 0 {
		l.MaxBytes = d.MaxBytes
	}
	if l.MaxFramePixels == 0 {
		l.MaxFramePixels = d.MaxFramePixels
	}
	if l.MaxTotalPixels == 0 {
		l.MaxTotalPixels = d.MaxTotalPixels
	}
	if l.MaxFrames == 0 {
		l.MaxFrames = d.MaxFrames
	}
	return l
}

// Validate checks every limit is positive.
func (l Limits) Validate() error {
	if l.MaxBytes <= 0 || l.MaxFramePixels <= 0 || l.MaxTotalPixels <= 0 || l.MaxFrames <= 0 {
		return fmt.Errorf("%w: every limit must be positive", ErrConfig)
	}
	return nil
}

// Check probes data's header and applies the limits. It never decodes
// (the first HEIC a process meets costs one tiny decode: HEICSupported).
// MaxTotalPixels also bounds Probe.DecodePixels (a HEIF grid's tiles),
// MaxFramePixels Probe.ItemPixels (any other HEIF item's extent).
func (l Limits) Check(data []byte) (Probe, error) {
	if int64(len(data)) > l.MaxBytes {
		return Probe{}, fmt.Errorf("%w: %d bytes > %d", ErrTooLarge, len(data), l.MaxBytes)
	}
	if Sniff(data) == FormatHEIC && (l.DisableHEIC || !HEICSupported()) {
		return Probe{Format: FormatHEIC}, ErrHEICUnsupported
	}
	p, err := ProbeImage(data, l.MaxFrames)
	if err != nil {
		return p, err
	}
	switch {
	case p.Frames > l.MaxFrames:
		return p, fmt.Errorf("%w: more than %d frames", ErrImageBomb, l.MaxFrames)
	case p.Pixels() > l.MaxFramePixels:
		return p, fmt.Errorf("%w: %dx%d exceeds %d pixels per frame", ErrImageBomb, p.Width, p.Height, l.MaxFramePixels)
	case p.Pixels()*int64(p.Frames) > l.MaxTotalPixels:
		return p, fmt.Errorf("%w: %dx%dx%d frames exceeds %d pixels", ErrImageBomb, p.Width, p.Height, p.Frames, l.MaxTotalPixels)
	case p.ItemPixels > l.MaxFramePixels:
		return p, fmt.Errorf("%w: %dx%d holds an image item of %d pixels, over %d per frame", ErrImageBomb, p.Width, p.Height, p.ItemPixels, l.MaxFramePixels)
	case p.DecodePixels > l.MaxTotalPixels:
		return p, fmt.Errorf("%w: %dx%d decodes %d pixels of tiles, over %d", ErrImageBomb, p.Width, p.Height, p.DecodePixels, l.MaxTotalPixels)
	}
	return p, nil
}
