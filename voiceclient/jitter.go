package voiceclient

import (
	"slices"
	"time"
)

// videoJitter reassembles one received video SSRC into frames from
// packets that may arrive late (RTX answering a NACK) or never. It is a
// pure state machine: no I/O, no locks, no clock; the caller (under dmu)
// passes the time.
//
// Packets are kept by extended sequence number in a ring of jitterSize.
// head is the SN the next frame starts at; a frame is complete when every
// SN from head to a packet with the marker arrived, all with one
// timestamp, the first with S set (partition 0). A frame that cannot
// complete (a packet missing, or a packet of the next timestamp where its
// marker should be) is waited for until giveUpAfter has passed since head
// was first found blocked; then it is given up (counted) and head moves
// past it. Packets older than head are late (counted, dropped). Missing
// SNs are remembered for NACKs (nackList) until they arrive or fall
// behind head.
type videoJitter struct {
	ring    [jitterSize]jitterPacket
	started bool
	head    uint64 // next SN to release
	highest uint64 // highest SN received
	// blockedAt is when head was first found unable to complete; zero
	// when it is not blocked.
	blockedAt time.Time
	// skipTS: packets of a given-up frame's timestamp arriving after it
	// was skipped are dropped as late.
	skipTS    uint32
	skipValid bool

	missing map[uint64]*nackState

	// Receiver-report state (RFC 3550 §6.4.1, A.3, A.8).
	base                  uint64 // first SN
	received              uint64 // media packets (not RTX, not duplicates)
	expectedPrior, rcvPri uint64
	jitter                float64 // in timestamp units
	lastTransit           int64
	transitOK             bool

	// keyed: a keyframe completed since the last frame lost (the frames
	// after it decode); needKey: a frame that cannot decode came (a delta
	// frame before any keyframe) or one was lost, so a PLI is due, at
	// most every pliInterval (pliAt the last).
	keyed, needKey bool
	pliAt          time.Time

	stats jitterStats
}

// jitterStats are a received stream's counters.
type jitterStats struct {
	packets, late, dups, rtx, rtxUseful uint64
	frames, givenUp                     uint64
	nacked                              uint64 // SNs asked for
	lastFrameAt                         time.Time
	largestGap                          time.Duration
	width, height                       int
	changes                             []LayerChange
}

// jitterPacket is one buffered packet.
type jitterPacket struct {
	present bool
	ext     uint64
	ts      uint32
	marker  bool
	start   bool // S set and partition index 0
	payload []byte
	arrived time.Time
}

// nackState is one missing SN's NACK history.
type nackState struct {
	since, last time.Time
	count       int
}

// jitterFrame is a completed frame.
type jitterFrame struct {
	ts   uint32
	data []byte // the VP8 frame, descriptors removed; the caller owns it
	key  bool
	// layerChange: a keyframe whose dimensions differ from the last one
	// (or the first keyframe); gap: the time since the last completed
	// frame (0 for the first).
	layerChange bool
	gap         time.Duration
}

const (
	jitterSize = 1024
	// giveUpAfter is how long a frame that cannot complete is waited for.
	giveUpAfter = 200 * time.Millisecond
	// nackInterval is the least time between NACKs of one SN, nackTries
	// how often it is asked for.
	nackInterval = 40 * time.Millisecond
	nackTries    = 4
	// maxNACKGap: a jump of more SNs than this is not NACKed packet by
	// packet (a reset or a long outage).
	maxNACKGap = 256
	// pliInterval is the least time between keyframe requests (PLI) for
	// one stream.
	pliInterval = 500 * time.Millisecond
)

// extend unwraps a 16-bit SN against the highest one seen.
func (j *videoJitter) extend(seq uint16) uint64 {
	if !j.started {
		return 1<<32 + uint64(seq)
	}
	return uint64(int64(j.highest) + int64(int16(seq-uint16(j.highest))))
}

