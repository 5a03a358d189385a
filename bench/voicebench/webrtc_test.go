package voicebench

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/internal/testkit"
)

func TestWebRTCAt(t *testing.T) {
	for _, tc := range []struct {
		share float64
		n     int
		want  string // '1' where the participant is web
	}{
		{0, 10, "0000000000"},
		{1, 10, "1111111111"},
		{0.5, 10, "0101010101"},
		{0.3, 10, "0001001001"},
		{0.25, 8, "00010001"},
	} {
		var b strings.Builder
		for j := range tc.n {
			if webRTCAt(j, tc.share) {
				b.WriteByte('1')
			} else {
				b.WriteByte('0')
			}
		}
		if b.String() != tc.want {
			t.Errorf("share %v: %s, want %s", tc.share, b.String(), tc.want)
		}
	}
}

// TestBenchWebRTCMixed loads an in-process server with WebRTC on with a
// tiny mixed load: in each room one native and one web speaker, one native
// and one web listener, so every direction (native and web, to native and
// web) carries packets. Nothing may be lost, and the web participants'
// handshakes (pion's DTLS reader included) leave no goroutine behind.
func TestBenchWebRTCMixed(t *testing.T) {
	testkit.NoLeaks(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var progress strings.Builder
	rep, err := Run(ctx, Options{
		Config: Config{Rooms: 2, Size: 4, Speakers: 2, Duration: time.Second, Warmup: 500 * time.Millisecond,
			WebRTCShare: 0.5, Progress: &progress},
		SFU: InProcessServerSource(t.TempDir(), nil),
	})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(rep)
	if len(rep.Runs) != 1 {
		t.Fatalf("%d runs, want 1", len(rep.Runs))
	}
	r := rep.Runs[0]
	if r.Name != "sfu-mixed" || r.WebParticipants != 4 || r.WebSpeakers != 2 {
		t.Errorf("run %q: %d web participants of whom %d speakers, want sfu-mixed, 4 and 2", r.Name, r.WebParticipants, r.WebSpeakers)
	}
	if r.Received == 0 || r.Lost != 0 || r.Loss != 0 || rep.Loss != 0 {
		t.Errorf("expected %d received %d lost %d", r.Expected, r.Received, r.Lost)
	}
	if r.DecryptErrors != 0 || r.Foreign != 0 || r.GatewayClosed != 0 {
		t.Errorf("decrypt errors %d, foreign %d, gateway closed %d", r.DecryptErrors, r.Foreign, r.GatewayClosed)
	}
	got := map[string]Direction{}
	for _, d := range r.Directions {
		got[d.From+">"+d.To] = d
	}
	for _, dir := range []string{"native>native", "native>webrtc", "webrtc>native", "webrtc>webrtc"} {
		d, ok := got[dir]
		if !ok || d.Expected == 0 || d.Received != d.Expected {
			t.Errorf("%s: %+v, want every expected packet delivered", dir, d)
		}
	}
	if rep.Mix == nil || len(rep.Mix.Directions) != 4 {
		t.Errorf("report mix %+v, want the four directions", rep.Mix)
	}
	for _, c := range rep.Checks {
		if c.Name == "directions_delivered" && !c.Pass {
			t.Errorf("check %+v", c)
		}
	}
	var text strings.Builder
	rep.WriteText(&text)
	if !strings.Contains(text.String(), "mixed load: webrtc share 0.50") || !strings.Contains(text.String(), "webrtc → native") {
		t.Errorf("text report lacks the mix:\n%s", text.String())
	}
	t.Logf("report: %s", b)
}

// TestBenchWebRTCCompare runs the comparison once at a tiny size: the
// native and the WebRTC run of a repetition, and the report's comparison.
func TestBenchWebRTCCompare(t *testing.T) {
	testkit.NoLeaks(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rep, err := Run(ctx, Options{
		Config:        Config{Rooms: 1, Size: 3, Speakers: 1, Duration: time.Second, Warmup: 500 * time.Millisecond},
		SFU:           InProcessServerSource(t.TempDir(), nil),
		CompareWebRTC: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Runs) != 2 || rep.Runs[0].Name != "sfu" || rep.Runs[1].Name != "webrtc" {
		t.Fatalf("runs %v, want sfu then webrtc", rep.Runs)
	}
	w := rep.Runs[1]
	if w.WebParticipants != 3 || w.Loss != 0 || w.Received == 0 || len(w.Directions) != 1 || w.Directions[0].Lost != 0 {
		t.Errorf("webrtc run: %d web participants, loss %v, received %d, directions %+v", w.WebParticipants, w.Loss, w.Received, w.Directions)
	}
	c := rep.WebRTC
	if c == nil || c.Reps != 1 || c.Ratio <= 0 || len(c.RepRatios) != 1 || c.WebRTCLoss != 0 {
		t.Fatalf("comparison %+v", c)
	}
	var names []string
	for _, ch := range rep.Checks {
		names = append(names, ch.Name)
	}
	if !strings.Contains(strings.Join(names, " "), "webrtc_cpu_ratio_to_native") {
		t.Errorf("checks %v lack webrtc_cpu_ratio_to_native", names)
	}
	if _, err := Run(ctx, Options{Config: Config{Rooms: 1, Size: 2, Speakers: 1, Duration: time.Second, WebRTCShare: 0.5},
		SFU: InProcessServerSource(t.TempDir(), nil), CompareWebRTC: true}); err == nil {
		t.Error("a comparison with a share set ran")
	}
}
