package gateway

import (
	"bytes"

	"github.com/gobwas/ws"
	"github.com/klauspost/compress/flate"
)

// zlibHeader starts a zlib-stream (CMF 0x78 = deflate with a 32 KiB window,
// FLG 0x9c = default level, check bits).
var zlibHeader = []byte{0x78, 0x9c}

// compressFrames rewrites the text frames in src (as rendered by flush) for
// compress=zlib-stream: each becomes a binary frame holding that message
// deflated on its own and ending byte-aligned with the sync-flush marker
// 00 00 ff ff, so a standard streaming inflater decodes every message while
// the connection keeps no compressor state (chat-gateway.md §4). The first
// frame of the stream also carries the zlib header. Other frames (close)
// pass through unchanged.
func compressFrames(dst, src []byte, started *bool) []byte {
	var body bytes.Buffer
	for len(src) >= 2 {
		op := ws.OpCode(src[0] & 0x0f)
		n, hl := int(src[1]&0x7f), 2
		switch n {
		case 126:
			n, hl = int(src[2])<<8|int(src[3]), 4
		case 127:
			n, hl = 0, 10
			for _, b := range src[2:10] {
				n = n<<8 | int(b)
			}
		}
		frame, payload := src[:hl+n], src[hl:hl+n]
		src = src[hl+n:]
		if op != ws.OpText {
			dst = append(dst, frame...)
			continue
		}
		body.Reset()
		if !*started {
			body.Write(zlibHeader)
			*started = true
		}
		_ = flate.StatelessDeflate(&body, payload, false, nil) // bytes.Buffer never fails
		dst = appendFrameHeader(dst, ws.OpBinary, body.Len())
		dst = append(dst, body.Bytes()...)
	}
	return dst
}
