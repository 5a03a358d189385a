package mediaproxy

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// Probe is what the header probe learns without decoding any pixel data.
type Probe struct {
	Format Format
	Width  int // canvas width, as stored (before Orientation)
	Height int // canvas height, as stored (before Orientation)
	// Frames is the number of frames (1 for stills). When the walk stopped
	// early at the frame cap, Frames is cap+1.
	Frames int
	// Orientation is the EXIF orientation, 1–8, of a JPEG, or a HEIF
	// image's irot rotation in the same terms (1, 3, 6 or 8); 0 when none
	// is given. The pipeline applies it; 5–8 turn the picture a quarter.
	Orientation int
	// CleanWidth and CleanHeight, when not 0, are a HEIF clean aperture
	// (clap): the part of the canvas that is shown (libheif crops to it).
	CleanWidth, CleanHeight int
	// DecodePixels is the pixels decoding produces in all, when that is
	// more than the canvas (a HEIF grid: its canvas plus every tile); 0
	// otherwise. Limits weigh it against MaxTotalPixels.
	DecodePixels int64
	// ItemPixels is the largest extent of any image item a HEIF holds,
	// when it is more than the canvas (a thumbnail, an alpha or depth
	// plane): libheif and libvips may decode any of them, so Limits weigh
	// it against MaxFramePixels; 0 otherwise.
	ItemPixels int64
}

// Pixels is Width × Height.
func (p Probe) Pixels() int64 { return int64(p.Width) * int64(p.Height) }

// Displayed is the size the picture is shown at, once oriented: what
// the pipeline's full-size output measures and what a client reserves.
func (p Probe) Displayed() (w, h int) {
	w, h = p.Width, p.Height
	if p.CleanWidth > 0 && p.CleanHeight > 0 {
		w, h = p.CleanWidth, p.CleanHeight
	}
	if p.Orientation >= 5 && p.Orientation <= 8 {
		return h, w
	}
	return w, h
}

// Sniff identifies the format from magic bytes alone, never from names or
// headers.
func Sniff(b []byte) Format {
	switch {
	case len(b) >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF:
		return FormatJPEG
	case bytes.HasPrefix(b, pngSig):
		return FormatPNG
	case bytes.HasPrefix(b, []byte("GIF87a")) || bytes.HasPrefix(b, []byte("GIF89a")):
		return FormatGIF
	case len(b) >= 12 && string(b[0:4]) == "RIFF" && string(b[8:12]) == "WEBP":
		return FormatWebP
	case len(b) >= 12 && string(b[4:8]) == "ftyp":
		return sniffISOBMFF(b)
	case bytes.HasPrefix(b, []byte("%PDF")):
		return FormatPDF
	}
	t := bytes.TrimLeft(bytes.TrimPrefix(b[:min(len(b), 1024)], []byte("\xEF\xBB\xBF")), " \t\r\n")
	if bytes.HasPrefix(t, []byte("<?xml")) || bytes.HasPrefix(t, []byte("<svg")) || bytes.HasPrefix(t, []byte("<!DOCTYPE")) || bytes.HasPrefix(t, []byte("<!--")) {
		return FormatSVG
	}
	if len(b) == 0 {
		return FormatUnknown
	}
	return FormatOther
}

func sniffISOBMFF(b []byte) Format {
	size := int(binary.BigEndian.Uint32(b[0:4]))
	if size < 16 || size > len(b) {
		size = min(len(b), 64)
	}
	brands := [][]byte{b[8:12]}
	for i := 16; i+4 <= size; i += 4 {
		brands = append(brands, b[i:i+4])
	}
	heic := false
	for _, br := range brands {
		switch string(br) {
		case "avif", "avis":
			return FormatAVIF
		case "heic", "heix", "mif1", "msf1", "heim", "heis", "hevc":
			heic = true
		}
	}
	if heic {
		return FormatHEIC
	}
	return FormatOther
}

