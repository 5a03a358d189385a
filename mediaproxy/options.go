package mediaproxy

import (
	"fmt"
	"math/bits"
	"strconv"
	"strings"
)

// Option limits.
const (
	// MaxDimension bounds width, height and size.
	MaxDimension = 4096
	// DefaultQuality is used when no quality is given for a lossy format.
	DefaultQuality = 80
)

// formatChoice is the requested output format before the source is known.
type formatChoice uint8

const (
	// choiceSource keeps the source's family (JPEG → JPEG, PNG → PNG, GIF →
	// GIF, WebP/AVIF → PNG when the client does not accept WebP). HEIC, which
	// no browser but Safari shows, becomes JPEG: a HEIC is a photo, and the
	// original bytes are never served for an image.
	choiceSource formatChoice = iota
	choiceWebPFromAccept
	choiceExplicit
)

// Options is one canonical set of processing options.
type Options struct {
	Width, Height int    // box to fit inside; 0 = unset
	Format        Format // when choice == choiceExplicit
	choice        formatChoice
	Quality       int  // 1..100; 0 for lossless formats
	Lossless      bool // quality=lossless (WebP/AVIF)
	Animated      bool // keep animation (WebP/GIF output only)
	Upscale       bool // allow growing beyond the source size
}

// query is the subset of URL query access the parser needs (url.Values and
// fasthttp.Args both fit through a small adapter).
type query interface {
	Get(key string) string
	Has(key string) bool
}

// ParseOptions parses Discord-style parameters: width, height, size,
// format, quality, animated, plus upscale. accept is the request's Accept
// header, used only when no format is given.
func ParseOptions(q query, accept string) (Options, error) {
	p := paramsOf(q)
	return parseOptions(&p, accept)
}

// parseOptions is ParseOptions on parsed parameters (the request path).
func parseOptions(q *params, accept string) (Options, error) {
	var o Options
	dim := func(name string, p param) (int, error) {
		if !p.ok {
			return 0, nil
		}
		n, err := strconv.Atoi(p.v)
		if err != nil || n < 1 || n > MaxDimension {
			return 0, fmt.Errorf("%w: %s must be an integer 1..%d", ErrBadOptions, name, MaxDimension)
		}
		return n, nil
	}
	var err error
	if o.Width, err = dim("width", q.width); err != nil {
		return o, err
	}
	if o.Height, err = dim("height", q.height); err != nil {
		return o, err
	}
	if q.size.ok {
		n, err := strconv.Atoi(q.size.v)
		if err != nil || n < 16 || n > MaxDimension || bits.OnesCount(uint(n)) != 1 {
			return o, fmt.Errorf("%w: size must be a power of two 16..%d", ErrBadOptions, MaxDimension)
		}
		if (o.Width != 0 && o.Width != n) || (o.Height != 0 && o.Height != n) {
			return o, fmt.Errorf("%w: size conflicts with width/height", ErrBadOptions)
		}
		o.Width, o.Height = n, n
	}
	switch f := q.format.v; {
	case f == "" || lowerIs(f, "auto"):
		if acceptsWebP(accept) {
			o.choice, o.Format = choiceWebPFromAccept, FormatWebP
		}
	default:
		ff, ok := parseFormat(f)
		if !ok {
			return o, fmt.Errorf("%w: format must be webp, avif, png, jpeg or gif", ErrBadOptions)
		}
		o.choice, o.Format = choiceExplicit, ff
	}
	if q.quality.ok {
		if v := q.quality.v; lowerIs(v, "lossless") {
			o.Lossless = true
		} else {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 100 {
				return o, fmt.Errorf("%w: quality must be 1..100 or lossless", ErrBadOptions)
			}
			o.Quality = n
		}
	}
	if o.Animated, err = boolOpt("animated", q.animated); err != nil {
		return o, err
	}
	if o.Upscale, err = boolOpt("upscale", q.upscale); err != nil {
		return o, err
	}
	return o, nil
}

