package voiceclient

import (
	"bytes"
	"testing"
	"time"
)

// jpkt is a test packet: SN, frame (timestamp = frame×3000), first and
// last of its frame.
type jpkt struct {
	seq         uint16
	frame       int
	start, last bool
	rtx         bool
	at          time.Duration // arrival after t0
}

// frames3 is three 2-packet frames at SNs 65534.. (wrapping).
func frames3() []jpkt {
	var out []jpkt
	seq := uint16(65534)
	for f := range 3 {
		out = append(out, jpkt{seq: seq, frame: f, start: true}, jpkt{seq: seq + 1, frame: f, last: true})
		seq += 2
	}
	return out
}

func without(ps []jpkt, seqs ...uint16) []jpkt {
	var out []jpkt
	for _, p := range ps {
		drop := false
		for _, s := range seqs {
			drop = drop || p.seq == s
		}
		if !drop {
			out = append(out, p)
		}
	}
	return out
}

func TestVideoJitter(t *testing.T) {
	t0 := time.Unix(1000, 0)
	rtxOf := func(seq uint16, frame int, start bool, at time.Duration) jpkt {
		return jpkt{seq: seq, frame: frame, start: start, last: !start, rtx: true, at: at}
	}
	for _, tc := range []struct {
		name                  string
		pkts                  []jpkt
		end                   time.Duration // a last release at t0+end
		frames, givenUp, late uint64
		nacked                []uint16 // the NACK list at the first packet after a gap
	}{
		{name: "in order", pkts: frames3(), frames: 3},
		{name: "loss given up", pkts: without(frames3(), 0), end: 300 * time.Millisecond, frames: 2, givenUp: 1,
			nacked: []uint16{0}},
		{name: "loss repaired by RTX", pkts: append(without(frames3(), 0), rtxOf(0, 1, true, 30*time.Millisecond)),
			frames: 3, nacked: []uint16{0}},
		{name: "RTX too late", pkts: append(without(frames3(), 0), rtxOf(0, 1, true, 300*time.Millisecond)),
			end: 300 * time.Millisecond, frames: 2, givenUp: 1, late: 1, nacked: []uint16{0}},
		{name: "the stream's first packet lost", pkts: without(frames3(), 65534), end: 300 * time.Millisecond,
			frames: 2},
		{name: "a frame start lost midway", pkts: without(frames3(), 1), end: 300 * time.Millisecond, frames: 2,
			givenUp: 1, nacked: []uint16{1}},
		{name: "duplicate", pkts: append(frames3()[:1], frames3()...), frames: 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var j videoJitter
			var got []jitterFrame
			var nacks []uint16
			emit := func(f jitterFrame) { got = append(got, f) }
			for _, p := range tc.pkts {
				now := t0.Add(p.at)
				j.release(now, emit) // the feedback loop's tick
				j.push(now, p.seq, uint32(p.frame*3000), p.last, p.start, []byte{byte(p.frame), byte(p.seq)}, p.rtx)
				if nacks == nil && len(j.missing) > 0 {
					nacks = j.nackList(now, []uint16{})
				}
				j.release(now, emit)
			}
			j.release(t0.Add(tc.end), emit)
			if j.stats.frames != tc.frames || uint64(len(got)) != tc.frames || j.stats.givenUp != tc.givenUp || j.stats.late != tc.late {
				t.Fatalf("frames %d (emitted %d), given up %d, late %d; want %d, %d, %d",
					j.stats.frames, len(got), j.stats.givenUp, j.stats.late, tc.frames, tc.givenUp, tc.late)
			}
			if tc.nacked != nil && !equalSeqs(nacks, tc.nacked) {
				t.Fatalf("nacked %v, want %v", nacks, tc.nacked)
			}
			for i := 1; i < len(got); i++ {
				if got[i].ts <= got[i-1].ts {
					t.Fatalf("frames out of order: %v", got)
				}
			}
			for _, f := range got {
				if len(f.data) != 4 || f.data[0] != f.data[2] {
					t.Fatalf("frame %d assembled as %v", f.ts, f.data)
				}
			}
		})
	}
}

func equalSeqs(a, b []uint16) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestVideoJitterNACKRetries: a missing SN is NACKed again after
// nackInterval, at most nackTries times, and not after giveUpAfter.
func TestVideoJitterNACKRetries(t *testing.T) {
	t0 := time.Unix(1000, 0)
	var j videoJitter
	j.push(t0, 10, 0, false, true, []byte{1}, false)
	j.push(t0, 12, 0, true, false, []byte{1}, false)
	n := 0
	for d := time.Duration(0); d <= 300*time.Millisecond; d += 10 * time.Millisecond {
		n += len(j.nackList(t0.Add(d), nil))
	}
	if n != nackTries {
		t.Fatalf("NACKed %d times, want %d", n, nackTries)
	}
}

// TestVideoJitterReport: loss fraction and cumulative loss over two
// intervals (RFC 3550 A.3), RTX not counted as received.
func TestVideoJitterReport(t *testing.T) {
	t0 := time.Unix(1000, 0)
	var j videoJitter
	for s := uint16(0); s < 100; s++ {
		if s%4 == 1 { // 25 % lost
			continue
		}
		j.push(t0, s, uint32(s)*3000, true, true, []byte{0}, false)
	}
	frac, lost, hi, _, ok := j.report()
	if !ok || frac != 64 || lost != 25 || hi != 99 {
		t.Fatalf("report: fraction %d lost %d highest %d", frac, lost, hi)
	}
	j.push(t0, 97, 97*3000, true, true, []byte{0}, true) // an RTX is not counted as received
	for s := uint16(100); s < 200; s++ {
		j.push(t0, s, uint32(s)*3000, true, true, []byte{0}, false)
	}
	frac, lost, hi, _, _ = j.report()
	if frac != 0 || lost != 25 || hi != 199 {
		t.Fatalf("second report: fraction %d lost %d highest %d", frac, lost, hi)
	}
}

