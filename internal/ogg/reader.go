package ogg

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// MaxPacketSize bounds one reassembled packet, so a hostile file cannot make
// the reader buffer without limit. Opus packets are at most 1275 bytes per
// frame and 120 ms, far below this.
const MaxPacketSize = 1 << 20

const pageHeaderSize = 27

// Page header flags (RFC 3533 §6).
const (
	flagContinued = 0x01
	flagBOS       = 0x02
	flagEOS       = 0x04
)

// Reader reads the audio packets of the first logical Opus stream of an Ogg
// file. Pages of other logical streams are skipped and counted.
type Reader struct {
	r io.Reader

	hdr  [pageHeaderSize]byte
	seg  [255]byte
	page []byte // current page body
	lace []byte // current page's lacing values
	pos  int    // next lacing value in lace
	off  int    // offset of that segment in page

	serial    uint32
	haveSer   bool
	pending   []byte // packet continued onto the next page
	continued bool   // pending holds a partial packet
	eos       bool

	head    Head
	headers int // header packets consumed (OpusHead, OpusTags)
	skipped int // pages of other streams
	pages   int
	granule int64
}

// NewReader returns a Reader on r. The OpusHead packet is read and checked
// lazily, by the first ReadPacket (or Head).
func NewReader(r io.Reader) *Reader { return &Reader{r: r} }

// Head reads up to and including the OpusHead header and returns it.
func (r *Reader) Head() (Head, error) {
	if r.headers == 0 {
		if err := r.readHead(); err != nil {
			return Head{}, err
		}
	}
	return r.head, nil
}

// SkippedPages reports how many pages of other logical streams were skipped.
func (r *Reader) SkippedPages() int { return r.skipped }

// Granule returns the granule position of the last page read.
func (r *Reader) Granule() int64 { return r.granule }

// ReadPacket returns the next audio packet. It returns io.EOF at the end of
// the stream (the EOS page or the end of the input on a page boundary), and
// a wrapped sentinel error for malformed input. The returned slice is owned
// by the caller.
func (r *Reader) ReadPacket() ([]byte, error) {
	for {
		if r.headers == 0 {
			if err := r.readHead(); err != nil {
				return nil, err
			}
		}
		p, err := r.nextPacket()
		if err != nil {
			return nil, err
		}
		if r.headers == 1 {
			r.headers = 2
			if bytes.HasPrefix(p, opusTagsMagic) {
				continue
			}
		}
		return p, nil
	}
}

func (r *Reader) readHead() error {
	p, err := r.nextPacket()
	if errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: empty input", ErrNotOpus)
	}
	if err != nil {
		return err
	}
	if r.head, err = parseHead(p); err != nil {
		return err
	}
	r.headers = 1
	return nil
}

// ReadAll reads every audio packet of an Ogg Opus stream.
func ReadAll(rd io.Reader) ([][]byte, error) {
	r := NewReader(rd)
	var out [][]byte
	for {
		p, err := r.ReadPacket()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, p)
	}
}

// nextPacket returns the next complete packet of the selected stream.
func (r *Reader) nextPacket() ([]byte, error) {
	for {
		for r.pos < len(r.lace) {
			n := int(r.lace[r.pos])
			r.pos++
			if len(r.pending)+n > MaxPacketSize {
				return nil, ErrPacketTooLarge
			}
			r.pending = append(r.pending, r.page[r.off:r.off+n]...)
			r.off += n
			if n < 255 {
				p := r.pending
				r.pending = nil
				r.continued = false
				return p, nil
			}
		}
		// Page exhausted; a trailing 255 means the packet continues.
		r.continued = len(r.lace) > 0 && r.lace[len(r.lace)-1] == 255
		if r.eos {
			if r.continued {
				return nil, fmt.Errorf("%w: packet continues past the EOS page", ErrTruncated)
			}
			return nil, io.EOF
		}
		if err := r.readPage(); err != nil {
			return nil, err
		}
	}
}

// readPage reads the next page of the selected stream into r.page/r.lace.
func (r *Reader) readPage() error {
	for {
		if _, err := io.ReadFull(r.r, r.hdr[:]); err != nil {
			if errors.Is(err, io.EOF) {
				if r.continued {
					return fmt.Errorf("%w: input ends inside a packet", ErrTruncated)
				}
				return io.EOF
			}
			return fmt.Errorf("%w: page header: %v", ErrTruncated, err)
		}
		h := r.hdr[:]
		if string(h[:4]) != "OggS" {
			return ErrCapture
		}
		if h[4] != 0 {
			return fmt.Errorf("%w: %d", ErrVersion, h[4])
		}
		flags := h[5]
		granule := int64(binary.LittleEndian.Uint64(h[6:]))
		serial := binary.LittleEndian.Uint32(h[14:])
		want := binary.LittleEndian.Uint32(h[22:])
		nseg := int(h[26])
		lace := r.seg[:nseg]
		if _, err := io.ReadFull(r.r, lace); err != nil {
			return fmt.Errorf("%w: segment table: %v", ErrTruncated, err)
		}
		size := 0
		for _, v := range lace {
			size += int(v)
		}
		if cap(r.page) < size {
			r.page = make([]byte, size)
		}
		body := r.page[:size]
		if _, err := io.ReadFull(r.r, body); err != nil {
			return fmt.Errorf("%w: page body: %v", ErrTruncated, err)
		}
		h[22], h[23], h[24], h[25] = 0, 0, 0, 0
		crc := crcUpdate(crcUpdate(crcUpdate(0, h), lace), body)
		if crc != want {
			return fmt.Errorf("%w: page %d", ErrCRC, r.pages)
		}
		r.pages++
		if !r.haveSer {
			r.serial, r.haveSer = serial, true
		} else if serial != r.serial {
			r.skipped++
			continue
		}
		if (flags&flagContinued != 0) != r.continued {
			if r.continued {
				return fmt.Errorf("%w: packet not continued on page %d", ErrContinuation, r.pages-1)
			}
			return fmt.Errorf("%w: fragment without start on page %d", ErrContinuation, r.pages-1)
		}
		r.pos, r.off = 0, 0
		r.page, r.lace = body, lace
		r.eos = flags&flagEOS != 0
		if granule != -1 {
			r.granule = granule
		}
		return nil
	}
}
