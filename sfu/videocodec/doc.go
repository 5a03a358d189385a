// Package videocodec reads and rewrites the codec-specific bytes at the
// start of a video RTP payload that an SFU needs: the VP8 payload
// descriptor (RFC 7741 §4.2) and the first bytes of the VP8 payload header
// (§4.3), and the H.264 NAL unit headers of the RTP payload formats of RFC
// 6184 §5.6-5.8 (single NAL unit, STAP-A, FU-A).
//
// From them the forwarder learns whether a packet starts a key frame (the
// only place a simulcast receiver may switch layers, shared/docs/video.md
// §3) and, for VP8, the picture ID, TL0PICIDX and key index it must keep
// continuous across layer switches. These bytes stay in the clear under
// DAVE end-to-end encryption (e2ee/dave codecs.go: a VP8 key frame's 10
// payload header bytes, every H.264 NAL header and the first slice header
// fields), so everything here also works on encrypted video.
//
// Parsers are pure and allocation-free: they return a value describing the
// payload and never keep or modify it. Rewrites are in place, on the
// caller's own copy of the payload (a packet fanned out to several
// receivers needs one copy per receiver), and keep the field widths, so a
// packet never changes size. Every parser is fuzzed (fuzz_test.go) and
// cross-checked against pion/rtp's depacketizers.
package videocodec