// push takes one packet: RTP SN seq, timestamp ts, marker, the RFC 7741
// descriptor's start flag, the VP8 payload after the descriptor, rtx for a
// packet recovered from an RTX stream. payload is copied.
func (j *videoJitter) push(now time.Time, seq uint16, ts uint32, marker, start bool, payload []byte, rtx bool) {
	j.stats.packets++
	if rtx {
		j.stats.rtx++
	}
	if !j.started {
		if rtx || !start {
			return // begin at a frame's first packet
		}
		ext := j.extend(seq)
		j.started = true
		j.head, j.highest, j.base = ext, ext-1, ext
		j.missing = map[uint64]*nackState{}
	}
	ext := j.extend(seq)
	if ext < j.head {
		j.stats.late++
		return
	}
	if j.skipValid && ts == j.skipTS {
		// The rest of a frame already given up: skip it too.
		j.stats.late++
		j.highest = max(j.highest, ext)
		j.advance(ext + 1)
		return
	}
	slot := &j.ring[ext%jitterSize]
	if slot.present && slot.ext == ext {
		j.stats.dups++
		return
	}
	if !rtx {
		j.received++
		j.updateJitter(now, ts)
	} else {
		j.stats.rtxUseful++
	}
	delete(j.missing, ext)
	if ext > j.highest {
		if gap := ext - j.highest - 1; gap > 0 && gap <= maxNACKGap {
			for s := j.highest + 1; s < ext; s++ {
				j.missing[s] = &nackState{since: now}
			}
		}
		j.highest = ext
	}
	*slot = jitterPacket{present: true, ext: ext, ts: ts, marker: marker, start: start,
		payload: append(slot.payload[:0], payload...), arrived: now}
	// What lies a ring or more behind the newest packet is given up.
	for j.head <= j.highest && j.highest-j.head >= jitterSize {
		j.giveUp()
	}
}

// updateJitter is RFC 3550 A.8's interarrival jitter (90 kHz units).
func (j *videoJitter) updateJitter(now time.Time, ts uint32) {
	arrival := now.UnixNano() * 90 / 1_000_000 // 90 kHz
	transit := arrival - int64(ts)
	if j.transitOK {
		d := transit - j.lastTransit
		if d < 0 {
			d = -d
		}
		j.jitter += (float64(d) - j.jitter) / 16
	}
	j.lastTransit, j.transitOK = transit, true
}

func (j *videoJitter) at(ext uint64) *jitterPacket {
	p := &j.ring[ext%jitterSize]
	if !p.present || p.ext != ext {
		return nil
	}
	return p
}

// release emits every frame that is complete at head, in order, and gives
// up the frame at head once it has been blocked for giveUpAfter.
func (j *videoJitter) release(now time.Time, emit func(jitterFrame)) {
	for j.started && j.head <= j.highest {
		end, ok := j.scan()
		if !ok {
			if j.blockedAt.IsZero() {
				j.blockedAt = now
			}
			if now.Sub(j.blockedAt) < giveUpAfter {
				return
			}
			j.giveUp()
			continue
		}
		j.complete(now, end, emit)
	}
}

// scan looks for a complete frame starting at head and returns its last
// SN.
func (j *videoJitter) scan() (uint64, bool) {
	first := j.at(j.head)
	if first == nil {
		return 0, false
	}
	for k := j.head; k <= j.highest; k++ {
		p := j.at(k)
		if p == nil || p.ts != first.ts {
			return 0, false
		}
		if p.marker {
			return k, true
		}
	}
	return 0, false
}

// complete emits the frame head..end (or counts it given up when its
// first packet is not a frame start) and moves head past it.
func (j *videoJitter) complete(now time.Time, end uint64, emit func(jitterFrame)) {
	first := j.at(j.head)
	if !first.start {
		j.stats.givenUp++
		j.lostFrame()
		j.advance(end + 1)
		return
	}
	n := 0
	for k := j.head; k <= end; k++ {
		n += len(j.at(k).payload)
	}
	data := make([]byte, 0, n)
	for k := j.head; k <= end; k++ {
		data = append(data, j.at(k).payload...)
	}
	f := jitterFrame{ts: first.ts, data: data}
	if len(data) > 0 && data[0]&0x01 == 0 {
		f.key = true
		j.keyed, j.needKey = true, false
		if w, h, ok := vp8KeyframeSize(data); ok && (w != j.stats.width || h != j.stats.height) {
			f.layerChange = true
			j.stats.width, j.stats.height = w, h
		}
	}
	if !j.stats.lastFrameAt.IsZero() {
		f.gap = now.Sub(j.stats.lastFrameAt)
		j.stats.largestGap = max(j.stats.largestGap, f.gap)
	}
	if f.layerChange {
		j.stats.changes = append(j.stats.changes, LayerChange{At: now, Width: j.stats.width, Height: j.stats.height, Gap: f.gap})
	}
	if !j.keyed {
		j.needKey = true // a delta frame with nothing to decode it from
	}
	j.stats.lastFrameAt = now
	j.stats.frames++
	j.skipValid = false
	j.advance(end + 1)
	emit(f)
}

