package sfu

import (
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"

	"github.com/parleyhq/parley/sfu/simulcast"
)

// Bandwidth for native receivers. A native receiver sends RTCP receiver
// reports (about once a second) with the fraction of each video stream it
// lost; the SFU counts the video bytes it sent that receiver. The
// estimator is loss-based, after GCC's loss-based controller
// (draft-ietf-rmcat-gcc-02 §6), with the send rate over the report
// interval as its measure:
//
//   - loss above 10 %: estimate = min(estimate, 1.25 × send rate) ×
//     (1 − loss/2) (back off at once, from no more than a little above
//     what was sent);
//   - loss below 2 %: estimate × 1.08 per second (probing upward; the
//     Selector's upgrade hold and 10 s downgrade backoff make trying a
//     higher layer rare), and at least the send rate;
//   - in between: hold.
//
// The first report only starts the interval; until the second the
// estimate is unknown (0) and every receiver gets the layer it wants. The
// estimate, clamped to [bweMin, bweMax], feeds a simulcast.Selector per
// receiver together with every sender's layers (qualities from op 12,
// bit rates measured at ingress) and the receiver's op 15 wants; its
// decisions cap each (receiver, sender) Forwarder's target, except that a
// "congested" decision (not even the lowest layer fits) keeps the lowest
// active layer rather than pausing video: loss alone does not prove
// congestion. Not done: a delay-based estimate (TWCC or REMB), RTT (the
// SFU sends no reports).
type receiverBWE struct {
	sent atomic.Uint64 // video bytes sent to the receiver, sealed

	mu       sync.Mutex // guards the following
	started  bool
	at       time.Time // last report
	lastSent uint64
	est      float64 // bits/s, 0 unknown
	sel      *simulcast.Selector
	tracks   []simulcast.Track
	order    [][]int // per track: Selector layer index -> stream index
	out      []simulcast.Decision

	// decisions maps a sender's audio SSRC to the stream index it may get
	// (-1: paused); nil until an estimate exists.
	decisions atomic.Pointer[map[uint32]int]
}

const (
	bweMin = 30_000
	bweMax = 50_000_000
)

// target is the layer receiver gets of p: the Selector's decision when
// there is one, else want.
func (b *receiverBWE) target(p *Participant, want int) int {
	m := b.decisions.Load()
	if m == nil || want < 0 {
		return want
	}
	if l, ok := (*m)[p.ssrc]; ok {
		return l
	}
	return want
}

// Estimate returns the receiver's bandwidth estimate in bits/s (0:
// unknown).
func (p *Participant) Estimate() uint64 {
	p.bwe.mu.Lock()
	defer p.bwe.mu.Unlock()
	return uint64(p.bwe.est)
}

// update applies a receiver report's loss (0-1) at now and returns the
// estimate.
func (b *receiverBWE) update(now time.Time, loss float64) float64 {
	sent := b.sent.Load()
	if !b.started {
		b.started, b.at, b.lastSent = true, now, sent
		return 0
	}
	dt := now.Sub(b.at).Seconds()
	if dt < 0.2 {
		return b.est
	}
	rate := float64(sent-b.lastSent) * 8 / dt
	b.at, b.lastSent = now, sent
	switch {
	case loss > 0.10:
		// From the estimate, but no higher than a quarter above what was
		// sent: an estimate grown while the receiver took little must not
		// keep it on a layer its link drops. Not from the send rate
		// itself: on the lowest layer that would pause video at any
		// spike just over 10 % (a few lost packets of a small interval).
		base := rate * 1.25
		if b.est > 0 && b.est < base {
			base = b.est
		}
		b.est = base * (1 - loss/2)
	case loss < 0.02:
		if b.est == 0 {
			b.est = rate
		}
		b.est = max(b.est*math.Pow(1.08, dt), rate)
	case b.est == 0:
		b.est = rate
	}
	b.est = min(max(b.est, bweMin), bweMax)
	return b.est
}

