package rtpmunger

import "time"

// Out is the outgoing header of a forwarded packet.
type Out struct {
	Seq uint16 // wire sequence number
	TS  uint32 // wire timestamp
	// Marker is true on the first packet of a talk-spurt (RFC 3551 §4.1):
	// the first packet ever, the first after a source switch, the first
	// new packet after one or more Drops, or when the caller said so. The
	// caller decides whether to put it on the wire (never towards disgo).
	Marker bool
	// ExtSeq and ExtTS are the 64-bit outgoing values, for a NACK
	// sequencer or stats.
	ExtSeq, ExtTS uint64
}

// Munger rewrites the sequence numbers and timestamps of one source's
// packets towards one receiver. See the package documentation. Not safe for
// concurrent use: the owner (the forwarder) holds its lock around calls.
type Munger struct {
	started   bool
	highestIn uint64 // highest incoming extended SN processed
	snOffset  uint64 // out = in - snOffset for SNs above highestIn
	tsOffset  uint64 // out TS = in TS - tsOffset
	maxOutSN  uint64 // highest outgoing extended SN emitted
	maxOutTS  uint64 // highest outgoing extended TS emitted
	marker    bool   // the next new packet starts a talk-spurt

	// Undo record of the last operation, if it was a Forward of a new SN.
	revertable bool
	revertSN   uint64
	prevMaxSN  uint64
	prevMaxTS  uint64
	ranges     rangeMap
	seen       history
}

// New returns a Munger. The outgoing SN and TS equal the incoming ones
// until the first Drop or source switch.
func New() *Munger { return &Munger{} }

// Reset forgets all state, as if newly created.
func (m *Munger) Reset() { *m = Munger{} }

// start anchors the mapping at the first packet.
func (m *Munger) start(extSN, extTS uint64) {
	m.started = true
	m.snOffset, m.tsOffset = 0, 0
	m.highestIn = extSN - 1
	m.maxOutSN, m.maxOutTS = extSN-1, extTS
	m.marker = true
	m.ranges.reset(extSN, m.snOffset)
	m.seen.clear()
}

// Forward returns the outgoing header for the incoming packet (extSN,
// extTS), extended by an Unwrapper. talkspurtStart forces the marker (for
// example when the incoming marker bit is set).
//
//   - A packet newer than every processed one is forwarded with the
//     current offset (a gap before it stays a gap: the loss is real).
//   - An older packet gets the offset that was in force for its SN, so it
//     fills its own slot; ErrDuplicate if it was already forwarded or
//     dropped, ErrTooOld if more than HistorySize behind, ErrCacheMiss if
//     no offset is known (before the first packet or a source switch).
func (m *Munger) Forward(extSN, extTS uint64, talkspurtStart bool) (Out, error) {
	if !m.started {
		m.start(extSN, extTS)
	}
	if m.newer(extSN) {
		m.seen.advance(m.highestIn, extSN)
		m.seen.set(extSN)
		m.highestIn = extSN
		outSN, outTS := extSN-m.snOffset, extTS-m.tsOffset
		marker := talkspurtStart || m.marker
		m.revertable, m.revertSN = true, extSN
		m.prevMaxSN, m.prevMaxTS = m.maxOutSN, m.maxOutTS
		m.marker = false
		m.emitted(outSN, outTS)
		return out(outSN, outTS, marker), nil
	}
	if err := m.checkOld(extSN); err != nil {
		return Out{}, err
	}
	off, ok := m.ranges.lookup(extSN)
	if !ok {
		return Out{}, ErrCacheMiss
	}
	m.seen.set(extSN)
	m.revertable = false
	outSN, outTS := extSN-off, extTS-m.tsOffset
	m.emitted(outSN, outTS)
	return out(outSN, outTS, talkspurtStart), nil
}

// Drop records that the incoming packet extSN is deliberately not
// forwarded to this receiver (silence suppression, mute or deafen, a slow
// receiver, a frame the receiver cannot decrypt). When extSN is newer than
// every processed packet it is excluded: later packets are renumbered so
// the outgoing SNs stay contiguous, and the next new packet carries the
// marker. The timestamp offset is untouched, so the timestamp gap tells the
// receiver's jitter buffer how long the pause was.
//
// A Drop of an older SN cannot be excluded (a later SN is already out); it
// is recorded so a duplicate is rejected, and the receiver sees one lost
// packet. Drop returns ErrDuplicate, ErrTooOld like Forward. Before the
// first Forward it only records the marker.
func (m *Munger) Drop(extSN uint64) error {
	m.revertable = false
	if !m.started {
		m.marker = true
		return nil
	}
	if m.newer(extSN) {
		m.seen.advance(m.highestIn, extSN)
		m.seen.set(extSN)
		m.highestIn = extSN
		m.snOffset = m.ranges.exclude(extSN)
		m.marker = true
		return nil
	}
	if err := m.checkOld(extSN); err != nil {
		return err
	}
	m.seen.set(extSN)
	return nil
}