// lostFrame notes a frame that will not be decoded (given up, or
// dropped by DAVE): the frames after it need a new keyframe.
func (j *videoJitter) lostFrame() { j.keyed, j.needKey = false, true }

// pliDue reports whether to ask for a keyframe now (and notes it asked).
func (j *videoJitter) pliDue(now time.Time) bool {
	if !j.needKey || now.Sub(j.pliAt) < pliInterval {
		return false
	}
	j.pliAt = now
	return true
}

// giveUp skips the frame at head (counted).
func (j *videoJitter) giveUp() {
	j.stats.givenUp++
	j.lostFrame()
	k := j.head
	for k <= j.highest && j.at(k) == nil {
		k++
	}
	if k > j.highest {
		j.advance(k)
		return
	}
	p := j.at(k)
	if k > j.head && p.start {
		// What was missing ended an earlier frame; the frame at k may
		// still complete.
		j.advance(k)
		return
	}
	ts := p.ts
	for ; k <= j.highest; k++ {
		q := j.at(k)
		if q == nil {
			continue
		}
		if q.ts != ts {
			break
		}
		if q.marker {
			k++
			break
		}
	}
	j.skipTS, j.skipValid = ts, true
	j.advance(k)
}

// advance moves head to h, freeing what lies before it.
func (j *videoJitter) advance(h uint64) {
	if h-j.head >= jitterSize {
		for i := range j.ring {
			if j.ring[i].ext < h {
				j.ring[i].present = false
			}
		}
	} else {
		for k := j.head; k < h; k++ {
			if p := j.at(k); p != nil {
				p.present = false
			}
		}
	}
	j.head = h
	j.blockedAt = time.Time{}
	for s := range j.missing {
		if s < h {
			delete(j.missing, s)
		}
	}
}

// nackList appends the SNs (16-bit) due for a NACK at now.
func (j *videoJitter) nackList(now time.Time, out []uint16) []uint16 {
	var due []uint64
	for s, n := range j.missing {
		if s < j.head || now.Sub(n.since) > giveUpAfter {
			delete(j.missing, s)
			continue
		}
		if n.count >= nackTries || n.count > 0 && now.Sub(n.last) < nackInterval {
			continue
		}
		n.count++
		n.last = now
		j.stats.nacked++
		due = append(due, s)
	}
	slices.Sort(due)
	for _, s := range due {
		out = append(out, uint16(s))
	}
	return out
}

// report returns the receiver-report figures since the last call: the
// fraction lost (0-255), cumulative lost, the extended highest SN, and
// the jitter.
func (j *videoJitter) report() (fraction uint8, lost uint32, highest uint32, jitter uint32, ok bool) {
	if !j.started {
		return 0, 0, 0, 0, false
	}
	expected := j.highest - j.base + 1
	cum := int64(expected) - int64(j.received)
	cum = min(max(cum, 0), 0x7FFFFF)
	ei := expected - j.expectedPrior
	ri := j.received - j.rcvPri
	j.expectedPrior, j.rcvPri = expected, j.received
	if ei > 0 && ri < ei {
		fraction = uint8(((ei - ri) << 8) / ei)
	}
	return fraction, uint32(cum), uint32(j.highest - 1<<32), uint32(j.jitter), true
}

// vp8KeyframeSize reads a VP8 keyframe's dimensions (RFC 6386 §9.1: a
// 3-byte frame tag, the start code 9d 01 2a, then 14-bit width and height
// with 2-bit scales, little-endian). DAVE leaves these 10 bytes in clear.
func vp8KeyframeSize(f []byte) (w, h int, ok bool) {
	if len(f) < 10 || f[0]&0x01 != 0 || f[3] != 0x9d || f[4] != 0x01 || f[5] != 0x2a {
		return 0, 0, false
	}
	w = int(f[6]) | int(f[7]&0x3F)<<8
	h = int(f[8]) | int(f[9]&0x3F)<<8
	return w, h, w > 0 && h > 0
}