var pngSig = []byte{0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'}

// ProbeImage reads only headers and container structure: it never
// decompresses pixel data, so a few-hundred-byte file declaring 10^10
// pixels costs microseconds. It also reads the orientation a decoder
// applies (JPEG's EXIF, HEIF's irot), so Displayed is the output's size. maxFrames bounds the GIF/WebP frame walk; a
// file with more frames reports maxFrames+1. Structure errors (truncation,
// trailing data after the format's end marker, i.e. polyglots) are
// ErrUndecodable; formats the proxy does not decode are ErrUnsupported.
func ProbeImage(b []byte, maxFrames int) (Probe, error) {
	f := Sniff(b)
	var (
		p   Probe
		err error
	)
	switch f {
	case FormatJPEG:
		p, err = probeJPEG(b)
	case FormatPNG:
		p, err = probePNG(b)
	case FormatGIF:
		p, err = probeGIF(b, maxFrames)
	case FormatWebP:
		p, err = probeWebP(b, maxFrames)
	case FormatAVIF, FormatHEIC:
		p, err = probeHEIF(b, f)
	default:
		return Probe{Format: f}, fmt.Errorf("%w: %s content", ErrUnsupported, f)
	}
	p.Format = f
	if err != nil {
		return p, err
	}
	if p.Width <= 0 || p.Height <= 0 {
		return p, fmt.Errorf("%w: %s header declares no size", ErrUndecodable, f)
	}
	if p.Frames < 1 {
		p.Frames = 1
	}
	return p, nil
}

func undecodable(f Format, why string) error {
	return fmt.Errorf("%w: %s: %s", ErrUndecodable, f, why)
}

func probeJPEG(b []byte) (Probe, error) {
	i := 2
	orient := 0
	for i < len(b) {
		if b[i] != 0xFF {
			return Probe{}, undecodable(FormatJPEG, "bad marker")
		}
		for i < len(b) && b[i] == 0xFF {
			i++
		}
		if i >= len(b) {
			break
		}
		m := b[i]
		i++
		if m == 0xD8 || (m >= 0xD0 && m <= 0xD7) || m == 0x01 {
			continue
		}
		if m == 0xD9 || m == 0xDA {
			return Probe{}, undecodable(FormatJPEG, "no frame header before scan")
		}
		if i+2 > len(b) {
			break
		}
		l := int(binary.BigEndian.Uint16(b[i:]))
		if l < 2 || i+l > len(b) {
			break
		}
		isSOF := m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC
		if isSOF {
			if l < 8 {
				return Probe{}, undecodable(FormatJPEG, "short frame header")
			}
			h := int(binary.BigEndian.Uint16(b[i+3:]))
			w := int(binary.BigEndian.Uint16(b[i+5:]))
			return Probe{Width: w, Height: h, Frames: 1, Orientation: orient}, nil
		}
		if m == 0xE1 && orient == 0 { // APP1: the first Exif one counts, as in libvips
			orient = exifOrientation(b[i+2 : i+l])
		}
		i += l
	}
	return Probe{}, undecodable(FormatJPEG, "truncated header")
}

func probePNG(b []byte) (Probe, error) {
	var p Probe
	i := len(pngSig)
	first := true
	for {
		if i+12 > len(b) {
			return p, undecodable(FormatPNG, "truncated chunk")
		}
		l := int(binary.BigEndian.Uint32(b[i:]))
		typ := string(b[i+4 : i+8])
		if l < 0 || l > len(b)-i-12 {
			return p, undecodable(FormatPNG, "chunk overruns file")
		}
		data := b[i+8 : i+8+l]
		if first {
			if typ != "IHDR" || l != 13 {
				return p, undecodable(FormatPNG, "first chunk is not IHDR")
			}
			if crc32.ChecksumIEEE(b[i+4:i+8+l]) != binary.BigEndian.Uint32(b[i+8+l:]) {
				return p, undecodable(FormatPNG, "IHDR checksum")
			}
			w, h := binary.BigEndian.Uint32(data), binary.BigEndian.Uint32(data[4:])
			if w > 1<<31-1 || h > 1<<31-1 {
				return p, undecodable(FormatPNG, "dimension overflow")
			}
			p = Probe{Width: int(w), Height: int(h), Frames: 1}
			first = false
		}
		i += 12 + l
		if typ == "IEND" {
			if i != len(b) {
				return p, undecodable(FormatPNG, "data after IEND (polyglot)")
			}
			return p, nil
		}
	}
}

func probeGIF(b []byte, maxFrames int) (Probe, error) {
	if len(b) < 13 {
		return Probe{}, undecodable(FormatGIF, "truncated header")
	}
	p := Probe{Width: int(binary.LittleEndian.Uint16(b[6:])), Height: int(binary.LittleEndian.Uint16(b[8:]))}
	flags := b[10]
	i := 13
	if flags&0x80 != 0 {
		i += 3 << ((flags & 7) + 1)
	}
	skipBlocks := func() bool {
		for {
			if i >= len(b) {
				return false
			}
			n := int(b[i])
			i++
			if n == 0 {
				return true
			}
			i += n
		}
	}
	for {
		if i >= len(b) {
			return p, undecodable(FormatGIF, "truncated (no trailer)")
		}
		switch b[i] {
		case 0x3B:
			if p.Frames == 0 {
				return p, undecodable(FormatGIF, "no frames in GIF")
			}
			if i+1 != len(b) {
				return p, undecodable(FormatGIF, "data after trailer (polyglot)")
			}
			return p, nil
		case 0x21:
			i += 2
			if !skipBlocks() {
				return p, undecodable(FormatGIF, "truncated extension")
			}
		case 0x2C:
			if i+10 > len(b) {
				return p, undecodable(FormatGIF, "truncated image descriptor")
			}
			left, top := int(binary.LittleEndian.Uint16(b[i+1:])), int(binary.LittleEndian.Uint16(b[i+3:]))
			fw, fh := int(binary.LittleEndian.Uint16(b[i+5:])), int(binary.LittleEndian.Uint16(b[i+7:]))
			lf := b[i+9]
			p.Width, p.Height = max(p.Width, left+fw), max(p.Height, top+fh)
			i += 10
			if lf&0x80 != 0 {
				i += 3 << ((lf & 7) + 1)
			}
			i++ // LZW minimum code size
			if !skipBlocks() {
				return p, undecodable(FormatGIF, "truncated image data")
			}
			p.Frames++
			if p.Frames > maxFrames {
				return p, nil // over the cap: the limits step refuses it
			}
		default:
			return p, undecodable(FormatGIF, "bad block")
		}
	}
}

func probeWebP(b []byte, maxFrames int) (Probe, error) {
	riff := int(binary.LittleEndian.Uint32(b[4:8]))
	if riff < 4 || riff > len(b)-8 {
		return Probe{}, undecodable(FormatWebP, "truncated RIFF")
	}
	if riff+8 < len(b)-1 { // one pad byte tolerated
		return Probe{}, undecodable(FormatWebP, "data after RIFF (polyglot)")
	}
	var p Probe
	i, end := 12, 8+riff
	for i+8 <= end {
		typ := string(b[i : i+4])
		l := int(binary.LittleEndian.Uint32(b[i+4:]))
		if l < 0 || l > end-i-8 {
			return p, undecodable(FormatWebP, "chunk overruns file")
		}
		d := b[i+8 : i+8+l]
		switch typ {
		case "VP8X":
			if l < 10 {
				return p, undecodable(FormatWebP, "short VP8X")
			}
			p.Width = 1 + int(uint32(d[4])|uint32(d[5])<<8|uint32(d[6])<<16)
			p.Height = 1 + int(uint32(d[7])|uint32(d[8])<<8|uint32(d[9])<<16)
		case "VP8 ":
			if l < 10 || d[3] != 0x9d || d[4] != 0x01 || d[5] != 0x2a {
				return p, undecodable(FormatWebP, "bad VP8 frame header")
			}
			if p.Width == 0 {
				p.Width = int(binary.LittleEndian.Uint16(d[6:]) & 0x3fff)
				p.Height = int(binary.LittleEndian.Uint16(d[8:]) & 0x3fff)
			}
			p.Frames = max(p.Frames, 1)
		case "VP8L":
			if l < 5 || d[0] != 0x2f {
				return p, undecodable(FormatWebP, "bad VP8L header")
			}
			if p.Width == 0 {
				v := binary.LittleEndian.Uint32(d[1:])
				p.Width = 1 + int(v&0x3fff)
				p.Height = 1 + int((v>>14)&0x3fff)
			}
			p.Frames = max(p.Frames, 1)
		case "ANMF":
			p.Frames++
			if p.Frames > maxFrames {
				return p, nil
			}
		}
		i += 8 + l + l&1
	}
	if p.Frames == 0 {
		return p, undecodable(FormatWebP, "no image data")
	}
	return p, nil
}

// exifOrientation reads IFD0's Orientation tag (0x0112, one SHORT) from
// an APP1 payload ("Exif\0\0" and a TIFF structure); 0 when the payload
// is not Exif, is malformed or has no valid orientation.
func exifOrientation(d []byte) int {
	t, ok := bytes.CutPrefix(d, []byte("Exif\x00\x00"))
	if !ok || len(t) < 8 {
		return 0
	}
	var bo binary.ByteOrder
	switch string(t[:2]) {
	case "II":
		bo = binary.LittleEndian
	case "MM":
		bo = binary.BigEndian
	default:
		return 0
	}
	if bo.Uint16(t[2:]) != 42 {
		return 0
	}
	off := uint64(bo.Uint32(t[4:]))
	if off < 8 || off+2 > uint64(len(t)) {
		return 0
	}
	n := int(bo.Uint16(t[off:]))
	for i, p := 0, int(off)+2; i < n && p+12 <= len(t); i, p = i+1, p+12 {
		if bo.Uint16(t[p:]) != 0x0112 {
			continue
		}
		if bo.Uint16(t[p+2:]) != 3 || bo.Uint32(t[p+4:]) != 1 { // SHORT, count 1
			return 0
		}
		if v := int(bo.Uint16(t[p+8:])); v >= 1 && v <= 8 {
			return v
		}
		return 0
	}
	return 0
}
