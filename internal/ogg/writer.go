package ogg

import (
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
)

// Vendor is the vendor string written in OpusTags.
const Vendor = "parley"

// WriterOptions tune a Writer; the zero value is valid.
type WriterOptions struct {
	// Head is the OpusHead to write; zero means DefaultHead.
	Head Head
	// Serial is the logical stream serial number; zero picks a random one.
	Serial uint32
	// PacketsPerPage is how many packets a page collects before it is
	// written; zero means 1 (a page per packet, so a recording cut short
	// loses at most one packet). Pages also end at 255 segments.
	PacketsPerPage int
}

// Writer writes one logical Ogg Opus stream. It is not safe for concurrent
// use.
type Writer struct {
	w       io.Writer
	serial  uint32
	perPage int

	seq     uint32
	granule int64 // samples written, at the end of the last packet
	lace    []byte
	body    []byte
	packets int // packets that end on the buffered page
	cont    bool
	closed  bool
	buf     []byte
}

// NewWriter writes the OpusHead and OpusTags pages to w and returns a Writer
// for the audio packets.
func NewWriter(w io.Writer, opts WriterOptions) (*Writer, error) {
	h := opts.Head
	if h == (Head{}) {
		h = DefaultHead
	}
	if h.Channels == 0 {
		return nil, fmt.Errorf("%w: zero channels", ErrBadHead)
	}
	serial := opts.Serial
	if serial == 0 {
		serial = rand.Uint32() | 1
	}
	wr := &Writer{w: w, serial: serial, perPage: max(opts.PacketsPerPage, 1)}
	if err := wr.writePage(flagBOS, 0, segmentsOf(nil, len(h.marshal())), h.marshal()); err != nil {
		return nil, err
	}
	tags := marshalTags(Vendor)
	if err := wr.writePage(0, 0, segmentsOf(nil, len(tags)), tags); err != nil {
		return nil, err
	}
	return wr, nil
}

// segmentsOf appends the lacing values of an n-byte packet.
func segmentsOf(lace []byte, n int) []byte {
	for ; n >= 255; n -= 255 {
		lace = append(lace, 255)
	}
	return append(lace, byte(n))
}

// WritePacket appends one Opus packet. The stream's granule position
// advances by the packet's duration (PacketSamples; 960 for a packet whose
// TOC cannot be read).
func (w *Writer) WritePacket(p []byte) error {
	if w.closed {
		return ErrClosed
	}
	if len(p) > MaxPacketSize {
		return ErrPacketTooLarge
	}
	n := PacketSamples(p)
	if n == 0 {
		n = 960
	}
	w.granule += int64(n)
	rest := p
	for {
		room := 255 - len(w.lace)
		need := len(rest)/255 + 1
		if need <= room {
			w.lace = segmentsOf(w.lace, len(rest))
			w.body = append(w.body, rest...)
			w.packets++
			break
		}
		// Fill this page with whole 255-byte segments and continue.
		take := room * 255
		for range room {
			w.lace = append(w.lace, 255)
		}
		w.body = append(w.body, rest[:take]...)
		rest = rest[take:]
		if err := w.flushPage(0); err != nil {
			return err
		}
		w.cont = true
	}
	if w.packets >= w.perPage || len(w.lace) == 255 {
		return w.flushPage(0)
	}
	return nil
}

// Flush writes any buffered packets as a page.
func (w *Writer) Flush() error {
	if w.closed || len(w.lace) == 0 {
		return nil
	}
	return w.flushPage(0)
}

// Granule returns the number of samples written so far.
func (w *Writer) Granule() int64 { return w.granule }

// Close writes the buffered packets on a final page flagged end-of-stream.
// It does not close the underlying writer.
func (w *Writer) Close() error {
	if w.closed {
		return nil
	}
	err := w.flushPage(flagEOS)
	w.closed = true
	return err
}

// flushPage writes the buffered segments (possibly none, for an EOS page).
func (w *Writer) flushPage(flags byte) error {
	if w.cont {
		flags |= flagContinued
	}
	granule := w.granule
	if w.packets == 0 {
		granule = -1 // no packet ends on this page
		if flags&flagEOS != 0 {
			granule = w.granule
		}
	}
	err := w.writePage(flags, granule, w.lace, w.body)
	w.lace, w.body, w.packets, w.cont = w.lace[:0], w.body[:0], 0, false
	return err
}

func (w *Writer) writePage(flags byte, granule int64, lace, body []byte) error {
	b := w.buf[:0]
	b = append(b, "OggS"...)
	b = append(b, 0, flags)
	b = binary.LittleEndian.AppendUint64(b, uint64(granule))
	b = binary.LittleEndian.AppendUint32(b, w.serial)
	b = binary.LittleEndian.AppendUint32(b, w.seq)
	b = append(b, 0, 0, 0, 0, byte(len(lace)))
	b = append(b, lace...)
	b = append(b, body...)
	binary.LittleEndian.PutUint32(b[22:], crcUpdate(0, b))
	w.buf = b
	w.seq++
	if _, err := w.w.Write(b); err != nil {
		return fmt.Errorf("ogg: write page: %w", err)
	}
	return nil
}

// Write writes frames as a complete Ogg Opus stream to w.
func Write(w io.Writer, frames [][]byte) error {
	ow, err := NewWriter(w, WriterOptions{PacketsPerPage: 50})
	if err != nil {
		return err
	}
	for _, f := range frames {
		if err := ow.WritePacket(f); err != nil {
			return err
		}
	}
	return ow.Close()
}

// WriteFile writes frames as an Ogg Opus file at path.
func WriteFile(path string, frames [][]byte) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("ogg: %w", err)
	}
	if err := Write(f, frames); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("ogg: %w", err)
	}
	return nil
}

// ReadFile reads every audio packet of the Ogg Opus file at path.
func ReadFile(path string) ([][]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("ogg: %w", err)
	}
	defer f.Close()
	return ReadAll(f)
}
