package interop

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/parleyhq/parley/e2ee/dave"
	"github.com/parleyhq/parley/internal/testkit"
	"github.com/parleyhq/parley/sfu"
	"github.com/parleyhq/parley/signaling"
	"github.com/parleyhq/parley/voicenode"
	"github.com/parleyhq/parley/voicenode/voicenodetest"
)

// maxSilence is the longest a listener may hear nothing of a speaker
// while browsers join and leave (issue 13).
const maxSilence = 1500 * time.Millisecond

// tamperer is the SFU's test hook (sfu.Config.TestTamper): it flips a
// ciphertext byte of the next n DAVE frames of one sender.
type tamperer struct {
	ssrc atomic.Uint32
	n    atomic.Int32
	done atomic.Int32
}

func (tp *tamperer) hook(src uint32, payload []byte) {
	if src != tp.ssrc.Load() || !dave.IsProtocolFrame(payload) || tp.n.Load() <= 0 {
		return
	}
	if tp.n.Add(-1) >= 0 {
		payload[0] ^= 0x55 // the first byte of an Opus frame is encrypted (dave.md §7)
		tp.done.Add(1)
	}
}

// startVoiceDAVE is startVoiceWebRTC with DAVE required (`--voice-dave
// required`) and the SFU's tamper hook.
func startVoiceDAVE(t *testing.T, tp *tamperer) (*voiceEnv, *prometheus.Registry) {
	t.Helper()
	log := testLogger(t)
	reg := prometheus.NewRegistry()
	srv := voicenodetest.Start(t, voicenode.Config{WebRTCAddr: "127.0.0.1:0", Logger: log, Metrics: reg,
		SFU:     sfu.Config{TestTamper: tp.hook},
		Gateway: signaling.Config{DAVE: signaling.DAVERequired, HeartbeatInterval: time.Second, HeartbeatTimeout: 10 * time.Second}})
	return &voiceEnv{srv: srv, dir: srv.Dir, signer: srv.Signer, pool: srv.RootCAs, log: log}, reg
}

// pageDAVE is the DaveClient's state() in a page.
type pageDAVE struct {
	ProtocolVersion int      `json:"protocol_version"`
	Ready           bool     `json:"ready"`
	Epoch           uint64   `json:"epoch"`
	PrivacyCode     string   `json:"privacy_code"`
	Members         []string `json:"members"`
	Transform       string   `json:"transform"` // the DaveClient's: script (RTCRtpScriptTransform) or streams (createEncodedStreams)
	Frames          struct {
		Encrypted   uint64            `json:"encrypted"`
		Decrypted   uint64            `json:"decrypted"`
		Passthrough uint64            `json:"passthrough"`
		Unkeyed     uint64            `json:"unkeyed"` // passed from senders without a key (no DAVE from them yet)
		Held        uint64            `json:"held"`    // held for a key (then released or dropped)
		Holding     uint64            `json:"holding"` // held now
		Dropped     map[string]uint64 `json:"dropped"`
		Failures    map[string]uint64 `json:"failures"` // failed decryptions by why (auth: the tag did not verify)
		Total       uint64            `json:"dropped_total"`
	} `json:"frames"`
}

func (p *browserPage) dave() pageDAVE {
	p.t.Helper()
	return eval[pageDAVE](p, 5*time.Second, `harness.dave()`)
}

// joinDAVE joins with DAVE on (unless the page's URL turns it off) and
// returns the browser's room SSRC.
func (p *browserPage) joinDAVE(c creds, receivers int) uint32 {
	p.t.Helper()
	return p.joinDAVEWith(c, receivers, "")
}

// joinDAVEWith is joinDAVE with the DaveClient's frame transform forced:
// "script" (RTCRtpScriptTransform), "streams" (createEncodedStreams, the
// fallback of browsers without the other), "" the browser's choice.
func (p *browserPage) joinDAVEWith(c creds, receivers int, transform string) uint32 {
	p.t.Helper()
	b, _ := json.Marshal(c)
	opt := "true"
	if transform != "" {
		opt = fmt.Sprintf("{transform: %q}", transform)
	}
	return eval[uint32](p, 30*time.Second, fmt.Sprintf(`harness.join(%s, %d, {dave: %s})`, b, receivers, opt))
}

