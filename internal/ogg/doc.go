// Package ogg reads and writes Ogg Opus files (RFC 3533 pages, RFC 7845
// encapsulation) without decoding Opus: the voice client plays files by
// forwarding their packets and records remote speakers by wrapping received
// packets, so bytes go in and come out unchanged.
//
// Reader turns pages into packets (lacing across pages, CRC checked) and
// skips the OpusHead and OpusTags header packets. Writer emits OpusHead,
// OpusTags and then audio pages whose granule positions count 48 kHz
// samples, taken from each packet's TOC byte (960 per 20 ms frame).
//
// SyntheticOpus makes deterministic pseudo-Opus frames for tests: a valid
// TOC byte and a random body. Real clients forward Opus without decoding it,
// so interop tests can compare such frames byte for byte.
package ogg
