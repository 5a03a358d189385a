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
	Width  int // canvas width
	Height int // canvas height
	// Frames is the number of frames (1 for stills). When the walk stopped
	// early at the frame cap, Frames is cap+1.
	Frames int
}

// Pixels is Width × Height.
func (p Probe) Pixels() int64 { return int64(p.Width) * int64(p.Height) }

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
// pixels costs microseconds. maxFrames bounds the GIF/WebP frame walk; a
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
	case FormatAVIF:
		p, err = probeAVIF(b)
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
			return Probe{Width: w, Height: h, Frames: 1}, nil
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

// probeAVIF walks ISOBMFF boxes down to meta/iprp/ipco/ispe and reports the
// largest declared image spatial extent.
func probeAVIF(b []byte) (Probe, error) {
	var p Probe
	var walk func(d []byte, depth int) error
	walk = func(d []byte, depth int) error {
		for len(d) >= 8 {
			size := int(binary.BigEndian.Uint32(d))
			typ := string(d[4:8])
			hdr := 8
			if size == 1 {
				if len(d) < 16 {
					return undecodable(FormatAVIF, "truncated box")
				}
				s64 := binary.BigEndian.Uint64(d[8:])
				if s64 > uint64(len(d)) {
					return undecodable(FormatAVIF, "box overruns file")
				}
				size, hdr = int(s64), 16
			} else if size == 0 {
				size = len(d)
			}
			if size < hdr || size > len(d) {
				return undecodable(FormatAVIF, "box overruns file")
			}
			body := d[hdr:size]
			switch typ {
			case "meta":
				if len(body) < 4 || depth > 4 {
					return undecodable(FormatAVIF, "bad meta box")
				}
				if err := walk(body[4:], depth+1); err != nil {
					return err
				}
			case "iprp", "ipco":
				if depth > 4 {
					return undecodable(FormatAVIF, "boxes nested too deep")
				}
				if err := walk(body, depth+1); err != nil {
					return err
				}
			case "ispe":
				if len(body) < 12 {
					return undecodable(FormatAVIF, "short ispe")
				}
				w, h := binary.BigEndian.Uint32(body[4:]), binary.BigEndian.Uint32(body[8:])
				if w > 1<<30 || h > 1<<30 {
					return undecodable(FormatAVIF, "dimension overflow")
				}
				if int64(w)*int64(h) > p.Pixels() {
					p.Width, p.Height = int(w), int(h)
				}
			}
			d = d[size:]
		}
		return nil
	}
	if err := walk(b, 0); err != nil {
		return p, err
	}
	if p.Width == 0 {
		return p, undecodable(FormatAVIF, "no image extent")
	}
	p.Frames = 1
	return p, nil
}