// timeline formats the page's last join's milestones (harness.timeline):
// "ready 120 ms, session 480 ms, ...".
func (p *browserPage) timeline() string {
	p.t.Helper()
	var parts []string
	for _, m := range eval[[]struct {
		What  string  `json:"what"`
		Ms    float64 `json:"ms"`
		MLSMs float64 `json:"mls_ms"`
	}](p, 5*time.Second, `harness.timeline()`) {
		s := fmt.Sprintf("%s %.0f ms", m.What, m.Ms)
		if m.MLSMs > 0 {
			s += fmt.Sprintf(" (MLS worker %.0f ms)", m.MLSMs)
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ", ")
}

// pairwise is the page's pairwise verification code with user.
func (p *browserPage) pairwise(user string) string {
	p.t.Helper()
	return eval[string](p, 20*time.Second, fmt.Sprintf(`harness.pairwise(%q)`, user))
}

// browsersSynced waits until every page reports epoch and code.
func browsersSynced(t *testing.T, env *voiceEnv, code string, pages ...*browserPage) {
	t.Helper()
	st, _ := env.srv.DAVEState(testGuild, testChannel)
	for _, p := range pages {
		var got pageDAVE
		if !testkit.Poll(20*time.Second, func() bool {
			got = p.dave()
			return got.Ready && got.ProtocolVersion == 1 && got.Epoch == st.Epoch && got.PrivacyCode == code
		}) {
			t.Fatalf("a browser's DAVE state %+v; want ready at the server's epoch %d with code %s", got, st.Epoch, code)
		}
	}
}

// maxGap is the longest time between consecutive frames (and from the
// window's edges) in [from, to].
func maxGap(fs []recFrame, from, to time.Time) time.Duration {
	last, gap := from, time.Duration(0)
	for _, f := range fs {
		if f.at.Before(from) || f.at.After(to) {
			continue
		}
		gap = max(gap, f.at.Sub(last))
		last = f.at
	}
	return max(gap, to.Sub(last))
}

// TestBrowserDAVE: issue 13's proof. One room with DAVE required (the
// server's `--voice-dave required`): two headless Chromium users
// (web/voice/voice.js with web/dave/dave.js, the WebAssembly DAVE module,
// in the test page), Parley's Go client and @discordjs/voice with davey.
//
//   - all four agree on the epoch and the voice privacy code, and on each
//     pairwise verification code; the page shows the code (screenshot);
//   - every direction decrypts: the browsers' speech reaches the Go
//     client as DAVE frames it decrypts to speech at each microphone's
//     pitch (and discord.js decrypts the same Opus), the browsers play
//     the Go client, discord.js and each other; the SFU drops nothing as
//     not end-to-end encrypted;
//   - a browser with ?e2ee=off is refused with 4017 and the page says why;
//   - churn: a browser leaves and rejoins twice while the others talk, and
//     no listener hears a speaker go silent for longer than 1.5 s;
//   - a frame tampered in the SFU (its test hook) fails authentication in
//     the browser and is counted, not played.
//
// Browser A transforms frames with RTCRtpScriptTransform, browser B with
// createEncodedStreams (the fallback of browsers without the former;
// Chromium has both): every direction above runs through each.
func TestBrowserDAVE(t *testing.T) {
	testkit.NoLeaks(t)
	tp := &tamperer{}
	env, metrics := startVoiceDAVE(t, tp)
	const webA, webB, goUser, djsUser, webOff = "100000000000000131", "100000000000000132", "100000000000000133", "100000000000000134", "100000000000000135"
	a := startBrowserWAV(t, env.dir.CertPath(), speechWAV(150, 1))
	b := startBrowserWAV(t, env.dir.CertPath(), speechWAV(220, 3))
	if eval[string](a, 10*time.Second, `import('/dave/dave.js').then(() => 'ok', (e) => String(e))`) != "ok" {
		t.Fatal("the test page cannot load /dave/dave.js: run `make web` first (it builds web/dave/dave.wasm)")
	}
	goTone, djsTone := a.encodeTone(440, 16000), a.encodeTone(660, 16000)
	// The pages get DAVE ready ahead of the join, as the web client does
	// (dave.js preload): the join's timeline starts with preloaded.
	for _, p := range []*browserPage{a, b} {
		eval[any](p, 30*time.Second, `harness.preloadDave()`)
	}

	g := env.joinGo(t, goUser, "")
	d := startDJSDAVE(t, env, djsUser, djsTone, []string{webA, webB, goUser})
	d.wait("ready", 20*time.Second)
	names, _ := json.Marshal(map[string]string{goUser: "Parley Go client", djsUser: "@discordjs/voice + davey", webA: "browser A", webB: "browser B"})
	for _, p := range []*browserPage{a, b} {
		eval[any](p, 5*time.Second, `harness.setNames(`+string(names)+`)`)
	}
	joined := time.Now()
	a.joinDAVEWith(env.creds(webA), 3, "script")
	b.joinDAVEWith(env.creds(webB), 3, "streams")
	code := daveSynced(t, env, []*goPeer{g}, []*driver{d}, webA, webB)
	browsersSynced(t, env, code, a, b)
	notE2EE := func(when string) {
		t.Logf("%s: the SFU dropped %v frames as not end-to-end encrypted so far", when, counters(t, metrics, "parley_sfu_drops_total", "reason")[sfu.DropNotE2EE.String()])
	}
	notE2EE("joined")
	t.Logf("all four in one DAVE group %v after the browsers began joining; voice privacy code %s", time.Since(joined).Round(time.Millisecond), code)
	a.until(10*time.Second, `harness.status().firstDecrypted > 0`, "browser A decrypted a frame")
	t.Logf("browser A: join to first decrypted frame %.0f ms (%s)", eval[float64](a, 5*time.Second, `harness.status().firstDecrypted`), a.timeline())

	t.Run("codes", func(t *testing.T) {
		a, b, d := a.in(t), b.in(t), d.in(t)
		for _, p := range []*browserPage{a, b} {
			if e := eval[struct{ Mode, Code string }](p, 5*time.Second, `harness.e2ee()`); e.Mode != "on" || strings.ReplaceAll(e.Code, " ", "") != code {
				t.Errorf("the page's E2EE box: %+v; want on, showing %s", e, code)
			}
		}
		pairs := []struct {
			what   string
			mine   func() (string, error)
			theirs string
		}{
			{"browser A - Go", func() (string, error) { return g.conn.PairwiseCode(webA) }, a.pairwise(goUser)},
			{"browser A - browser B", func() (string, error) { return b.pairwise(webA), nil }, a.pairwise(webB)},
			{"browser B - discord.js", func() (string, error) {
				d.send("code " + webB)
				return d.wait("code", 20*time.Second).Message, nil
			}, b.pairwise(djsUser)},
		}
		for _, pc := range pairs {
			got, err := pc.mine()
			if err != nil || got != pc.theirs || len(got) != 45 {
				t.Errorf("%s: pairwise codes %q (%v) and %q; want the same 45 digits", pc.what, got, err, pc.theirs)
			}
		}
		a.screenshot("browser-dave-a.png")
		b.screenshot("browser-dave-b.png")
	})

	// Everyone talks: the browsers' fake microphones always do; the Go
	// client and discord.js play tones.
	t.Run("directions", func(t *testing.T) {
		a, b, d := a.in(t), b.in(t), d.in(t)
		for _, p := range []*browserPage{a, b} {
			eval[any](p, 5*time.Second, `harness.resetLevels()`)
		}
		mark := goMark(g)
		startDJS := len(d.got.from(webA))
		playing := playAsync(t, g, goTone[:250])
		d.send("play")
		checkGoHears(t, a, g, "dave", mark, map[string]float64{webA: 150, webB: 220})
		fromA := payloads(g.got.frames(webA)[mark[webA]:])
		var djs [][]byte
		if !testkit.Poll(5*time.Second, func() bool { djs = d.got.from(webA)[startDJS:]; return overlap(fromA, djs) >= 100 }) {
			t.Errorf("browser A -> discord.js: %d of its %d frames are the Opus the Go client decrypted (%d); want 100 or more in order",
				overlap(fromA, djs), len(djs), len(fromA))
		}
		want := map[*browserPage][]string{a: {goUser, djsUser, webB}, b: {goUser, djsUser, webA}}
		for p, users := range want {
			var lv map[string]played
			if !testkit.Poll(10*time.Second, func() bool {
				lv = p.levels()
				for _, u := range users {
					if lv[u].Loud < 25 {
						return false
					}
				}
				return true
			}) {
				t.Errorf("a browser played %+v; want 25 or more loud windows from each of %v", lv, users)
			}
		}
		<-playing
		d.wait("played", 30*time.Second)
		if st := g.conn.DAVE(); st.Decrypt.Decrypted == 0 || st.Encrypt.Encrypted == 0 {
			t.Errorf("the Go client's DAVE counters %+v: nothing was end-to-end encrypted", st)
		}
		for name, w := range map[string]struct {
			p         *browserPage
			transform string
		}{"A": {a, "script"}, "B": {b, "streams"}} {
			st := w.p.dave()
			t.Logf("browser %s (%s): DAVE frames %+v", name, st.Transform, st.Frames)
			if st.Transform != w.transform {
				t.Errorf("browser %s transforms frames with %q, want %q", name, st.Transform, w.transform)
			}
			if st.Frames.Encrypted == 0 || st.Frames.Decrypted == 0 {
				t.Errorf("browser %s encrypted %d and decrypted %d frames", name, st.Frames.Encrypted, st.Frames.Decrypted)
			}
		}
	})

	notE2EE("directions")
	// A browser whose page turns DAVE off is refused, and says why.
	t.Run("refused", func(t *testing.T) {
		off := harnessTabQuery(t, b.ctx, b.stderr, "?e2ee=off")
		res := eval[string](off, 30*time.Second, fmt.Sprintf(`harness.join(%s, 1, {dave: true}).then(() => 'joined', (e) => e.message)`, mustJSON(env.creds(webOff))))
		st := off.status()
		e := eval[struct {
			Enabled         bool
			Reason, Refused string
		}](off, 5*time.Second, `harness.e2ee()`)
		if res == "joined" || !slices.Contains(st.Closes, 4017) || e.Enabled ||
			!strings.Contains(e.Refused, "This server requires end-to-end encryption, which this browser cannot do") || !strings.Contains(e.Refused, "e2ee=off") {
			t.Errorf("an ?e2ee=off browser: join %q, closes %v, page %+v; want refused with 4017 and the page saying why", res, st.Closes, e)
		}
		off.screenshot("browser-dave-refused.png")
	})

	// Churn: B leaves and rejoins twice while A, the Go client and
	// discord.js talk. Every transition changes every sender's key.
	t.Run("churn", func(t *testing.T) {
		a, b, d := a.in(t), b.in(t), d.in(t)
		code := daveSynced(t, env, []*goPeer{g}, []*driver{d}, webA, webB)
		browsersSynced(t, env, code, a, b)
		playing := playAsync(t, g, goTone)
		d.send("play")
		a.until(5*time.Second, fmt.Sprintf(`(l => l[%q]?.loud > 5 && l[%q]?.loud > 5)(harness.levels())`, goUser, djsUser), "A hears the Go client and discord.js")
		eval[any](a, 5*time.Second, `harness.resetGaps()`)
		from := time.Now()
		for i := range 2 {
			eval[any](b, 5*time.Second, `harness.leave()`)
			testkit.Eventually(t, 10*time.Second, func() bool {
				st, _ := env.srv.DAVEState(testGuild, testChannel)
				return st.Established && !st.Transition && len(st.GroupUsers) == 3
			}, "churn %d: the group without B", i)
			began := time.Now()
			b.joinDAVEWith(env.creds(webB), 3, "streams")
			code := daveSynced(t, env, []*goPeer{g}, []*driver{d}, webA, webB)
			browsersSynced(t, env, code, a, b)
			b.until(10*time.Second, `harness.status().firstDecrypted > 0`, "B decrypts again")
			t.Logf("churn %d: B back in the group after %v, first decrypted frame %.0f ms after it began joining (%s)", i,
				time.Since(began).Round(time.Millisecond), eval[float64](b, 5*time.Second, `harness.status().firstDecrypted`), b.timeline())
		}
		to := time.Now()
		gaps := eval[map[string]float64](a, 5*time.Second, `harness.gaps()`)
		if to.Sub(from) > time.Duration(len(goTone))*20*time.Millisecond-time.Second {
			t.Fatalf("the churn took %v, longer than the Go client's tone: the silence measure would be void", to.Sub(from))
		}
		<-playing
		d.wait("played", 30*time.Second)
		for _, pair := range []struct {
			what string
			gap  time.Duration
		}{
			{"Go client <- browser A", maxGap(g.got.frames(webA), from, to)},
			{"Go client <- discord.js", maxGap(g.got.frames(djsUser), from, to)},
			{"browser A <- Go client", time.Duration(gaps[goUser] * float64(time.Millisecond))},
			{"browser A <- discord.js", time.Duration(gaps[djsUser] * float64(time.Millisecond))},
		} {
			t.Logf("churn over %v: %s silent at most %v", to.Sub(from).Round(time.Millisecond), pair.what, pair.gap.Round(time.Millisecond))
			if pair.gap > maxSilence {
				t.Errorf("churn: %s silent for %v (> %v)", pair.what, pair.gap.Round(time.Millisecond), maxSilence)
			}
		}
	})

	notE2EE("churn")
	// Frames of the Go client changed in the SFU fail authentication in
	// the browser: counted, not played.
	t.Run("tamper", func(t *testing.T) {
		a := a.in(t)
		goSSRC := a.status().Users[goUser].SSRC
		if goSSRC == 0 {
			t.Fatal("browser A does not know the Go client's SSRC")
		}
		was := a.dave().Frames
		const n = 5
		tp.ssrc.Store(goSSRC)
		tp.n.Store(n)
		<-playAsync(t, g, goTone[:50])
		if tp.done.Load() != n {
			t.Fatalf("the SFU's hook tampered with %d frames, want %d", tp.done.Load(), n)
		}
		var st pageDAVE
		if !testkit.Poll(5*time.Second, func() bool {
			st = a.dave()
			return st.Frames.Failures["auth"] >= was.Failures["auth"]+n && st.Frames.Total >= was.Total+n
		}) {
			t.Errorf("browser A: failures %v, dropped %d %v (before: %v, %d); want %d more failing authentication, dropped",
				st.Frames.Failures, st.Frames.Total, st.Frames.Dropped, was.Failures, was.Total, n)
		}
		t.Logf("tamper: browser A failed authentication of %d frames and dropped %d (%v)",
			st.Frames.Failures["auth"]-was.Failures["auth"], st.Frames.Total-was.Total, st.Frames.Dropped)
	})

	if drops := counters(t, metrics, "parley_sfu_drops_total", "reason"); drops[sfu.DropNotE2EE.String()] != 0 {
		t.Errorf("the SFU dropped %v frames as not end-to-end encrypted: %v", drops[sfu.DropNotE2EE.String()], drops)
	}
	d.send("leave")
	d.wait("left", 5*time.Second)
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(bytes.TrimSpace(b))
}
