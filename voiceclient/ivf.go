package voiceclient

import (
	"encoding/binary"
	"fmt"
	"io"
)

// IVF is the simple container libvpx and ffmpeg write VP8 in: a 32-byte
// file header ("DKIF", version 0, header size 32, fourcc, width, height,
// time base denominator and numerator, frame count), then per frame a
// 12-byte header (size u32 LE, timestamp u64 LE in time-base units) and the
// frame.

// IVFHeader is an IVF file header.
type IVFHeader struct {
	FourCC        [4]byte // "VP80"
	Width, Height uint16
	// The time base is Numerator/Denominator seconds per timestamp unit
	// (ffmpeg writes 1/framerate).
	Denominator, Numerator uint32
	Frames                 uint32
}

// IVFFrame is one frame of an IVF file.
type IVFFrame struct {
	Timestamp uint64
	Data      []byte
}

// maxIVFFrame bounds a frame ReadIVF accepts.
const maxIVFFrame = 16 << 20

// ReadIVF reads a whole IVF stream.
func ReadIVF(r io.Reader) (IVFHeader, []IVFFrame, error) {
	var h [32]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return IVFHeader{}, nil, fmt.Errorf("%w: header: %v", ErrIVF, err)
	}
	if string(h[:4]) != "DKIF" || binary.LittleEndian.Uint16(h[6:]) != 32 {
		return IVFHeader{}, nil, fmt.Errorf("%w: not an IVF file", ErrIVF)
	}
	hdr := IVFHeader{
		Width: binary.LittleEndian.Uint16(h[12:]), Height: binary.LittleEndian.Uint16(h[14:]),
		Denominator: binary.LittleEndian.Uint32(h[16:]), Numerator: binary.LittleEndian.Uint32(h[20:]),
		Frames: binary.LittleEndian.Uint32(h[24:]),
	}
	copy(hdr.FourCC[:], h[8:12])
	if hdr.Denominator == 0 || hdr.Numerator == 0 {
		return IVFHeader{}, nil, fmt.Errorf("%w: zero time base", ErrIVF)
	}
	var frames []IVFFrame
	for {
		var fh [12]byte
		if _, err := io.ReadFull(r, fh[:]); err == io.EOF {
			return hdr, frames, nil
		} else if err != nil {
			return IVFHeader{}, nil, fmt.Errorf("%w: frame header: %v", ErrIVF, err)
		}
		n := binary.LittleEndian.Uint32(fh[:])
		if n == 0 || n > maxIVFFrame {
			return IVFHeader{}, nil, fmt.Errorf("%w: frame of %d bytes", ErrIVF, n)
		}
		f := IVFFrame{Timestamp: binary.LittleEndian.Uint64(fh[4:]), Data: make([]byte, n)}
		if _, err := io.ReadFull(r, f.Data); err != nil {
			return IVFHeader{}, nil, fmt.Errorf("%w: frame: %v", ErrIVF, err)
		}
		frames = append(frames, f)
	}
}

// IVFWriter writes an IVF stream; the frame count in the header is what
// the caller passed to NewIVFWriter (ffmpeg does not rely on it).
type IVFWriter struct {
	w io.Writer
}

// NewIVFWriter writes the header.
func NewIVFWriter(w io.Writer, h IVFHeader) (*IVFWriter, error) {
	var b [32]byte
	copy(b[:4], "DKIF")
	binary.LittleEndian.PutUint16(b[6:], 32)
	copy(b[8:12], h.FourCC[:])
	binary.LittleEndian.PutUint16(b[12:], h.Width)
	binary.LittleEndian.PutUint16(b[14:], h.Height)
	binary.LittleEndian.PutUint32(b[16:], h.Denominator)
	binary.LittleEndian.PutUint32(b[20:], h.Numerator)
	binary.LittleEndian.PutUint32(b[24:], h.Frames)
	if _, err := w.Write(b[:]); err != nil {
		return nil, err
	}
	return &IVFWriter{w: w}, nil
}

// WriteFrame appends one frame.
func (w *IVFWriter) WriteFrame(ts uint64, data []byte) error {
	var fh [12]byte
	binary.LittleEndian.PutUint32(fh[:], uint32(len(data)))
	binary.LittleEndian.PutUint64(fh[4:], ts)
	if _, err := w.w.Write(fh[:]); err != nil {
		return err
	}
	_, err := w.w.Write(data)
	return err
}
