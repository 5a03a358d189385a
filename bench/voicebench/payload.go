package voicebench

import "encoding/binary"

// The generator's Opus payload:
//
//	[0]      TOC byte 0xFC (config 31: CELT fullband 20 ms, stereo, one frame)
//	[1:9]    send time, wall-clock ns since the Unix epoch, big-endian
//	[9:13]   sender index, big-endian
//	[13:]    filler up to the configured payload size
//
// It is never the 3-byte Opus silence frame, so the SFU forwards every
// packet (no silence suppression).
const (
	payloadTOC = 0xFC
	payloadMin = 13
	// rxBufSize holds one datagram (send and receive buffers).
	rxBufSize = 2048
)

// putPayload writes the generator payload into b (len(b) >= payloadMin).
func putPayload(b []byte, sendNS int64, sender uint32) {
	b[0] = payloadTOC
	binary.BigEndian.PutUint64(b[1:9], uint64(sendNS))
	binary.BigEndian.PutUint32(b[9:13], sender)
}

// parsePayload returns the send time and sender of a generator payload.
func parsePayload(b []byte) (sendNS int64, sender uint32, err error) {
	if len(b) < payloadMin || b[0] != payloadTOC {
		return 0, 0, ErrPayload
	}
	return int64(binary.BigEndian.Uint64(b[1:9])), binary.BigEndian.Uint32(b[9:13]), nil
}
