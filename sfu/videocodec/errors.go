package videocodec

import "errors"

// Parse errors. A packet that fails to parse is malformed or uses a
// packetization Parley does not forward; count it, do not log it.
var (
	// ErrShort: the payload ends inside a header that announces more bytes.
	ErrShort = errors.New("videocodec: payload too short")
	// ErrMalformed: a header field has an impossible value (a forbidden
	// bit set, a zero-length aggregated NAL unit, an FU with both start
	// and end bits).
	ErrMalformed = errors.New("videocodec: malformed payload")
	// ErrUnsupported: a valid packetization Parley does not forward (H.264
	// STAP-B, MTAP, FU-B: interleaved mode, RFC 6184 §6.4).
	ErrUnsupported = errors.New("videocodec: unsupported packetization")
	// ErrMismatch: Rewrite was given a payload that is not the one parsed.
	ErrMismatch = errors.New("videocodec: payload does not match its descriptor")
)
