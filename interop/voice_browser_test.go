package interop

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/internal/ogg"
	"github.com/parleyhq/parley/internal/testkit"
	"github.com/parleyhq/parley/voiceproto"
)

// TestBrowserVoice: a real browser (Debian's Chromium, headless, driven
// by chromedp) joins a voice channel through web/voice/voice.js, beside
// Parley's Go client in each dialect (native UDP, and WebRTC as `parley
// voice join --webrtc` joins) and @discordjs/voice:
//
//   - the browser's speech (its fake microphone plays speechWAV) reaches
//     the other three: the native Go client's recording is contiguous in
//     sequence numbers, the WebRTC Go client and discord.js got the same
//     packets, and both decode (in the page, decodeAudioData) to speech
//     where the source spoke and near silence where it did not;
//   - each other client's audio reaches the browser: getStats' inbound-rtp
//     packetsReceived for its SSRC, and tone energy in what the page played;
//   - the two Go clients receive each other byte for byte;
//   - the browser resumes when its gateway connection drops, and starts
//     afresh when its session is gone (4006), and its media recovers when
//     its UDP flow is blocked for two seconds, with no stuck participant.
//
// The browser joins first with one receiving transceiver: the native Go
// client's stream takes it, the others need new ones (local
// renegotiations).
func TestBrowserVoice(t *testing.T) {
	testkit.NoLeaks(t)
	env, metrics := startVoiceWebRTC(t)
	page := startBrowser(t, env.dir.CertPath())
	gw := testkit.NewTCPProxy(t, env.srv.GatewayAddr())

	const webUser, goUser, djsUser, rtcUser = "100000000000000021", "100000000000000022", "100000000000000023", "100000000000000024"
	tones := map[string][][]byte{goUser: page.encodeTone(440, 1500), djsUser: page.encodeTone(660, 1500), rtcUser: page.encodeTone(550, 1500)}
	for _, tone := range tones {
		if len(tone) < 70 {
			t.Fatalf("the browser's encoder made %d frames of 1.5 s", len(tone))
		}
	}

	webCreds := env.creds(webUser)
	webCreds.Endpoint = gw.Addr() // through the proxy, so the test can cut it
	webSSRC := page.join(webCreds, 1)
	g := env.joinGoNoDAVE(t, goUser, "")
	d := startDJS(t, env, djsUser, tones[djsUser], []string{webUser, goUser, rtcUser}, "")
	d.wait("ready", 20*time.Second)
	w := env.joinGoWebRTC(t, rtcUser)
	others := []*goPeer{g, w}
	names, _ := json.Marshal(map[string]string{goUser: "Parley Go client, native UDP", djsUser: "@discordjs/voice in Node",
		rtcUser: "Parley Go client, WebRTC (--webrtc)"})
	eval[any](page, 5*time.Second, `harness.setNames(`+string(names)+`)`)
	hasTracks := fmt.Sprintf(`(s => s.users[%q]?.track && s.users[%q]?.track && s.users[%q]?.track)(harness.status())`, goUser, djsUser, rtcUser)

	page.until(10*time.Second, hasTracks, "the browser has a track for each other client")
	offer := eval[struct{ SDP, Fragment string }](page, 5*time.Second, `harness.offer()`)
	if os.Getenv("PARLEY_SAVE_OFFER") != "" {
		_ = os.WriteFile(os.Getenv("PARLEY_SAVE_OFFER"), []byte(offer.SDP), 0o600)
	}
	if want := voiceproto.OfferFragment(offer.SDP); offer.Fragment != want {
		t.Errorf("voice.js reduces Chromium's offer to\n%s\nvoiceproto.OfferFragment to\n%s", offer.Fragment, want)
	}
	if st := page.status(); st.Transceivers != 4 {
		t.Errorf("browser has %d transceivers, want 4 (microphone, the one made up front, one added for discord.js, one for the WebRTC Go client)", st.Transceivers)
	}
	// The renegotiations were local: one Select Protocol per client.
	if n := gatewayMessages(t, metrics, voiceproto.OpSelectProtocol); n != 4 {
		t.Errorf("the gateway received %d Select Protocol messages, want 4 (browser, Go, discord.js, Go over WebRTC)", n)
	}

	t.Run("browser to native", func(t *testing.T) {
		page, d := page.in(t), d.in(t)
		for _, r := range others {
			testkit.Eventually(t, 5*time.Second, func() bool { return r.saidSpeaking(webUser, voiceproto.SpeakingMicrophone) },
				"the Go client %s hears the browser's op 5 (microphone)", r.user)
		}
		checkBrowserSpeech(t, page, g, w, d, webUser, webSSRC, "first")
	})
	t.Run("others to browser", func(t *testing.T) {
		page, d := page.in(t), d.in(t)
		checkToBrowser(t, page, others, d, tones, "browser-voice.png")
	})
	// The two Go clients, one native and one WebRTC, hear each other's
	// Opus packets exactly as sent, in order.
	t.Run("go to go", func(t *testing.T) {
		checkExact(t, g, w, tones[goUser])
		checkExact(t, w, g, tones[rtcUser])
	})

	// Self mute: speaking off, and nothing sent while muted (the marker
	// that time passed: the Go client plays half a second meanwhile), then
	// the same stream again (Chromium's RTP timestamps do not jump).
	t.Run("mute", func(t *testing.T) {
		page := page.in(t)
		eval[any](page, 5*time.Second, `harness.setMute(true)`)
		testkit.Eventually(t, 5*time.Second, func() bool { return g.saidSpeaking(webUser, 0) },
			"the Go client hears the browser stop speaking")
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		muted := len(g.got.fromSSRC(webUser, webSSRC))
		if err := g.conn.PlayFrames(ctx, tones[goUser][:25]); err != nil {
			t.Fatal(err)
		}
		after := len(g.got.fromSSRC(webUser, webSSRC))
		eval[any](page, 5*time.Second, `harness.setMute(false)`)
		testkit.Eventually(t, 5*time.Second, func() bool {
			return g.saidSpeaking(webUser, voiceproto.SpeakingMicrophone) && len(g.got.fromSSRC(webUser, webSSRC)) > after+10
		}, "the browser speaks again once unmuted")
		if after-muted > 3 {
			t.Errorf("%d frames of the muted browser arrived while the Go client played 0.5 s", after-muted)
		}
		if err := contiguous(g.got.fromSSRC(webUser, webSSRC)); err != nil {
			t.Errorf("browser -> go across the mute: %v", err)
		}
	})

	t.Run("resume", func(t *testing.T) {
		page := page.in(t)
		before := len(g.got.fromSSRC(webUser, webSSRC))
		gw.Drop()
		page.until(10*time.Second, `harness.status().resumed >= 1`, "the browser resumed")
		st := page.status()
		if st.SSRC != webSSRC || st.Connected != 1 || len(st.Closes) == 0 || st.Closes[0] != 1006 {
			t.Errorf("after a drop: ssrc %d (was %d), connected %d times, closes %v; want the same session, resumed after 1006",
				st.SSRC, webSSRC, st.Connected, st.Closes)
		}
		testkit.Eventually(t, 5*time.Second, func() bool { return len(g.got.fromSSRC(webUser, webSSRC)) > before+50 },
			"the browser's audio keeps flowing across the drop")
		if err := contiguous(g.got.fromSSRC(webUser, webSSRC)); err != nil {
			t.Errorf("browser -> go across the drop: %v", err)
		}
		checkRoom(t, env, page, others, webUser, goUser, djsUser, rtcUser)
	})

	// A half-open connection: the server hears the browser, the browser
	// hears nothing. Two heartbeats without an ACK and it resumes: its own
	// detection (close 4000 from its side), since the server, which still
	// gets its heartbeats, has no reason to end anything (no 4009).
	t.Run("stall", func(t *testing.T) {
		page := page.in(t)
		gw.Stall()
		page.until(10*time.Second, `harness.status().resumed >= 2`, "the browser resumed after missing heartbeat ACKs")
		st := page.status()
		if st.SSRC != webSSRC || st.Connected != 1 || !slices.Contains(st.Closes, 4000) || slices.Contains(st.Closes, 4009) {
			t.Errorf("after a stall: ssrc %d (was %d), connected %d times, closes %v; want the same session, resumed after 4000 (no ACK), no 4009",
				st.SSRC, webSSRC, st.Connected, st.Closes)
		}
		checkRoom(t, env, page, others, webUser, goUser, djsUser, rtcUser)
	})

	t.Run("reconnect", func(t *testing.T) {
		page, d := page.in(t), d.in(t)
		real := webCreds
		real.Endpoint = env.srv.GatewayAddr()
		identifyAs(t, env, real) // ends the browser's session: 4006
		page.until(15*time.Second, `(s => s.connected >= 2 && s.state === "connected")(harness.status())`,
			"the browser identified afresh and negotiated media again")
		st := page.status()
		if !slices.Contains(st.Closes, 4006) || st.SSRC == 0 || st.SSRC == webSSRC {
			t.Fatalf("after 4006: closes %v, ssrc %d (was %d)", st.Closes, st.SSRC, webSSRC)
		}
		page.until(10*time.Second, hasTracks, "the browser has a track for each other client again")
		checkBrowserSpeech(t, page, g, w, d, webUser, st.SSRC, "after-reconnect")
		checkToBrowser(t, page, others, d, tones, "")
		checkRoom(t, env, page, others, webUser, goUser, djsUser, rtcUser)
		if n := gatewayMessages(t, metrics, voiceproto.OpSelectProtocol); n != 5 {
			t.Errorf("the gateway received %d Select Protocol messages, want 5 (one more for the browser's new session)", n)
		}
	})

	// The browser's UDP flow is blocked for two seconds (an nftables rule
	// on its ICE pair's ports, both ways): nothing of it arrives meanwhile,
	// the others (the WebRTC Go client on the same server port included)
	// carry on, and afterwards the same session's media flows again both
	// ways, without a new session or a stuck participant.
	t.Run("udp block", func(t *testing.T) {
		page, d := page.in(t), d.in(t)
		st := page.status()
		browserPort := eval[int](page, 5*time.Second, `harness.mediaPort()`)
		_, sp, _ := strings.Cut(env.srv.WebRTCAddr(), ":")
		serverPort, _ := strconv.Atoi(sp)
		if browserPort == 0 || serverPort == 0 {
			t.Fatalf("browser's media port %d, server's %q", browserPort, env.srv.WebRTCAddr())
		}
		unblock := blockUDP(t, browserPort, serverPort)
		blocked := len(g.got.fromSSRC(webUser, st.SSRC))
		// Two seconds, timed by the native Go client's playing: the WebRTC
		// one must get all of it.
		fromGo := len(w.got.fromSSRC(goUser, st.Users[goUser].SSRC))
		clock := slices.Concat(tones[goUser], tones[goUser][:25])
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := g.conn.PlayFrames(ctx, clock); err != nil {
			t.Fatal(err)
		}
		during := len(g.got.fromSSRC(webUser, st.SSRC)) - blocked
		unblock()
		t.Logf("the browser's port %d blocked from server port %d for %d frames: %d of the browser's frames arrived meanwhile, its media state %q",
			browserPort, serverPort, len(clock), during, page.status().Media)
		if during > 3 {
			t.Errorf("%d frames of the browser arrived during the block: the block did not hold", during)
		}
		testkit.Eventually(t, 5*time.Second, func() bool { return len(w.got.fromSSRC(goUser, st.Users[goUser].SSRC))-fromGo >= len(clock) },
			"the WebRTC Go client got %d of the %d frames the native one played during the block", len(w.got.fromSSRC(goUser, st.Users[goUser].SSRC))-fromGo, len(clock))
		after := len(g.got.fromSSRC(webUser, st.SSRC))
		testkit.Eventually(t, 15*time.Second, func() bool { return len(g.got.fromSSRC(webUser, st.SSRC)) > after+50 },
			"the browser's audio flows again after the block (%d frames since)", len(g.got.fromSSRC(webUser, st.SSRC))-after)
		if now := page.status(); now.SSRC != st.SSRC || now.Connected != st.Connected || now.State != "connected" {
			t.Errorf("after the block: ssrc %d (was %d), connected %d times (was %d), state %q; want the same session, connected",
				now.SSRC, st.SSRC, now.Connected, st.Connected, now.State)
		}
		checkToBrowser(t, page, others, d, tones, "")
		checkRoom(t, env, page, others, webUser, goUser, djsUser, rtcUser)
	})

	// The native Go client leaves and a newcomer takes its receiving
	// transceiver: the page, which stops every track voice.js says ended,
	// plays the newcomer (the track it stopped was a clone of its own).
	t.Run("receiver reused", func(t *testing.T) {
		page := page.in(t)
		const newUser = "100000000000000025"
		before := page.status().Transceivers
		_ = g.conn.Close()
		page.until(10*time.Second, fmt.Sprintf(`!(%q in harness.status().users)`, goUser), "the browser sees the native Go client leave")
		n := env.joinGoNoDAVE(t, newUser, "")
		page.until(10*time.Second, fmt.Sprintf(`harness.status().users[%q]?.track`, newUser), "the browser has a track for the newcomer")
		if st := page.status(); st.Transceivers != before {
			t.Errorf("the browser has %d transceivers, had %d: the newcomer did not reuse the one freed", st.Transceivers, before)
		}
		eval[any](page, 5*time.Second, `harness.resetLevels()`)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := n.conn.PlayFrames(ctx, tones[goUser]); err != nil {
			t.Fatal(err)
		}
		var lv map[string]played
		if !testkit.Poll(5*time.Second, func() bool { lv = page.levels(); return lv[newUser].Loud >= 35 }) {
			t.Errorf("the browser played %+v, want 35 or more loud windows from the newcomer %s", lv, newUser)
		}
		checkRoom(t, env, page, []*goPeer{n, w}, webUser, newUser, djsUser, rtcUser)
	})

	drops, failed := counters(t, metrics, "parley_sfu_drops_total", "reason"), counters(t, metrics, "parley_sfu_webrtc_handshake_failures_total", "stage")
	if drops["srtp"]+drops["malformed"]+drops["not_opus"]+failed["ice"]+failed["dtls"] > 0 {
		t.Errorf("the server dropped browser packets or handshakes: drops %v, handshake failures %v", drops, failed)
	}
	d.send("leave")
	d.wait("left", 5*time.Second)
}

