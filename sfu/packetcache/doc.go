// Package packetcache keeps the last packets of each video source so the
// SFU can answer a receiver's NACK (RFC 4585 §6.2.1) with a retransmission
// on the RTX stream (RFC 4588). Pure and fixed in memory: a [Cache] per
// incoming source is one ring of preallocated slots keyed by sequence
// number, filled by copy on insert, shared by every receiver of that
// source; an [RTX] per (receiver, source) numbers the RTX stream
// contiguously, builds the RTX payload (the original sequence number in 2
// bytes, then the original payload; RFC 4588 §4) and throttles resends of
// one packet to one per RTT-ish interval and a few in all, counting them.
// No locks, no clocks: the caller passes the time and holds its lock.
// Nothing allocates after New.
package packetcache
