package voiceproto

// ServerNonceSpace is the number of nonces a ServerNonce yields per key.
const ServerNonceSpace = 1 << 29

// ServerNonce yields 4-byte wire nonces for packets the server encrypts
// towards one client. Every value has first byte >= 0x80 and last byte
// >= 0xC0, so it never equals a nonce a client emits with a big- or
// little-endian counter below 2^31, nor one of the desktop client's RTCP
// nonces below 2^30 (voice-protocol.md §3.4). It yields 2^29 distinct
// values, then reports exhaustion; the caller must then end the session so
// the client gets a new key.
//
// The zero value is ready to use. A ServerNonce is not safe for concurrent
// use: the caller owns one per receiver (per key) under its lock.
type ServerNonce struct {
	n uint32 // values handed out so far
}

// Next returns the next nonce, or ok=false once all 2^29 are used.
func (s *ServerNonce) Next() (nonce [4]byte, ok bool) {
	nonce, ok = ServerNonceAt(s.n)
	if ok {
		s.n++
	}
	return nonce, ok
}

// ServerNonceAt returns the i-th nonce of the server nonce space, or
// ok=false when i >= ServerNonceSpace. Callers that share one key across
// goroutines draw i from an atomic counter. They must stop using the key at
// the first !ok: a counter that keeps counting would wrap back into the
// space and reuse nonces.
func ServerNonceAt(i uint32) (nonce [4]byte, ok bool) {
	if i >= ServerNonceSpace {
		return nonce, false
	}
	nonce[0] = 0x80 | byte(i>>22)
	nonce[1] = byte(i >> 14)
	nonce[2] = byte(i >> 6)
	nonce[3] = 0xC0 | byte(i&0x3F)
	return nonce, true
}

// Remaining returns how many nonces Next will still yield.
func (s *ServerNonce) Remaining() uint32 { return ServerNonceSpace - s.n }

// IsServerNonce reports whether nonce lies in the server's nonce space.
// A received packet carrying one was not produced by a conforming client.
func IsServerNonce(nonce [4]byte) bool { return nonce[0] >= 0x80 && nonce[3] >= 0xC0 }

// ClientNonce returns the 4-byte wire nonce of a client's n-th packet: a
// big-endian counter, as @discordjs/voice writes it (from 1). It is never
// in the server's nonce space while n < 2^31.
func ClientNonce(n uint32) [4]byte {
	return [4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}
}