func boolOpt(name string, p param) (bool, error) {
	if !p.ok {
		return false, nil
	}
	switch v := p.v; {
	case v == "" || v == "1" || lowerIs(v, "true") || lowerIs(v, "yes"):
		return true, nil
	case v == "0" || lowerIs(v, "false") || lowerIs(v, "no"):
		return false, nil
	}
	return false, fmt.Errorf("%w: %s must be true or false", ErrBadOptions, name)
}

// lowerIs reports whether strings.ToLower(s) == lower for an ASCII lower
// without allocating (no non-ASCII rune lowers to an ASCII letter other
// than the Kelvin sign, and no option word contains a k).
func lowerIs(s, lower string) bool {
	if len(s) != len(lower) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

func acceptsWebP(accept string) bool {
	for part := range strings.SplitSeq(accept, ",") {
		mt, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(mt), "image/webp") {
			return !strings.Contains(strings.ReplaceAll(params, " ", ""), "q=0")
		}
	}
	return false
}

// Resolve fixes the output format for a known source format and normalises
// fields that cannot matter for it, so that equivalent requests share one
// cache key.
func (o Options) Resolve(src Format) Options {
	if o.choice == choiceSource {
		switch src {
		case FormatJPEG, FormatPNG, FormatGIF:
			o.Format = src
		case FormatHEIC:
			o.Format = FormatJPEG
		default:
			o.Format = FormatPNG
		}
	}
	o.choice = choiceExplicit
	switch o.Format {
	case FormatPNG, FormatGIF:
		o.Quality, o.Lossless = 0, false
	case FormatJPEG:
		if o.Lossless {
			o.Quality, o.Lossless = 100, false
		}
	}
	if o.Lossless {
		o.Quality = 0
	} else if o.Quality == 0 && o.Format != FormatPNG && o.Format != FormatGIF {
		o.Quality = DefaultQuality
	}
	if !o.Format.Animatable() {
		o.Animated = false
	}
	if o.Width == 0 && o.Height == 0 {
		o.Upscale = false
	}
	return o
}

// Key is the canonical string of the options: equivalent sets (jpg/jpeg,
// default quality given or not, size=N vs width=N&height=N, quality on a
// lossless format, animated on a still format) give the same key. When the
// format came from Accept, the key names the chosen format, so it is shared
// with an explicit format= request.
func (o Options) Key() string { return string(o.AppendKey(nil)) }

// AppendKey appends Key to dst without allocating beyond dst's growth.
func (o Options) AppendKey(dst []byte) []byte {
	if o.choice == choiceSource {
		if o.Quality == DefaultQuality {
			o.Quality = 0
		}
		if o.Width == 0 && o.Height == 0 {
			o.Upscale = false
		}
	} else {
		c := o.choice
		o = o.Resolve(o.Format)
		o.choice = c
	}
	dst = append(dst, "w="...)
	dst = strconv.AppendInt(dst, int64(o.Width), 10)
	dst = append(dst, "&h="...)
	dst = strconv.AppendInt(dst, int64(o.Height), 10)
	switch o.choice {
	case choiceSource:
		dst = append(dst, "&f=src"...)
	default:
		dst = append(dst, "&f="...)
		dst = append(dst, o.Format.String()...)
	}
	if o.Lossless {
		dst = append(dst, "&q=lossless"...)
	} else if o.Quality != 0 {
		dst = append(dst, "&q="...)
		dst = strconv.AppendInt(dst, int64(o.Quality), 10)
	}
	if o.Animated {
		dst = append(dst, "&a=1"...)
	}
	if o.Upscale {
		dst = append(dst, "&u=1"...)
	}
	return dst
}

// VariesOnAccept reports whether the response depends on the Accept header.
func (o Options) VariesOnAccept() bool { return o.choice != choiceExplicit }
