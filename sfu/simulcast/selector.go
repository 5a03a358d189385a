package simulcast

import (
	"fmt"
	"time"
)

// Layer is one simulcast layer a sender offers (its entry in the op 12
// streams list). A Track's layers are in layer-index order, the order of
// the Forwarder's layer indices, lowest quality and bitrate first.
type Layer struct {
	Quality    int    // Discord stream quality, 0-100 (rid "50", "100")
	MaxBitrate uint64 // announced max_bitrate, bits/s; 0 unknown
	Bitrate    uint64 // measured bits/s; 0 unknown (then MaxBitrate counts)
	Active     bool
}

// Track is one sender's video as one receiver sees it.
type Track struct {
	Key    uint32  // identifies the sender's video, e.g. its SSRC
	Want   int     // the receiver's op 15 quality for this sender, 0-100; 0 = none
	Layers []Layer // index = layer index
}

// Reason says why a Decision is what it is.
type Reason uint8

// Reasons.
const (
	ReasonWanted    Reason = iota // the layer the receiver wants
	ReasonUnwanted                // want 0: no video
	ReasonNoLayer                 // the sender has no active layer
	ReasonLimited                 // a lower layer than wanted: bandwidth
	ReasonCongested               // paused: not even the lowest layer fits
	ReasonHolding                 // a higher layer fits; waiting before upgrading
)

func (r Reason) String() string {
	switch r {
	case ReasonWanted:
		return "wanted"
	case ReasonUnwanted:
		return "unwanted"
	case ReasonNoLayer:
		return "no_layer"
	case ReasonLimited:
		return "limited"
	case ReasonCongested:
		return "congested"
	case ReasonHolding:
		return "holding"
	}
	return fmt.Sprintf("reason(%d)", uint8(r))
}

// Decision is the target layer of one track: a layer index for
// Forwarder.SetTarget, -1 for none.
type Decision struct {
	Key    uint32
	Layer  int
	Reason Reason
}

// SelectorConfig configures a Selector; New applies the defaults.
type SelectorConfig struct {
	// Margin: a layer keeps fitting while its rate × (1+Margin) fits the
	// budget; below that it is left at once. Default 0.1.
	Margin float64
	// UpgradeMargin: a higher layer must fit with rate × (1+UpgradeMargin).
	// Default 0.25.
	UpgradeMargin float64
	// UpgradeHold: how long a higher layer must keep fitting before the
	// switch up. Default 2 s.
	UpgradeHold time.Duration
	// DowngradeBackoff: no upgrade sooner than this after a bandwidth
	// downgrade (mediasoup waits about 10 s). Default 10 s.
	DowngradeBackoff time.Duration
}

func (c SelectorConfig) withDefaults() SelectorConfig {
	if c.Margin == 0 {
		c.Margin = 0.1
	}
	if c.UpgradeMargin == 0 {
		c.UpgradeMargin = 0.25
	}
	if c.UpgradeHold == 0 {
		c.UpgradeHold = 2 * time.Second
	}
	if c.DowngradeBackoff == 0 {
		c.DowngradeBackoff = 10 * time.Second
	}
	return c
}

// Validate reports whether c is usable after defaults. It changes nothing.
func (c SelectorConfig) Validate() error {
	if c.Margin < 0 || c.UpgradeMargin < c.Margin || c.UpgradeHold < 0 || c.DowngradeBackoff < 0 {
		return fmt.Errorf("%w: selector needs 0 <= Margin <= UpgradeMargin and non-negative durations", ErrConfig)
	}
	return nil
}

// trackState is the Selector's memory of one track.
type trackState struct {
	key          uint32
	layer        int
	reason       Reason
	upgrading    bool // a higher layer has fitted since upgradeSince
	upgradeSince time.Time
	downgraded   bool // a bandwidth downgrade happened at downgradeAt
	downgradeAt  time.Time
	seen         bool // present in the current Select
}

// Selector chooses, for one receiver, the layer of each sender's video it
// should get. Pure: the caller passes the time and holds its lock. It
// allocates only when tracks are added.
//
// Each track's ceiling is the highest active layer whose quality does not
// exceed the receiver's want (the lowest active layer if all exceed it);
// want 0 means none. With an unknown estimate every track gets its
// ceiling. Otherwise the budget is the estimate less the receiver's audio
// (audio first) and is shared in the caller's order of tracks: first the
// lowest layer of each track, while it fits (a track that cannot get even
// that is paused), then one layer up at a time, round robin, up to the
// ceilings. A layer at or below the current one fits with Margin, a higher
// one with UpgradeMargin. Then per track: a lower layer is taken at once
// (downgrade fast); a higher one only after it has kept fitting for
// UpgradeHold, and not within DowngradeBackoff of a bandwidth downgrade
// (upgrade conservatively).
type Selector struct {
	cfg    SelectorConfig
	states []trackState
	// Scratch, per Select call.
	ceil, desired []int
	cur           []int
}

// NewSelector returns a Selector.
func NewSelector(cfg SelectorConfig) (*Selector, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Selector{cfg: cfg}, nil
}

