package mediaproxy

import "strings"

// Format is an image format the proxy reads or writes.
type Format uint8

// Formats. JPEG, PNG, GIF, WebP and AVIF are decoded and encoded; HEIC
// (HEIF with HEVC, phones' photo format) is decoded only, where libvips
// can (HEICSupported) and Limits allow it; SVG, PDF and the others are
// recognised so that the error can name them, and are never handed to
// libvips. The values are stored in the disk cache: append, never renumber.
const (
	FormatUnknown Format = iota
	FormatJPEG
	FormatPNG
	FormatGIF
	FormatWebP
	FormatAVIF
	FormatSVG
	FormatPDF
	FormatHEIC
	FormatOther
)

var formatNames = [...]string{"unknown", "jpeg", "png", "gif", "webp", "avif", "svg", "pdf", "heic", "other"}

// String returns the lower-case name ("jpeg", "webp", ...).
func (f Format) String() string {
	if int(f) < len(formatNames) {
		return formatNames[f]
	}
	return "unknown"
}

// ContentType returns the MIME type of a format the proxy decodes.
func (f Format) ContentType() string {
	switch f {
	case FormatJPEG:
		return "image/jpeg"
	case FormatPNG:
		return "image/png"
	case FormatGIF:
		return "image/gif"
	case FormatWebP:
		return "image/webp"
	case FormatAVIF:
		return "image/avif"
	case FormatHEIC:
		return "image/heic"
	}
	return "application/octet-stream"
}

// Decodable reports whether f is an image format the proxy decodes (HEIC
// only where the server can: see Limits.Check).
func (f Format) Decodable() bool { return f.Encodable() || f == FormatHEIC }

// Encodable reports whether f is an output format.
func (f Format) Encodable() bool { return f >= FormatJPEG && f <= FormatAVIF }

// formatNamed is the Format whose String is name (FormatUnknown if none).
func formatNamed(name string) Format {
	for i, n := range formatNames {
		if n == name {
			return Format(i)
		}
	}
	return FormatUnknown
}

// Animatable reports whether f can carry animation on output.
func (f Format) Animatable() bool { return f == FormatWebP || f == FormatGIF }

// parseFormat maps a format option or file extension to an output format.
func parseFormat(s string) (Format, bool) {
	switch strings.ToLower(s) {
	case "jpeg", "jpg":
		return FormatJPEG, true
	case "png":
		return FormatPNG, true
	case "gif":
		return FormatGIF, true
	case "webp":
		return FormatWebP, true
	case "avif":
		return FormatAVIF, true
	}
	return FormatUnknown, false
}