// checkBrowserSpeech records 3.5 s of the browser's audio (room SSRC ssrc)
// at the native Go client and compares the WebRTC Go client's and
// discord.js's copies: contiguous, the same packets, and speech where the
// source spoke.
func checkBrowserSpeech(t *testing.T, page *browserPage, g, w *goPeer, d *driver, webUser string, ssrc uint32, name string) {
	t.Helper()
	const n = 175 // 3.5 s: at least three bursts and two whole gaps of the 1 s pattern
	start := len(g.got.fromSSRC(webUser, ssrc))
	startDJS := len(d.got.from(webUser))
	startRTC := len(w.got.fromSSRC(webUser, ssrc))
	if !testkit.Poll(15*time.Second, func() bool { return len(g.got.fromSSRC(webUser, ssrc)) >= start+n }) {
		t.Fatalf("the Go client received %d frames of the browser (ssrc %d) in 15 s, want %d", len(g.got.fromSSRC(webUser, ssrc))-start, ssrc, n)
	}
	got := g.got.fromSSRC(webUser, ssrc)[start : start+n]
	if err := contiguous(got); err != nil {
		t.Errorf("browser -> go: %v", err)
	}
	opus := payloads(got)
	// The WebRTC Go client and discord.js received the same packets, in
	// the same order (they started recording at about the same time).
	var rtc []recFrame
	if !testkit.Poll(5*time.Second, func() bool {
		rtc = w.got.fromSSRC(webUser, ssrc)[startRTC:]
		return overlap(opus, payloads(rtc)) >= n-25
	}) {
		t.Errorf("browser -> go over webrtc: %d of its %d packets are the ones the native Go client got (%d), in order; want %d or more",
			overlap(opus, payloads(rtc)), len(rtc), n, n-25)
	}
	if err := contiguous(rtc); err != nil {
		t.Errorf("browser -> go over webrtc: %v", err)
	}
	var djs [][]byte
	if !testkit.Poll(5*time.Second, func() bool { djs = d.got.from(webUser)[startDJS:]; return overlap(opus, djs) >= n-25 }) {
		t.Errorf("browser -> discord.js: %d of its %d packets are the ones the Go client got (%d), in order; want %d or more",
			overlap(opus, djs), len(djs), n, n-25)
	}
	checkSpeech(t, "browser -> go", page.envelope(name+"-go.ogg", timeline(got)))
	checkSpeech(t, "browser -> discord.js", page.envelope(name+"-djs.ogg", djs))
}

