package simulcast

import (
	"errors"
	"testing"
	"time"
)

// cam is a camera with three layers: 150 kb/s, 500 kb/s, 1.5 Mb/s.
func cam(key uint32, want int) Track {
	return Track{Key: key, Want: want, Layers: []Layer{
		{Quality: 25, MaxBitrate: 150_000, Active: true},
		{Quality: 50, MaxBitrate: 500_000, Active: true},
		{Quality: 100, MaxBitrate: 1_500_000, Active: true},
	}}
}

const kbps = 1000

func TestSelectorFirstDecision(t *testing.T) {
	inactiveTop := cam(1, 100)
	inactiveTop.Layers[2].Active = false
	measured := cam(1, 100)
	measured.Layers[2].Bitrate = 900_000 // the top layer really takes 900 kb/s
	none := cam(1, 100)
	for i := range none.Layers {
		none.Layers[i].Active = false
	}
	tests := []struct {
		name     string
		estimate uint64
		audio    uint64
		track    Track
		want     Decision
	}{
		{"unknown_bwe_want_100", 0, 0, cam(1, 100), Decision{1, 2, ReasonWanted}},
		{"unknown_bwe_want_50", 0, 0, cam(1, 50), Decision{1, 1, ReasonWanted}},
		{"unknown_bwe_want_70", 0, 0, cam(1, 70), Decision{1, 1, ReasonWanted}},
		{"unknown_bwe_want_below_all", 0, 0, cam(1, 10), Decision{1, 0, ReasonWanted}},
		{"want_0", 5000 * kbps, 0, cam(1, 0), Decision{1, -1, ReasonUnwanted}},
		{"no_active_layer", 5000 * kbps, 0, none, Decision{1, -1, ReasonNoLayer}},
		{"inactive_top", 5000 * kbps, 0, inactiveTop, Decision{1, 1, ReasonWanted}},
		{"plenty", 5000 * kbps, 64 * kbps, cam(1, 100), Decision{1, 2, ReasonWanted}},
		// First decision: no current layer, so every layer needs the
		// upgrade margin (1.25): 1.5 Mb/s needs 1875 kb/s.
		{"just_short_of_top", 1870 * kbps, 0, cam(1, 100), Decision{1, 1, ReasonLimited}},
		{"top_with_margin", 1875 * kbps, 0, cam(1, 100), Decision{1, 2, ReasonWanted}},
		{"measured_rate_counts", 1200 * kbps, 0, measured, Decision{1, 2, ReasonWanted}},
		{"audio_first", 1900 * kbps, 64 * kbps, cam(1, 100), Decision{1, 1, ReasonLimited}},
		{"lowest_only", 300 * kbps, 0, cam(1, 100), Decision{1, 0, ReasonLimited}},
		{"paused", 180 * kbps, 0, cam(1, 100), Decision{1, -1, ReasonCongested}},
		{"paused_by_audio", 250 * kbps, 64 * kbps, cam(1, 100), Decision{1, -1, ReasonCongested}},
	}
	t0 := time.Date(2026, 8, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := NewSelector(SelectorConfig{})
			if err != nil {
				t.Fatal(err)
			}
			got := s.Select(t0, tc.estimate, tc.audio, []Track{tc.track}, nil)
			if len(got) != 1 || got[0] != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestSelectorHysteresis walks one track through a link that degrades and
// recovers: down at once, up only after UpgradeHold, and not within
// DowngradeBackoff of a downgrade.
func TestSelectorHysteresis(t *testing.T) {
	t0 := time.Date(2026, 8, 1, 0, 0, 0, 0, time.UTC)
	s, _ := NewSelector(SelectorConfig{})
	steps := []struct {
		at       time.Duration
		estimate uint64
		want     Decision
	}{
		{0, 3000 * kbps, Decision{7, 2, ReasonWanted}},
		// Holding the top layer needs 1.1 × 1.5 = 1650 kb/s.
		{1 * time.Second, 1700 * kbps, Decision{7, 2, ReasonWanted}},
		{2 * time.Second, 1600 * kbps, Decision{7, 1, ReasonLimited}}, // down at once
		{3 * time.Second, 3000 * kbps, Decision{7, 1, ReasonHolding}},
		{6 * time.Second, 3000 * kbps, Decision{7, 1, ReasonHolding}}, // held 3 s, but within 10 s of the downgrade
		{12 * time.Second, 3000 * kbps, Decision{7, 2, ReasonWanted}},
		{13 * time.Second, 160 * kbps, Decision{7, -1, ReasonCongested}}, // even the lowest does not fit
		{14 * time.Second, 400 * kbps, Decision{7, -1, ReasonHolding}},
		{22 * time.Second, 400 * kbps, Decision{7, -1, ReasonHolding}},
		{23 * time.Second, 400 * kbps, Decision{7, 0, ReasonLimited}},
		// The estimate dips under the upgrade margin: the hold restarts.
		{40 * time.Second, 3000 * kbps, Decision{7, 0, ReasonHolding}},
		{41 * time.Second, 400 * kbps, Decision{7, 0, ReasonLimited}},
		{42 * time.Second, 3000 * kbps, Decision{7, 0, ReasonHolding}},
		{43 * time.Second, 3000 * kbps, Decision{7, 0, ReasonHolding}},
		{44 * time.Second, 3000 * kbps, Decision{7, 2, ReasonWanted}},
		// The receiver lowers its want: at once, and no backoff after.
		{45 * time.Second, 3000 * kbps, Decision{7, 1, ReasonWanted}},
	}
	for i, st := range steps {
		want := 100
		if i == len(steps)-1 {
			want = 50
		}
		got := s.Select(t0.Add(st.at), st.estimate, 0, []Track{cam(7, want)}, nil)
		if got[0] != st.want {
			t.Fatalf("step %d at %v (%d kb/s): got %+v, want %+v", i, st.at, st.estimate/kbps, got[0], st.want)
		}
	}
	// Back to want 100: an upgrade like any other (hold, no backoff).
	got := s.Select(t0.Add(46*time.Second), 3000*kbps, 0, []Track{cam(7, 100)}, nil)
	got = s.Select(t0.Add(48*time.Second), 3000*kbps, 0, []Track{cam(7, 100)}, got[:0])
	if got[0] != (Decision{7, 2, ReasonWanted}) {
		t.Fatalf("want raised: %+v", got[0])
	}
}

// TestSelectorShares: several senders share one receiver's budget in the
// caller's order: everyone's lowest first, then upgrades round robin; a
// sender nobody can fit is paused; want 0 takes nothing.
func TestSelectorShares(t *testing.T) {
	t0 := time.Date(2026, 8, 1, 0, 0, 0, 0, time.UTC)
	tracks := []Track{cam(1, 100), cam(2, 100), cam(3, 0), cam(4, 50)}
	tests := []struct {
		estimate uint64
		want     []int
	}{
		{0, []int{2, 2, -1, 1}},
		// lowest ×3 at 1.25 = 562.5 kb; then track 1 to 500 kb (+437.5),
		// track 2 too, track 4 too: 1875 kb.
		{1900 * kbps, []int{1, 1, -1, 1}},
		{1000 * kbps, []int{1, 0, -1, 0}},
		{400 * kbps, []int{0, 0, -1, -1}},
		{100 * kbps, []int{-1, -1, -1, -1}},
	}
	for _, tc := range tests {
		s, _ := NewSelector(SelectorConfig{})
		got := s.Select(t0, tc.estimate, 0, tracks, nil)
		for i, d := range got {
			if d.Key != tracks[i].Key || d.Layer != tc.want[i] {
				t.Fatalf("%d kb/s: got %+v, want layers %v", tc.estimate/kbps, got, tc.want)
			}
		}
	}
	// A track that is no longer passed is forgotten.
	s, _ := NewSelector(SelectorConfig{})
	s.Select(t0, 0, 0, tracks, nil)
	s.Select(t0, 0, 0, tracks[:1], nil)
	if len(s.states) != 1 {
		t.Fatalf("states %d", len(s.states))
	}
}

func TestSelectorConfig(t *testing.T) {
	if _, err := NewSelector(SelectorConfig{Margin: 0.5, UpgradeMargin: 0.2}); !errors.Is(err, ErrConfig) {
		t.Fatal(err)
	}
	if _, err := NewSelector(SelectorConfig{UpgradeHold: -1}); !errors.Is(err, ErrConfig) {
		t.Fatal(err)
	}
	for r := ReasonWanted; r <= ReasonHolding+1; r++ {
		if r.String() == "" {
			t.Fatal("empty reason name")
		}
	}
}

func BenchmarkSelect(b *testing.B) {
	t0 := time.Date(2026, 8, 1, 0, 0, 0, 0, time.UTC)
	s, _ := NewSelector(SelectorConfig{})
	tracks := []Track{cam(1, 100), cam(2, 100), cam(3, 50), cam(4, 100)}
	out := make([]Decision, 0, len(tracks))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		out = s.Select(t0.Add(time.Duration(i)*time.Second), uint64(1000+i%3000)*kbps, 64*kbps, tracks, out[:0])
	}
}
