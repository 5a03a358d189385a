package ogg

import "errors"

// Sentinel errors returned (wrapped) by Reader and Writer.
var (
	// ErrCapture means a page does not start with "OggS".
	ErrCapture = errors.New("ogg: missing OggS capture pattern")
	// ErrVersion means a page has a stream structure version other than 0.
	ErrVersion = errors.New("ogg: unsupported page version")
	// ErrCRC means a page's checksum does not match its contents.
	ErrCRC = errors.New("ogg: page CRC mismatch")
	// ErrTruncated means the input ended inside a page or a packet.
	ErrTruncated = errors.New("ogg: truncated stream")
	// ErrNotOpus means the first packet is not an OpusHead header.
	ErrNotOpus = errors.New("ogg: not an Ogg Opus stream")
	// ErrBadHead means the OpusHead packet is malformed.
	ErrBadHead = errors.New("ogg: malformed OpusHead")
	// ErrContinuation means a page's continuation flag disagrees with the
	// previous page (a continued packet without its start, or the reverse).
	ErrContinuation = errors.New("ogg: bad continuation")
	// ErrPacketTooLarge means a packet exceeds MaxPacketSize.
	ErrPacketTooLarge = errors.New("ogg: packet too large")
	// ErrClosed means a write after Close.
	ErrClosed = errors.New("ogg: writer closed")
)