// Select returns the decisions for tracks, appended to out, in tracks'
// order. estimate is the receiver's bandwidth estimate in bits/s (0 =
// unknown), audio the bits/s its audio takes. Tracks absent from a call
// are forgotten.
func (s *Selector) Select(now time.Time, estimate, audio uint64, tracks []Track, out []Decision) []Decision {
	n := len(tracks)
	s.ceil, s.desired, s.cur = grow(s.ceil, n), grow(s.desired, n), grow(s.cur, n)
	for i := range s.states {
		s.states[i].seen = false
	}
	for i := range tracks {
		st := s.state(tracks[i].Key)
		st.seen = true
		s.cur[i] = st.layer
		s.ceil[i] = ceiling(&tracks[i])
		s.desired[i] = s.ceil[i]
	}
	known := estimate > 0
	if known {
		s.allocate(tracks, float64(estimate)-float64(audio))
	}
	for i := range tracks {
		st := s.state(tracks[i].Key)
		out = append(out, s.decide(now, st, known, tracks[i].Want, s.ceil[i], s.desired[i]))
	}
	// Forget tracks that were not passed.
	kept := s.states[:0]
	for _, st := range s.states {
		if st.seen {
			kept = append(kept, st)
		}
	}
	s.states = kept
	return out
}

// allocate fills s.desired within budget (bits/s).
func (s *Selector) allocate(tracks []Track, budget float64) {
	used := 0.0
	for i := range tracks {
		if s.ceil[i] < 0 {
			s.desired[i] = -1
			continue
		}
		lo := lowest(&tracks[i])
		c := s.cost(&tracks[i], i, lo)
		if used+c <= budget {
			s.desired[i] = lo
			used += c
		} else {
			s.desired[i] = -1
		}
	}
	for changed := true; changed; {
		changed = false
		for i := range tracks {
			d := s.desired[i]
			if d < 0 || d >= s.ceil[i] {
				continue
			}
			nx := nextActive(&tracks[i], d, s.ceil[i])
			if nx < 0 {
				continue
			}
			extra := s.cost(&tracks[i], i, nx) - s.cost(&tracks[i], i, d)
			if used+extra <= budget {
				s.desired[i] = nx
				used += extra
				changed = true
			}
		}
	}
}

// cost is what layer l of track i takes from the budget, with the margin
// of holding (at or below the current layer) or of upgrading.
func (s *Selector) cost(t *Track, i, l int) float64 {
	ly := &t.Layers[l]
	rate := ly.Bitrate
	if rate == 0 {
		rate = ly.MaxBitrate
	}
	m := s.cfg.Margin
	if l > s.cur[i] {
		m = s.cfg.UpgradeMargin
	}
	return float64(rate) * (1 + m)
}

// decide applies the hysteresis to one track.
func (s *Selector) decide(now time.Time, st *trackState, known bool, want, ceil, desired int) Decision {
	reason := ReasonWanted
	switch {
	case want <= 0:
		reason = ReasonUnwanted
	case ceil == -1:
		reason = ReasonNoLayer
	case desired == -1:
		reason = ReasonCongested
	case desired < ceil:
		reason = ReasonLimited
	}
	cur := st.layer
	fresh := cur == -2 || !known || cur == -1 && st.reason != ReasonCongested && st.reason != ReasonHolding
	switch {
	case fresh || desired == cur:
		st.layer, st.upgrading = desired, false
	case desired < cur:
		st.layer, st.upgrading = desired, false
		if cur <= ceil || desired == -1 && ceil != -1 {
			// The link, not the want, took it down.
			st.downgraded, st.downgradeAt = true, now
		}
	default: // desired > cur: upgrade conservatively
		if !st.upgrading {
			st.upgrading, st.upgradeSince = true, now
		}
		if now.Sub(st.upgradeSince) >= s.cfg.UpgradeHold &&
			(!st.downgraded || now.Sub(st.downgradeAt) >= s.cfg.DowngradeBackoff) {
			st.layer, st.upgrading = desired, false
		} else {
			reason = ReasonHolding
		}
	}
	st.reason = reason
	return Decision{Key: st.key, Layer: st.layer, Reason: reason}
}

// state returns the state of key, adding it (layer -2: never decided).
func (s *Selector) state(key uint32) *trackState {
	for i := range s.states {
		if s.states[i].key == key {
			return &s.states[i]
		}
	}
	s.states = append(s.states, trackState{key: key, layer: -2})
	return &s.states[len(s.states)-1]
}

func grow(b []int, n int) []int {
	if cap(b) < n {
		return make([]int, n)
	}
	return b[:n]
}

// ceiling is the highest active layer whose quality does not exceed the
// want, or the lowest active one if all exceed it; -1 if want is 0 or no
// layer is active.
func ceiling(t *Track) int {
	if t.Want <= 0 {
		return -1
	}
	best, lo := -1, -1
	for i, l := range t.Layers {
		if !l.Active {
			continue
		}
		if lo == -1 || l.Quality < t.Layers[lo].Quality {
			lo = i
		}
		if l.Quality <= t.Want && (best == -1 || l.Quality >= t.Layers[best].Quality) {
			best = i
		}
	}
	if best == -1 {
		return lo
	}
	return best
}

// lowest returns the lowest active layer index.
func lowest(t *Track) int {
	for i, l := range t.Layers {
		if l.Active {
			return i
		}
	}
	return -1
}

// nextActive returns the next active layer above l, up to ceil, or -1.
func nextActive(t *Track, l, ceil int) int {
	for i := l + 1; i <= ceil; i++ {
		if t.Layers[i].Active {
			return i
		}
	}
	return -1
}