func TestVP8KeyframeSize(t *testing.T) {
	key := []byte{0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0x68, 0x41} // 640x360, scale bits set on height
	for _, tc := range []struct {
		name string
		f    []byte
		w, h int
		ok   bool
	}{
		{"keyframe", key, 640, 360, true},
		{"delta", append([]byte{0x11}, key[1:]...), 0, 0, false},
		{"short", key[:9], 0, 0, false},
		{"bad start code", append(bytes.Clone(key[:3]), 0, 0, 0, 0x80, 2, 0x68, 1), 0, 0, false},
	} {
		w, h, ok := vp8KeyframeSize(tc.f)
		if w != tc.w || h != tc.h || ok != tc.ok {
			t.Errorf("%s: %dx%d %v, want %dx%d %v", tc.name, w, h, ok, tc.w, tc.h, tc.ok)
		}
	}
}

// FuzzVideoJitter feeds arbitrary packets: no panic, frames come out in
// SN order with their bytes, and the counters stay consistent.
func FuzzVideoJitter(f *testing.F) {
	f.Add([]byte{0, 0, 1, 1, 0, 1, 0, 0, 2, 2, 1, 0})
	f.Add(bytes.Repeat([]byte{0xff, 0xfe, 3, 7, 0x81}, 20))
	f.Fuzz(func(t *testing.T, b []byte) {
		t0 := time.Unix(1000, 0)
		var j videoJitter
		var last uint32
		first := true
		for i := 0; i+4 <= len(b); i += 4 {
			seq := uint16(b[i])<<8 | uint16(b[i+1])
			ts := uint32(b[i+2]) * 3000
			fl := b[i+3]
			now := t0.Add(time.Duration(i) * time.Millisecond)
			j.push(now, seq, ts, fl&1 != 0, fl&2 != 0, b[i:i+4], fl&4 != 0)
			_ = j.nackList(now, nil)
			j.release(now, func(fr jitterFrame) {
				if !first && fr.ts == last && len(fr.data) == 0 {
					t.Fatalf("empty repeated frame")
				}
				first, last = false, fr.ts
			})
			if j.started && (j.head > j.highest+1 || j.head <= j.highest && j.highest-j.head >= jitterSize) {
				t.Fatalf("head %d highest %d", j.head, j.highest)
			}
		}
		_, _, _, _, _ = j.report()
	})
}

func FuzzVP8KeyframeSize(f *testing.F) {
	f.Add([]byte{0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0x68, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		w, h, ok := vp8KeyframeSize(b)
		if ok && (w <= 0 || h <= 0 || w > 1<<14 || h > 1<<14) {
			t.Fatalf("%dx%d", w, h)
		}
	})
}

// TestVideoJitterKeyframeRequest: a stream with nothing to decode (delta
// frames before any keyframe, a frame given up, one DAVE dropped) asks
// for a keyframe, again at most every pliInterval, until one completes.
func TestVideoJitterKeyframeRequest(t *testing.T) {
	t0 := time.Unix(1000, 0)
	key, delta := byte(0x00), byte(0x01) // the VP8 frame tag's P bit
	for _, tc := range []struct {
		name  string
		kinds []byte // one 1-packet frame each, SNs from 1
		lose  uint16 // an SN never received (0: none)
		drop  bool   // DAVE drops the last frame
		due   bool
	}{
		{name: "keyframe first", kinds: []byte{key, delta, delta}},
		{name: "joined mid-stream", kinds: []byte{delta, delta}, due: true},
		{name: "frame given up", kinds: []byte{key, delta, delta, delta}, lose: 3, due: true},
		{name: "keyframe after the loss", kinds: []byte{key, delta, delta, key, delta}, lose: 3},
		{name: "dropped by DAVE", kinds: []byte{key, delta}, drop: true, due: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var j videoJitter
			now := t0
			for i, k := range tc.kinds {
				seq := uint16(i + 1)
				now = now.Add(33 * time.Millisecond)
				if seq == tc.lose {
					continue
				}
				j.push(now, seq, uint32(i*3000), true, true, []byte{k, 0}, false)
				j.release(now, func(jitterFrame) {})
			}
			if tc.lose != 0 {
				now = now.Add(giveUpAfter + time.Millisecond)
				j.release(now, func(jitterFrame) {}) // the lost frame given up
				if j.stats.givenUp != 1 {
					t.Fatalf("given up %d, want 1", j.stats.givenUp)
				}
			}
			if tc.drop {
				j.lostFrame()
			}
			if got := j.pliDue(now); got != tc.due {
				t.Fatalf("PLI due %v, want %v (given up %d)", got, tc.due, j.stats.givenUp)
			}
			if !tc.due {
				return
			}
			if j.pliDue(now.Add(pliInterval - time.Millisecond)) {
				t.Fatalf("a second PLI within %v", pliInterval)
			}
			if !j.pliDue(now.Add(pliInterval)) {
				t.Fatalf("no PLI again after %v without a keyframe", pliInterval)
			}
			j.push(now, uint16(len(tc.kinds)+1), uint32(len(tc.kinds)*3000), true, true, []byte{key, 0}, false)
			j.release(now, func(jitterFrame) {})
			if j.pliDue(now.Add(10 * pliInterval)) {
				t.Fatalf("a PLI after the keyframe completed")
			}
		})
	}
}
