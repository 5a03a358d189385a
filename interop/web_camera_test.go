package interop

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/internal/testkit"
)

// TestWebCamera is the web client's camera (issue 14) on the real page of
// `parley serve --dev`: alice and bob, each in a Chromium whose fake
// camera plays a .y4m clip made with ffmpeg at test time, sign up and
// join Lounge; the call is end-to-end encrypted (both pages make a
// DaveClient when the build has dave.wasm: `make web`). alice clicks the
// camera button: her page shows her own preview; bob's page shows her
// tile, its video decoding (getStats framesDecoded rising at the clip's
// rate, through window.parley.video()) and the speaking ring while her
// fake microphone speaks. She turns it off: the tile goes away at both.
// Screenshots of both pages are kept (PARLEY_TEST_ARTIFACTS).
func TestWebCamera(t *testing.T) {
	testkit.NoLeaks(t)
	began := time.Now()
	clip := makeY4M(t, 640, 360, 20, 3)
	srv := startParley(t)
	webURL := strings.TrimRight(srv.addr("web_url"), "/")
	shots := &screenshots{t: t, dir: artifactDir(t, "web-camera"), start: began}
	old, _ := filepath.Glob(filepath.Join(shots.dir, "*.png")) // a kept directory's last run
	for _, f := range old {
		_ = os.Remove(f)
	}
	t.Logf("screenshots: %s", shots.dir)
	a := openWebPage(t, webBrowser{name: "alice", url: webURL, certPath: srv.dir.CertPath(), wav: speechWAV(150, 1), camera: clip})
	b := openWebPage(t, webBrowser{name: "bob", url: webURL, certPath: srv.dir.CertPath(), wav: speechWAV(220, 3), camera: clip})
	a.shots, b.shots = shots, shots
	signIn(a, "alice-password", "register", "sign-up")
	signIn(b, "bob-password", "register", "sign-up")
	alice := pageEval[string](a, `window.parley.state().user`)
	bob := pageEval[string](b, `window.parley.state().user`)
	lounge := pageEval[string](a, js(`$('[data-channel-type="2"]')?.dataset.channelId ?? ''`))
	if lounge == "" {
		t.Fatal("alice's page lists no voice channel")
	}

	// Both in Lounge, end to end encrypted (or the build has no DAVE: the
	// pages say why, and the camera proof holds all the same).
	for _, p := range []*webPage{a, b} {
		p.click(fmt.Sprintf(`[data-channel-id="%s"]`, lounge), "voice: click Lounge")
	}
	for _, p := range []*webPage{a, b} {
		inVoice(p, 20*time.Second, "voice: joined", alice, bob)
		p.until(20*time.Second, js(`$('#voice-controls .vc-e2ee')?.dataset.e2ee === 'on'`), "voice: the call is end-to-end encrypted")
		p.until(5*time.Second, js(`$('#voice-controls [data-action=camera]')?.getAttribute('aria-pressed') === 'false' && $('#video-grid').hidden`),
			"voice: the camera button shows the camera off, no video grid")
	}

	// alice turns her camera on: her preview at hers, her tile at bob's.
	a.click(`#voice-controls [data-action=camera]`, "camera: alice clicks the camera button")
	tile := fmt.Sprintf(`#video-grid [data-video-user="%s"]`, alice)
	showing := js(fmt.Sprintf(`(e => !!e && e.checkVisibility() && e.videoWidth > 0 && !e.paused)($(%s))`, q(tile+" video")))
	a.until(10*time.Second, js(`$('#voice-controls [data-action=camera]').getAttribute('aria-pressed') === 'true'`), "camera: alice's button shows the camera on")
	a.until(10*time.Second, showing, "camera: alice's page shows her own preview")
	a.until(time.Second, js(fmt.Sprintf(`$(%s).classList.contains('self') && $(%s).getAttribute('aria-label').startsWith('Your camera')`, q(tile), q(tile))),
		"camera: alice's own tile is labelled as hers")
	b.until(15*time.Second, showing, "camera: bob's page shows alice's tile, playing")
	b.until(time.Second, js(fmt.Sprintf(`$(%s).textContent.includes('alice') && $$('#video-grid [data-video-user]').length === 1`, q(tile))),
		"camera: bob's page shows one tile, labelled alice")
	rate := decodeRate(t, b, alice, 40)
	t.Logf("camera: bob's page decodes alice's camera at %.1f frames/s (the clip: 20)", rate)
	if rate < 10 {
		t.Errorf("camera: bob's page decodes alice's camera at %.1f frames/s; want 10 or more (the clip has 20)", rate)
	}
	b.until(10*time.Second, js(fmt.Sprintf(`!!$(%s)`, q(tile+".speaking"))), "camera: bob's page rings alice's tile while she speaks")
	shots.take("camera-on", a, b)

	// alice turns it off: her tile goes away at both.
	a.click(`#voice-controls [data-action=camera]`, "camera off: alice clicks the camera button again")
	for _, p := range []*webPage{a, b} {
		p.until(10*time.Second, js(fmt.Sprintf(`!$(%s) && $('#video-grid').hidden`, q(tile))), "camera off: the tile goes away")
	}
	a.until(time.Second, js(`$('#voice-controls [data-action=camera]').getAttribute('aria-pressed') === 'false'`), "camera off: alice's button shows it off")
	shots.take("camera-off", a, b)
	for _, p := range []*webPage{a, b} {
		p.checkConsole("the end")
	}
	t.Logf("the story took %v", time.Since(began).Round(100*time.Millisecond))
}

// decodeRate waits until p's page has decoded n more frames of user's
// camera (window.parley.video() stats) and returns the rate, in frames
// per second, over that wait.
func decodeRate(t *testing.T, p *webPage, user string, n int) float64 {
	t.Helper()
	decoded := func() int {
		v := pageEval[struct {
			Stats videoStats `json:"stats"`
		}](p, `window.parley.video()`)
		sum := 0
		for _, s := range v.Stats.Inbound {
			if s.UserID == user {
				sum += s.FramesDecoded
			}
		}
		return sum
	}
	start, from := decoded(), time.Now()
	var got int
	testkit.Eventually(t, 10*time.Second, func() bool { got = decoded(); return got-start >= n },
		"%s's page decodes %d more frames of %s's camera", p.name, n, user)
	return float64(got-start) / time.Since(from).Seconds()
}