// handleReports takes q's report blocks: loss on the video it gets
// updates its estimate and its layer decisions.
func (r *reader) handleReports(q *Participant, reports []rtcp.ReceptionReport) {
	loss, n := 0.0, 0
	for _, rb := range reports {
		if p, _ := r.videoSource(rb.SSRC); p != nil && p != q {
			loss = max(loss, float64(rb.FractionLost)/256)
			n++
		}
	}
	if n == 0 {
		return
	}
	r.srv.vstats.Estimates.Add(1)
	q.reselect(r.now, loss)
}

// reselect updates q's estimate and runs its Selector over every sender's
// video in the room.
func (q *Participant) reselect(now time.Time, loss float64) {
	b := &q.bwe
	b.mu.Lock()
	defer b.mu.Unlock()
	est := b.update(now, loss)
	if b.sel == nil {
		b.sel, _ = simulcast.NewSelector(q.srv.cfg.VideoSelector) // checked by Config.Validate
	}
	w := q.wants.Load()
	b.tracks, b.order = b.tracks[:0], b.order[:0]
	for _, p := range q.room.snapshot() {
		st := p.video.Load()
		if p == q || st == nil || len(st.streams) == 0 {
			continue
		}
		want := 100
		if w != nil {
			want = w.w.Want(p.ssrc, st.streams[0].SSRC)
		}
		idx := make([]int, len(st.streams))
		for i := range idx {
			idx[i] = i
		}
		slices.SortStableFunc(idx, func(a, c int) int { return st.streams[a].Quality - st.streams[c].Quality })
		layers := make([]simulcast.Layer, len(idx))
		for k, i := range idx {
			s := st.streams[i]
			layers[k] = simulcast.Layer{Quality: s.Quality, MaxBitrate: uint64(max(s.MaxBitrate, 0)),
				Bitrate: p.vfwd.rate[i].bps.Load(), Active: s.Active}
		}
		b.tracks = append(b.tracks, simulcast.Track{Key: p.ssrc, Want: want, Layers: layers})
		b.order = append(b.order, idx)
	}
	b.out = b.sel.Select(now, uint64(est), 0, b.tracks, b.out[:0])
	m := make(map[uint32]int, len(b.out))
	for k, d := range b.out {
		l := -1
		switch {
		case d.Layer >= 0:
			l = b.order[k][d.Layer]
		case d.Reason == simulcast.ReasonCongested:
			// A loss-based estimate cannot tell congestion from random
			// loss (or a receiver's socket overflowing on a loaded
			// machine): it lowers the layer but never pauses video; the
			// lowest active layer stays. Pausing waits for a delay-based
			// estimate (TWCC/REMB).
			for j, layer := range b.tracks[k].Layers {
				if layer.Active {
					l = b.order[k][j]
					break
				}
			}
		}
		m[d.Key] = l
	}
	if est > 0 {
		b.decisions.Store(&m)
	}
}

// VideoLayer reports the stream index of p's video that receiver q gets
// now and the one it is switching to (-1: none).
func (p *Participant) VideoLayer(q *Participant) (current, target int) {
	p.vfwd.mu.Lock()
	defer p.vfwd.mu.Unlock()
	d := p.vfwd.downs[q]
	if d == nil {
		return -1, -1
	}
	return d.fw.Current(), d.fw.Target()
}

// rateMeter measures one layer's ingress bit rate over windows of
// rateWindow; bps is the last window's (read by other receivers'
// Selectors).
type rateMeter struct {
	start time.Time
	bytes uint64
	bps   atomic.Uint64
}

const rateWindow = time.Second

func (m *rateMeter) add(now time.Time, n int) {
	if m.start.IsZero() {
		m.start = now
	}
	m.bytes += uint64(n)
	if d := now.Sub(m.start); d >= rateWindow {
		m.bps.Store(m.bytes * 8 * uint64(time.Second) / uint64(d))
		m.start, m.bytes = now, 0
	}
}