// checkToBrowser plays a tone from each other client at once and checks
// the browser received its packets and played its sound. With shot, it
// takes a screenshot of the page while the tones play.
func checkToBrowser(t *testing.T, page *browserPage, gos []*goPeer, d *driver, tones map[string][][]byte, shot string) {
	t.Helper()
	st := page.status()
	before := page.stats()
	eval[any](page, 5*time.Second, `harness.resetLevels()`)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	done := make(chan error, len(gos))
	for _, r := range gos {
		go func() { done <- r.conn.PlayFrames(ctx, tones[r.user]) }() // the test waits for it below
	}
	d.send("play")
	users := []string{d.user}
	for _, r := range gos {
		users = append(users, r.user)
	}
	if shot != "" {
		// Every meter moves once a tenth of each tone has played.
		if !testkit.Poll(3*time.Second, func() bool {
			lv := page.levels()
			return !slices.ContainsFunc(users, func(u string) bool { return lv[u].Loud < 8 })
		}) {
			t.Logf("screenshot: not every tone was audible yet")
		}
		page.screenshot(shot)
	}
	d.wait("played", 15*time.Second)
	for range gos {
		if err := <-done; err != nil {
			t.Fatalf("go play: %v", err)
		}
	}
	// A 1.5 s tone is 75 windows of 20 ms (the page samples them on a
	// timer, which a loaded machine delays); what is played lags a little.
	var lv map[string]played
	if !testkit.Poll(5*time.Second, func() bool {
		lv = page.levels()
		return !slices.ContainsFunc(users, func(u string) bool { return lv[u].Loud < 35 })
	}) {
		t.Errorf("the browser played %+v, want 35 or more loud windows from each of %v", lv, users)
	}
	after := page.stats()
	// The server's RTCP reached it: a sender report for each stream, and
	// receiver reports on the microphone's (Chromium measures the RTT).
	type rtcpSeen struct {
		SenderReports   map[uint32]int
		RTTMeasurements int
	}
	var rtcp rtcpSeen
	if !testkit.Poll(5*time.Second, func() bool {
		rtcp = eval[rtcpSeen](page, 5*time.Second, `harness.rtcp()`)
		return rtcp.RTTMeasurements > 0 && !slices.ContainsFunc(users, func(u string) bool { return rtcp.SenderReports[st.Users[u].SSRC] == 0 })
	}) {
		t.Errorf("the browser's RTCP stats %+v: want a sender report for each of %v and a round trip measured from receiver reports", rtcp, users)
	}
	t.Logf("played by the browser: %+v; inbound-rtp before %+v, after %+v", lv, before, after)
	for _, u := range users {
		ssrc := st.Users[u].SSRC
		n, lost := after[ssrc].PacketsReceived-before[ssrc].PacketsReceived, after[ssrc].PacketsLost-before[ssrc].PacketsLost
		if n < len(tones[u]) || lost > 0 {
			t.Errorf("%s -> browser: inbound-rtp of ssrc %d: %d packets received during the tone (sent %d), %d lost",
				u, ssrc, n, len(tones[u]), lost)
		}
	}
}

