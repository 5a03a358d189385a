// Package rtpmunger rewrites RTP sequence numbers and timestamps on the
// SFU's egress, per (receiver, source), so that what a receiver gets looks
// like one clean RTP stream (RFC 3550 §5.1) even though the SFU skips
// packets, the network reorders them and sources come and go. It is pure
// arithmetic after livekit/livekit pkg/sfu/rtpmunger.go
// (shared/docs/style.md §2 and rule 3): no locks, no clocks, no I/O and no
// allocation per packet.
//
// # Data path
//
// At ingress, one [Unwrapper] per incoming SSRC turns 16-bit sequence
// numbers and 32-bit timestamps into 64-bit extended values (style.md rule
// 4). The forwarder keeps one [Munger] per (receiver, source) under its own
// lock and, for every incoming packet, calls either [Munger.Forward] (and
// writes the returned Out.Seq, Out.TS and, if the receiver accepts it,
// Out.Marker into the header) or [Munger.Drop]. If a munged packet then
// cannot be sent (no nonce left, a seal or queue failure), [Munger.Revert]
// turns its Forward into a Drop. When the source behind a stable outgoing
// stream changes it calls [Munger.SwitchSource] first.
//
// # Design
//
// All arithmetic is modular uint64: out = in - offset. Truncation to 16/32
// bits happens only in Out.Seq and Out.TS.
//
// Drops. A receiver must not see a sequence gap for a packet the SFU chose
// not to send (silence suppression of F8 FF FE runs, mute or deafen, a slow
// receiver, a frame it cannot decrypt), or its jitter buffer reports loss
// and may conceal it. Drop of the newest SN excludes it: the open range of
// the range map is closed before it and a new one opens after it with the
// offset one higher (livekit ExcludeRange), so later outgoing SNs stay
// contiguous. Consecutive drops widen one exclusion. The timestamp offset
// is left alone, so the timestamp jump after a pause tells the receiver's
// jitter buffer how long the pause was (style.md §2, "leave tsOffset
// alone").
//
// Reordering. A late packet is looked up in the range map (at most
// MaxRanges ranges) and gets the offset that was in force for its SN, so it
// fills exactly the slot it would have had. ion-sfu kept one offset and no
// history, which renumbers late packets wrongly (style.md §1). A bitmap of
// the last HistorySize incoming SNs rejects duplicates of late packets, so
// outgoing SNs are unique; a late packet with no known offset (before the
// first packet, before a source switch, in an evicted range) is dropped
// with ErrCacheMiss rather than guessed. A Drop of a late SN cannot be
// excluded any more (the SNs after it are out): the receiver sees one loss.
//
// Marker. RFC 3551 §4.1: for audio with silence suppression, the marker bit
// is set on the first packet of a talk-spurt. The Munger reports it on the
// first packet, after any Drop of a new SN, after a source switch, and when
// the caller passes talkspurtStart. It is returned as a flag, not written:
// disgo drops every packet whose byte 1 is not exactly 0x78
// (shared/docs/voice-protocol.md §3.2), so towards disgo it must never
// reach the wire.
//
// Source switch. SwitchSource maps a new incoming source onto the same
// outgoing stream: snOffset = in - lastOut - 1 (LiveKit's snAdjust = 1),
// and the timestamp continues from the last one by the wall-clock time the
// caller measured, clamped to at least one tick so timestamps never go
// backwards (LiveKit's tsAdjust, without its sender-report path since
// Discord clients send no RTCP). The range map is cleared at the switch so
// stragglers of the old source are dropped, not renumbered into the new
// stream (versatica/mediasoup#823).
//
// Start. The first outgoing SN and TS equal the incoming ones (the
// client's own, random by RFC 3550 §5.1); only SwitchSource re-anchors.
//
// # Guarantees (checked by FuzzMunger)
//
// Between source switches, for packets forwarded with increasing incoming
// SN a < b, the outgoing extended SNs satisfy out(b) - out(a) = (b - a) -
// (number of SNs in (a, b) excluded by a Drop). So outgoing SNs are unique
// and strictly increasing in incoming order, and if every incoming SN in
// (a, b) was forwarded or dropped in order, out(b) = out(a) + 1 - the only
// holes are real losses (and late drops). Outgoing timestamps are the
// incoming ones minus a constant, so they never go backwards for in-order
// input; after a switch every SN and TS is above all earlier ones.
package rtpmunger