// Revert turns the Forward of extSN into a Drop, for a packet that was
// munged but then not sent (no nonce left, a seal or queue failure), so the
// receiver does not see a hole: the next new packet gets its SN, and the
// marker as after any Drop. It works only if that Forward was of a new SN and was the
// Munger's last operation; otherwise it returns false and changes nothing
// (the receiver sees one lost packet). livekit's PacketDropped does the same.
func (m *Munger) Revert(extSN uint64) bool {
	if !m.revertable || m.revertSN != extSN {
		return false
	}
	m.revertable = false
	m.snOffset = m.ranges.exclude(extSN)
	m.maxOutSN, m.maxOutTS = m.prevMaxSN, m.prevMaxTS
	m.marker = true
	return true
}

// SwitchSource re-anchors the outgoing stream on a new incoming source (a
// new SSRC after a reconnect, another simulcast layer) whose first packet
// is (extSN, extTS), extended by the new source's own Unwrapper. Call it
// before Forward or Drop of that packet. The packet will get the SN after
// the highest one emitted, and a timestamp elapsedTS after the highest one
// emitted (at least 1 later, so timestamps never go backwards; use
// TicksFor to convert the wall-clock time since the last forwarded
// packet). The range map and duplicate history are cleared: stragglers
// from before the switch get ErrCacheMiss rather than being renumbered
// (versatica/mediasoup#823). The next forwarded packet carries the marker.
// Before the first packet, it does nothing.
func (m *Munger) SwitchSource(extSN, extTS, elapsedTS uint64) {
	if !m.started {
		return
	}
	m.revertable = false
	if elapsedTS < 1 {
		elapsedTS = 1
	}
	m.snOffset = extSN - (m.maxOutSN + 1)
	m.tsOffset = extTS - (m.maxOutTS + elapsedTS)
	m.highestIn = extSN - 1
	m.marker = true
	m.ranges.reset(extSN, m.snOffset)
	m.seen.clear()
}

// newer reports whether extSN is beyond every SN processed. Comparisons
// are on the signed distance, so extended SNs near 0 (callers not using an
// Unwrapper) work too.
func (m *Munger) newer(extSN uint64) bool { return int64(extSN-m.highestIn) > 0 }

// checkOld classifies an SN at or below highestIn.
func (m *Munger) checkOld(extSN uint64) error {
	if m.highestIn-extSN >= HistorySize {
		return ErrTooOld
	}
	if m.seen.test(extSN) {
		return ErrDuplicate
	}
	return nil
}

func (m *Munger) emitted(sn, ts uint64) {
	if int64(sn-m.maxOutSN) > 0 {
		m.maxOutSN = sn
	}
	if int64(ts-m.maxOutTS) > 0 {
		m.maxOutTS = ts
	}
}

func out(sn, ts uint64, marker bool) Out {
	return Out{Seq: uint16(sn), TS: uint32(ts), Marker: marker, ExtSeq: sn, ExtTS: ts}
}

// Started reports whether the first packet has been seen.
func (m *Munger) Started() bool { return m.started }

// Last returns the highest outgoing extended SN and TS emitted so far.
func (m *Munger) Last() (extSN, extTS uint64) { return m.maxOutSN, m.maxOutTS }

// DebugInfo returns the state for debug dumps.
func (m *Munger) DebugInfo() map[string]any {
	return map[string]any{
		"started":    m.started,
		"highest_in": m.highestIn,
		"sn_offset":  m.snOffset,
		"ts_offset":  m.tsOffset,
		"max_out_sn": m.maxOutSN,
		"max_out_ts": m.maxOutTS,
		"marker":     m.marker,
		"ranges":     m.ranges.n,
	}
}

// TicksFor converts a duration to RTP timestamp ticks at clockRate (48000
// for Opus), for SwitchSource's elapsedTS. Negative durations give 0.
func TicksFor(d time.Duration, clockRate uint32) uint64 {
	if d <= 0 {
		return 0
	}
	return uint64(d / time.Microsecond * time.Duration(clockRate) / 1e6)
}