// checkExact plays tone from one Go client and checks the other received
// exactly those Opus packets, in order, with contiguous sequence numbers.
func checkExact(t *testing.T, from, to *goPeer, tone [][]byte) {
	t.Helper()
	ssrc := from.conn.SSRC()
	start := len(to.got.fromSSRC(from.user, ssrc))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := from.conn.PlayFrames(ctx, tone); err != nil {
		t.Fatalf("%s play: %v", from.user, err)
	}
	if !testkit.Poll(5*time.Second, func() bool { return len(to.got.fromSSRC(from.user, ssrc)) >= start+len(tone) }) {
		t.Fatalf("%s -> %s: %d of %d frames arrived", from.user, to.user, len(to.got.fromSSRC(from.user, ssrc))-start, len(tone))
	}
	got := to.got.fromSSRC(from.user, ssrc)[start : start+len(tone)]
	if !slices.EqualFunc(payloads(got), tone, bytes.Equal) {
		t.Errorf("%s -> %s: the Opus packets received are not the ones sent", from.user, to.user)
	}
	if err := contiguous(got); err != nil {
		t.Errorf("%s -> %s: %v", from.user, to.user, err)
	}
}

// checkRoom: everyone is in the room once, the browser and the Go
// clients see the others, and voice.js reported no error.
func checkRoom(t *testing.T, env *voiceEnv, page *browserPage, gos []*goPeer, users ...string) {
	t.Helper()
	var in []string
	for _, p := range env.srv.Participants() {
		in = append(in, p.UserID)
	}
	sort.Strings(in)
	if want := slices.Sorted(slices.Values(users)); !slices.Equal(in, want) {
		t.Errorf("server participants %v, want %v", in, want)
	}
	st := page.status()
	if len(st.Users) != len(users)-1 {
		t.Errorf("browser sees users %v, want the %d others", st.Users, len(users)-1)
	}
	if len(st.Errors) > 0 {
		t.Errorf("voice.js reported errors: %q", st.Errors)
	}
	for _, g := range gos {
		members := g.conn.Members()
		for _, u := range users {
			if u != g.user && !slices.Contains(members, u) {
				t.Errorf("go client %s's members %v lack %s", g.user, members, u)
			}
		}
	}
}

