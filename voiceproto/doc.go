// Package voiceproto is Discord's voice protocol on the wire, defined once
// for every end that speaks it: the server (sfu, signaling), the Go client
// (voiceclient) and the load generator (bench/voicebench). It is pure: no
// I/O, no clocks, no logging, and it imports nothing of Parley but the
// DAVE opcodes (e2ee/dave).
//
// # Voice gateway (shared/docs/voice-protocol.md §2)
//
// JSON messages {op, d} over WSS: the opcodes ([Op]), one Go type per
// payload ([Identify], [Ready], [SelectProtocol], [SessionDescription],
// [Speaking], [PeerSpeaking], ...), the envelopes ([RawMessage] to decode,
// [Message] and [NumberedMessage] to encode, with v8's "seq"/"s"), the
// close codes ([CloseCode], with [CloseCode.Resumable]) and the dialects
// chosen by ?v= ([Dialect]). Ids decode from strings or numbers ([ID]);
// speaking from a bitmask or a bool ([SpeakingFlags]). DAVE's binary
// frames (ops 25-30) are e2ee/dave's.
//
// # UDP (§3)
//
// Datagram classes by shape ([Classify]), IP discovery
// ([DiscoveryRequest], [ParseDiscoveryResponse], ...), keepalives, the RTP
// header ([ParseHeader], [PutFixedHeader]), the transport-encryption modes
// and their [Cipher], and the nonce spaces of client and server
// ([ClientNonce], [ServerNonce]).
//
// # Modes and wire layouts (shared/docs/voice-protocol.md §3.3)
//
// In the rtpsize modes the clear part of a packet is the "rtpsize header":
// the 12-byte fixed RTP header (RFC 3550 §5.1), the CSRC list and, when
// X=1, the 4-byte extension preamble (profile, length in 32-bit words;
// RFC 3550 §5.3.1). The extension body, the payload and any RTP padding are
// encrypted:
//
//	aead_aes256_gcm_rtpsize, aead_xchacha20_poly1305_rtpsize:
//	  [rtpsize header = AAD][AEAD(ext body | payload | padding)][tag 16][nonce 4]
//	xsalsa20_poly1305_lite_rtpsize:
//	  [rtpsize header][tag 16][secretbox(ext body | payload | padding)][nonce 4]
//
// The legacy (non-rtpsize) modes keep only the 12-byte fixed header in the
// clear and encrypt everything after it, CSRCs and the whole extension
// included:
//
//	aead_aes256_gcm:           [12 B = AAD][AEAD(rest)][tag 16][nonce 4]
//	xsalsa20_poly1305:         [12 B][tag 16][secretbox(rest)]   nonce = the 12 header bytes + 12 zero bytes
//	xsalsa20_poly1305_suffix:  [12 B][tag 16][secretbox(rest)][nonce 24, random]
//	xsalsa20_poly1305_lite:    [12 B][tag 16][secretbox(rest)][nonce 4]
//
// A 4-byte wire nonce is copied into bytes 0..3 of an otherwise zero nonce
// (12 bytes for AES-GCM, 24 for XChaCha20 and XSalsa20). The 4 bytes are
// opaque: discordjs writes a big-endian counter from 1, disgo and discordgo
// a little-endian counter from 0. Secretbox modes have no AAD, so their
// clear header is not authenticated.
//
// Interoperability: send clients packets with CC=0 and P=0 (strip RTP
// padding with ParseHeader's PayloadEnd before re-sealing).
// @discordjs/voice 0.19.2 computes the AAD length of a received packet as
// 12 + (X ? 4 : 0), ignoring CC; disgo v0.19.6 tests padding with byte 0 &
// 0x04 (a CC bit) and strips it from the still-encrypted packet, so a P=1
// packet reaches its Opus decoder with the padding attached, and any packet
// with CC >= 4 fails to decrypt (read in discordjs VoiceReceiver.decrypt
// and disgo voice/udp_conn.go; the interop tests use CC=0).
//
// # Server nonces (voice-protocol.md §3.4)
//
// The 32-byte secret_key serves both directions, so the nonces the server
// uses towards a client must never collide with the client's own.
// [ServerNonce] yields only 4-byte strings whose first byte is >= 0x80 and
// whose last byte is >= 0xC0, which are disjoint from every big- or
// little-endian client counter below 2^31 and from the desktop client's
// RTCP counter range below 2^30: 2^29 nonces per key.
//
// # Performance and concurrency
//
// A [Cipher] is immutable after [NewCipher]; Seal and Open are safe for
// concurrent use. They append to dst and do not allocate when dst has
// enough capacity (len(rtp)+Overhead() for Seal, len(pkt) for Open). They
// may work in place: dst may be rtp[:0] (Seal) or pkt[:0] (Open); any other
// overlap of dst's spare capacity with the input returns ErrOverlap. In the
// secretbox modes in-place operation costs one temporary allocation, since
// NaCl secretbox forbids overlapping buffers. The preferred modes cost
// ~0.2-0.4 µs per 100-byte packet (shared/docs/performance.md §5).
package voiceproto
