package interop

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/internal/testkit"
	"github.com/parleyhq/parley/voiceclient"
)

// TestWebCamera is the web client's camera (issue 14) on the real page of
// `parley serve --dev`: alice and bob, each in a Chromium whose fake
// camera plays a .y4m clip made with ffmpeg at test time, sign up and
// join Lounge; the call is end-to-end encrypted (both pages make a
// DaveClient: the build has dave.wasm, `make web`). carol, Parley's Go
// client with DAVE, joins to watch: all three are in one MLS epoch. alice
// clicks the camera button: her page shows her own preview; bob's page
// shows her tile, its video decoding (getStats framesDecoded rising at
// the clip's rate, through window.parley.video()) and the speaking ring
// while her fake microphone speaks; carol's client decrypts her camera
// frames (its DAVE decryptor: every frame decrypted, none passed in
// clear) and its IVF recording decodes with ffmpeg. alice turns it off:
// the tile goes away at both pages. The SFU dropped no packet as not
// end-to-end encrypted (parley_sfu_drops_total{reason="not_e2ee"} and
// "e2ee_to_plain_receiver" stay 0 on /metrics). Screenshots of both
// pages are kept (PARLEY_TEST_ARTIFACTS/web-camera).
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

	// carol (the Go client, DAVE on) joins to watch, before the camera is
	// on: a receiver that joins mid-stream needs a keyframe of the epoch it
	// has keys for, and the Go client sends no PLI of its own (the SFU's
	// request for the new receiver is answered while the sender still
	// encrypts with the previous epoch).
	guild := pageEval[string](a, `window.parley.state().guild`)
	carol := srv.register("carol", "carol-password")
	carolChat := dialChat(t, srv.addr("gateway"), carol.Token, 1|1<<7)
	rec := newIVFRecorder(t, filepath.Join(t.TempDir(), "alice.ivf"))
	carolVoice := carolChat.joinVoice(carol.UserID, guild, lounge, srv, func(c *voiceclient.Config) {
		c.DisableDAVE = false
		c.OnVideoFrame = rec.frame
	})
	testkit.Eventually(t, 20*time.Second, func() bool {
		st := carolVoice.conn.DAVE()
		return st.ProtocolVersion == 1 && st.Ready && len(st.Members) == 3
	}, "dave: the Go client is in the call's MLS group with alice and bob")
	epoch := carolVoice.conn.DAVE().Epoch
	for _, p := range []*webPage{a, b} {
		inVoice(p, 20*time.Second, "dave: carol joined", alice, bob, carol.UserID)
		p.until(20*time.Second, js(fmt.Sprintf(`window.parley.dave().then(s => s?.epoch === %d && s?.ready)`, epoch)),
			"dave: the page is in the same epoch as the Go client")
	}

	before := carolVoice.conn.DAVE()
	dropsBefore := scrapeCounters(t, srv.addr("metrics"), "parley_sfu_drops_total", "reason")

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

	if !testkit.Poll(15*time.Second, func() bool { return rec.count() >= 60 }) {
		st := carolVoice.conn.DAVE()
		t.Fatalf("dave: the Go client recorded %d frames of alice's camera, want 60; its stats %+v; DAVE %+v, decrypt %+v, frames %+v",
			rec.count(), carolVoice.conn.Stats(), st.ParticipantState, st.Decrypt, st.Frames)
	}
	t.Logf("dave: the Go client recorded %d frames of alice's camera (epoch %d)", rec.count(), epoch)

	// alice turns it off: her tile goes away at both.
	a.click(`#voice-controls [data-action=camera]`, "camera off: alice clicks the camera button again")
	for _, p := range []*webPage{a, b} {
		p.until(10*time.Second, js(fmt.Sprintf(`!$(%s) && $('#video-grid').hidden`, q(tile))), "camera off: the tile goes away")
	}
	a.until(time.Second, js(`$('#voice-controls [data-action=camera]').getAttribute('aria-pressed') === 'false'`), "camera off: alice's button shows it off")
	shots.take("camera-off", a, b)

	// What carol's client decrypted, and what the SFU dropped.
	after := carolVoice.conn.DAVE()
	recorded := rec.count()
	rec.close()
	decoded := ffmpegFrames(t, rec.path)
	t.Logf("dave: the Go client recorded %d frames of alice's camera, ffmpeg decodes %d; its DAVE decryptor meanwhile: %+v (before: %+v)",
		recorded, decoded, after.Decrypt, before.Decrypt)
	if decoded < recorded*95/100 || decoded > recorded {
		t.Errorf("dave: ffmpeg decodes %d frames of the Go client's %d", decoded, recorded)
	}
	if after.Decrypt.Passthrough != before.Decrypt.Passthrough || after.Decrypt.Unencrypted != before.Decrypt.Unencrypted ||
		after.Decrypt.Decrypted-before.Decrypt.Decrypted < uint64(recorded) {
		t.Errorf("dave: the Go client's decryptor went from %+v to %+v while it recorded %d video frames: want every frame decrypted, none passed in clear",
			before.Decrypt, after.Decrypt, recorded)
	}
	for _, p := range []*webPage{a, b} {
		t.Logf("dave: %s's page: %s", p.name, pageEval[string](p, `window.parley.dave().then(s => JSON.stringify(s.frames))`))
	}
	// not_e2ee: a packet in clear in a DAVE call, never; e2ee_to_plain_receiver
	// (DAVE media held back from a member not yet in the group, as carol
	// while she joined): none while the camera was on.
	drops := scrapeCounters(t, srv.addr("metrics"), "parley_sfu_drops_total", "reason")
	t.Logf("dave: the SFU's drops: %v (before the camera: %v)", drops, dropsBefore)
	for _, r := range []string{"not_e2ee", "e2ee_to_plain_receiver"} {
		if _, ok := drops[r]; !ok {
			t.Errorf("dave: /metrics has no parley_sfu_drops_total{reason=%q}", r)
		}
	}
	if drops["not_e2ee"] != 0 {
		t.Errorf("dave: the SFU dropped %v packets as not end-to-end encrypted", drops["not_e2ee"])
	}
	if n := drops["e2ee_to_plain_receiver"] - dropsBefore["e2ee_to_plain_receiver"]; n != 0 {
		t.Errorf("dave: the SFU held %v packets back from a receiver not in the group while the camera was on", n)
	}
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

// scrapeCounters reads a counter family from a /metrics listener, summed
// by one label's value.
func scrapeCounters(t *testing.T, addr, name, label string) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	line := regexp.MustCompile(`^` + regexp.QuoteMeta(name) + `\{(.*)\} (\S+)$`)
	lv := regexp.MustCompile(regexp.QuoteMeta(label) + `="([^"]*)"`)
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		m := line.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		l := lv.FindStringSubmatch(m[1])
		v, err := strconv.ParseFloat(m[2], 64)
		if l == nil || err != nil {
			continue
		}
		out[l[1]] += v
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