// checkSpeech checks an energy envelope (20 ms windows, dBFS) against the
// source's pattern: runs of speech as long as the bursts, separated by
// near silence as long as the gaps.
func checkSpeech(t *testing.T, what string, env []float64) {
	t.Helper()
	const speech, silence = -30.0, -55.0 // dBFS; the source's bursts are about -15, its gaps -90
	burst, gap := int(speechBurst/(20*time.Millisecond)), int(speechGap/(20*time.Millisecond))
	var runs [][2]int // [start, end) of windows louder than speech
	for i := 0; i < len(env); {
		if env[i] <= speech {
			i++
			continue
		}
		j := i
		for j < len(env) && env[j] > speech {
			j++
		}
		runs = append(runs, [2]int{i, j})
		i = j
	}
	show := func() string {
		var b strings.Builder
		for _, v := range env {
			switch {
			case v > speech:
				b.WriteByte('#')
			case v > silence:
				b.WriteByte('+')
			default:
				b.WriteByte('.')
			}
		}
		return b.String()
	}
	t.Logf("%s: energy per 20 ms (# speech, + between, . near silence):\n%s", what, show())
	// Whole bursts: not cut by the recording's ends.
	whole := slices.DeleteFunc(slices.Clone(runs), func(r [2]int) bool { return r[0] == 0 || r[1] == len(env) })
	if len(whole) < 2 {
		t.Errorf("%s: %d whole bursts of speech in %d windows, want 2 or more\n%s", what, len(whole), len(env), show())
		return
	}
	for _, r := range whole {
		if n := r[1] - r[0]; n < burst-3 || n > burst+3 {
			t.Errorf("%s: a burst of %d windows, want %d±3\n%s", what, n, burst, show())
		}
	}
	for i := 1; i < len(whole); i++ {
		a, b := whole[i-1][1], whole[i][0]
		if n := b - a; n < gap-3 || n > gap+3 {
			t.Errorf("%s: a gap of %d windows, want %d±3\n%s", what, n, gap, show())
		}
		quiet := 0
		for _, v := range env[a+2 : b-2] { // the edges fade
			if v < silence {
				quiet++
			}
		}
		if quiet < (b-a-4)*9/10 {
			t.Errorf("%s: only %d of %d windows of a gap are near silence (< %v dBFS)\n%s", what, quiet, b-a-4, silence, show())
		}
	}
}

// timeline lays frames out in time: a timestamp gap (a suppressed silence)
// becomes silence frames, so the envelope keeps the source's timing.
func timeline(fs []recFrame) [][]byte {
	var out [][]byte
	for i, f := range fs {
		if i > 0 {
			for k := uint32(1); k < min((f.ts-fs[i-1].ts)/960, 250); k++ {
				out = append(out, ogg.Silence)
			}
		}
		out = append(out, f.opus)
	}
	return out
}

// overlap is the length of the longest alignment of a and b (one shifted
// against the other) in which every overlapping frame is equal.
func overlap(a, b [][]byte) int {
	best := 0
	try := func(x, y [][]byte) {
		for i := range x {
			n := min(len(x)-i, len(y))
			if n <= best {
				return
			}
			if slices.EqualFunc(x[i:i+n], y[:n], bytes.Equal) {
				best = n
			}
		}
	}
	try(a, b)
	try(b, a)
	return best
}
