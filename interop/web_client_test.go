package interop

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/parleyhq/parley/internal/testkit"
)

// minHeard is the rise of window.parley.heard() (mean square × seconds,
// after the user's gain) that counts as hearing someone: about 1 % of
// what a second of the test's speech adds, a hundred thousand times what
// a second of its near silence does.
const minHeard = 1e-4

// TestWebClient is the web client as a newcomer gets it (issue 12): the
// real `parley serve --dev` binary, two people in two Chromium browsers
// on its web origin (fake microphones playing speech at 150 and 220 Hz),
// a discord.js bot in #general and Parley's Go voice client in Lounge.
// The story, each state kept as a screenshot of both browsers:
//
//   - alice and bob sign up through the page's form;
//   - alice's message appears at bob's (typing indicator first) and
//     reaches the bot; the bot's reply appears at both;
//   - alice's image appears at bob's as a thumbnail from the media proxy
//     on the web origin (and full size in the lightbox), and the bot sees
//     the attachment with its size and type;
//   - both click Lounge and are in voice with the Go client: each browser
//     hears the other two (heard()), the Go client gets speech of the
//     right pitch from each browser, the pages show who speaks;
//   - alice mutes: bob hears nothing more of her (the Go client's speech
//     arriving meanwhile is the marker that time passed);
//   - bob reloads: signed in again, his old voice session gone, he
//     rejoins and is listed once;
//   - alice signs out (she leaves voice) and in again (history is there)
//     and rejoins voice;
//   - alice's connections to the web origin are cut (her browser reaches
//     it through a CONNECT proxy, and new ones are refused a while): the
//     page says it is reconnecting, then connected, messages flow again
//     both ways, and her voice, on its own connections, carried on;
//   - carol leaves voice: the room upgrades to DAVE and both voice panels
//     show the call end-to-end encrypted with the same privacy code.
//
// No page may write a console error or warning or throw.
func TestWebClient(t *testing.T) {
	testkit.NoLeaks(t)
	began := time.Now()
	srv := startParley(t)
	webURL := strings.TrimRight(srv.addr("web_url"), "/")
	web, err := url.Parse(webURL)
	if err != nil || web.Scheme != "https" || web.Port() == "" {
		t.Fatalf("ready web_url %q: want https://host:port", webURL)
	}
	shots := &screenshots{t: t, dir: artifactDir(t, "web-client"), start: began}
	old, _ := filepath.Glob(filepath.Join(shots.dir, "*.png")) // a kept directory's last run
	for _, f := range old {
		_ = os.Remove(f)
	}
	t.Logf("screenshots: %s", shots.dir)
	t.Logf("parley serve ready at %v", time.Since(began).Round(100*time.Millisecond))

	// The bot and the Go user need only the API.
	bot := startWebBot(t, srv, srv.createBot("webbot").Token)
	if len(bot.ready.Guilds) != 1 {
		t.Fatalf("the bot is in %d guilds, want the seeded one", len(bot.ready.Guilds))
	}
	g := bot.ready.Guilds[0]
	general, lounge := g.channel(t, "general"), g.channel(t, "Lounge")
	carol := srv.register("carol", "carol-password")
	carolChat := dialChat(t, srv.addr("gateway"), carol.Token, 1|1<<7)

	t.Logf("the bot and the Go user ready at %v", time.Since(began).Round(100*time.Millisecond))
	proxy := startConnectProxy(t)
	a := openWebPage(t, webBrowser{name: "alice", url: webURL, certPath: srv.dir.CertPath(), wav: speechWAV(150, 1), proxy: proxy.url()})
	b := openWebPage(t, webBrowser{name: "bob", url: webURL, certPath: srv.dir.CertPath(), wav: speechWAV(220, 3)})
	a.shots, b.shots = shots, shots
	codec := harnessTab(t, b.ctx, b.stderr) // an Opus encoder and decoder for the test
	carolSpeech := codec.encodeWAV("carol.wav", speechWAV(300, 5))
	t.Logf("the browsers ready at %v", time.Since(began).Round(100*time.Millisecond))

	// Sign-up through the form.
	signIn(a, "alice-password", "register", "sign-up")
	signIn(b, "bob-password", "register", "sign-up")
	alice, bob := srv.userID(carol.Token, g.ID, "alice"), srv.userID(carol.Token, g.ID, "bob")
	for _, p := range []*webPage{a, b} {
		p.until(10*time.Second, js(fmt.Sprintf(`shown('[data-guild-id="%s"]') && shown('[data-channel-id="%s"][data-channel-type="0"]') && shown('[data-channel-id="%s"][data-channel-type="2"]')`, g.ID, general, lounge)),
			"sign-up: the seeded guild, #general and Lounge are listed")
		p.click(fmt.Sprintf(`[data-channel-id="%s"]`, general), "sign-up: open #general")
	}
	a.until(10*time.Second, js(fmt.Sprintf(`!!$('[data-member-id="%s"][data-status="online"]')`, bob)), "sign-up: alice's page lists bob online")
	shots.take("signed-up", a, b)

	// A message from alice: bob's page and the bot get it.
	hello := fmt.Sprintf("hello from alice at %s", began.Format(time.TimeOnly))
	a.typeInto(`#composer textarea`, hello, "message: type")
	b.until(10*time.Second, js(`$('#typing')?.textContent.includes('alice')`), "message: bob's page shows alice typing")
	a.pressEnter(`#composer textarea`, "message: send with Enter")
	b.until(10*time.Second, js(fmt.Sprintf(`!!message(%s, %q)`, q(hello), alice)), "message: alice's message shows in bob's browser")
	got := bot.wait("message", 10*time.Second, "message: the bot gets alice's message", func(e botEvent) bool {
		return e.Content == hello && e.Author == alice && e.Channel == general
	})
	a.until(5*time.Second, js(`$('#composer textarea').value === ''`), "message: alice's composer is empty after sending")
	shots.take("message", a, b)

	// The bot's reply shows at both.
	const reply = "hi alice, discord.js here"
	bot.reply(got.ID, reply)
	bot.wait("replied", 10*time.Second, "reply: the bot replied", nil)
	for _, p := range []*webPage{a, b} {
		p.until(10*time.Second, js(fmt.Sprintf(`!!message(%s, %q)`, q(reply), bot.ready.User)), "reply: the bot's reply shows")
	}
	shots.take("bot-reply", a, b)

	// An image from alice: a thumbnail from the media proxy at bob's, the
	// attachment at the bot's, full size in bob's lightbox.
	imgPath, imgSize := writeTestPNG(t, 320, 240)
	a.do(10*time.Second, "image: pick the file", chromedp.SetUploadFiles(chromedp.CSS(`#composer input[type=file]`), []string{imgPath}))
	a.until(5*time.Second, js(fmt.Sprintf(`$('#composer').textContent.includes(%s)`, q(filepath.Base(imgPath)))),
		"image: the pending attachment is listed in alice's composer")
	const caption = "a picture for you"
	a.typeInto(`#composer textarea`, caption, "image: type a caption")
	a.pressEnter(`#composer textarea`, "image: send with Enter")
	a.until(20*time.Second, js(fmt.Sprintf(`!!message(%s, %q)?.querySelector('img.attachment')`, q(caption), alice)),
		"image: alice's page shows her message with the image")
	pic := bot.wait("message", 20*time.Second, "image: the bot gets alice's image", func(e botEvent) bool {
		return e.Content == caption && e.Author == alice
	})
	checkBotAttachment(t, pic, webURL, imgSize)
	thumb := fmt.Sprintf(`#messages [data-message-id="%s"] img.attachment`, pic.ID)
	b.until(20*time.Second, js(fmt.Sprintf(`(i => !!i && i.complete && i.naturalWidth > 0 && i.src.startsWith(%s))($(%s))`, q(webURL+"/media/"), q(thumb))),
		"image: bob's page shows the thumbnail, loaded from the web origin's /media/")
	src := pageEval[string](b, js(fmt.Sprintf(`$(%s).src`, q(thumb))))
	if u, err := url.Parse(src); err != nil || u.Query().Get("width") == "" || u.Query().Get("height") == "" {
		t.Errorf("image: the thumbnail's src %s has no width and height parameters", src)
	}
	t.Logf("image: thumbnail %s", src)
	shots.take("image", a, b)
	b.click(thumb, "image: click the thumbnail")
	b.until(10*time.Second, js(`(i => !!i && i.checkVisibility() && i.complete && i.naturalWidth === 320)($('#lightbox img'))`),
		"image: bob's lightbox shows the image full size (320 px wide)")
	shots.take("lightbox", b)
	b.do(5*time.Second, "image: close the lightbox", chromedp.KeyEvent(kb.Escape))
	b.until(5*time.Second, js(`!$('#lightbox').open`), "image: the lightbox closes on Escape")

	// Voice: the Go client, then both browsers, in Lounge.
	carolVoice := carolChat.joinVoice(carol.UserID, g.ID, lounge, srv)
	for _, p := range []*webPage{a, b} {
		p.click(fmt.Sprintf(`[data-channel-id="%s"]`, lounge), "voice: click Lounge")
	}
	everyone := []string{alice, bob, carol.UserID}
	for _, p := range []*webPage{a, b} {
		inVoice(p, 20*time.Second, "voice: joined", everyone...)
	}
	testkit.Eventually(t, 10*time.Second, func() bool {
		m := carolVoice.conn.Members()
		return slices.Contains(m, alice) && slices.Contains(m, bob)
	}, "voice: the Go client sees alice and bob in the room")
	shots.take("voice-joined", a, b)
	checkPagesE2EE(t, a, b)

	// Each hears the others: the Go client speaks meanwhile.
	mark := goMark(carolVoice)
	played := playAsync(t, carolVoice, carolSpeech)
	b.until(10*time.Second, js(fmt.Sprintf(`!!$('[data-voice-user="%s"].speaking')`, alice)), "speaking: bob's page rings alice")
	a.until(10*time.Second, js(fmt.Sprintf(`!!$('[data-voice-user="%s"].speaking')`, alice)), "speaking: alice's page rings alice herself")
	a.until(10*time.Second, js(fmt.Sprintf(`!!$('[data-voice-user="%s"].speaking')`, carol.UserID)), "speaking: alice's page rings carol (the Go client) while she plays")
	shots.take("speaking", a, b)
	hears(t, "voice", map[*webPage][]string{a: {bob, carol.UserID}, b: {alice, carol.UserID}})
	<-played
	checkGoHears(t, codec, carolVoice, "voice", mark, map[string]float64{alice: 150, bob: 220})

	// alice mutes: bob hears nothing more of her.
	a.click(`#voice-controls [data-action=mute]`, "mute: click mute")
	isMuted := fmt.Sprintf(`(e => !!e && e.hasAttribute('data-muted') && e.dataset.muted !== 'false')($('[data-voice-user="%s"]'))`, alice)
	a.until(5*time.Second, js(isMuted), "mute: alice's page marks her muted")
	b.until(10*time.Second, js(isMuted), "mute: bob's page marks alice muted")
	b.until(10*time.Second, js(fmt.Sprintf(`!$('[data-voice-user="%s"].speaking')`, alice)), "mute: bob's page no longer rings alice")
	shots.take("muted", a, b)
	// The first marker drains what was on its way; over the second, alice
	// adds nothing.
	marker(t, b, carolVoice, carolSpeech[:25], "mute: first marker")
	before := b.heard()[alice]
	marker(t, b, carolVoice, carolSpeech[:50], "mute: second marker")
	rise := b.heard()[alice] - before
	t.Logf("mute: bob heard %.3g more of alice over the second marker", rise)
	if rise > minHeard/10 {
		t.Errorf("mute: bob heard %.2g more of alice while she was muted (a second of carol meanwhile); want under %.2g", rise, minHeard/10)
	}
	a.click(`#voice-controls [data-action=mute]`, "unmute: click mute again")
	b.until(10*time.Second, js(`!`+isMuted), "unmute: bob's page no longer marks alice muted")
	hears(t, "unmute", map[*webPage][]string{b: {alice}})

	// bob reloads: still signed in, his old voice session gone; he rejoins
	// and is listed once.
	b.reload()
	b.until(20*time.Second, js(`shown('#app') && !shown('#auth') && $('#status')?.dataset.state === 'connected'`),
		"reload: bob's page comes back signed in, connected")
	a.until(15*time.Second, js(fmt.Sprintf(`!$('[data-voice-user="%s"]')`, bob)), "reload: alice's page drops bob's old voice session")
	b.click(fmt.Sprintf(`[data-channel-id="%s"]`, lounge), "reload: bob clicks Lounge again")
	inVoice(b, 20*time.Second, "reload: bob rejoined", everyone...)
	inVoice(a, 10*time.Second, "reload: alice sees bob back", everyone...)
	mark = goMark(carolVoice)
	played = playAsync(t, carolVoice, carolSpeech)
	hears(t, "reload", map[*webPage][]string{a: {bob, carol.UserID}, b: {alice, carol.UserID}})
	<-played
	checkGoHears(t, codec, carolVoice, "reload", mark, map[string]float64{bob: 220})
	inVoice(a, time.Second, "reload: bob is listed once at alice's", everyone...)
	shots.take("reloaded", a, b)

	// alice signs out (and leaves voice), then signs in again.
	a.click(`[data-action=logout]`, "sign-out: click sign out")
	a.until(10*time.Second, js(`shown('#auth') && !shown('#app')`), "sign-out: alice's page shows the sign-in view")
	b.until(15*time.Second, js(fmt.Sprintf(`!$('[data-voice-user="%s"]')`, alice)), "sign-out: bob's page drops alice from Lounge")
	testkit.Eventually(t, 10*time.Second, func() bool { return !slices.Contains(carolVoice.conn.Members(), alice) },
		"sign-out: the Go client sees alice leave the room")
	shots.take("signed-out", a, b)
	signIn(a, "alice-password", "login", "sign-in")
	a.until(10*time.Second, js(fmt.Sprintf(`!!message(%s, %q) && !!message(%s, %q)`, q(hello), alice, q(reply), bot.ready.User)),
		"sign-in: alice's page shows the history")
	b.until(10*time.Second, js(fmt.Sprintf(`!!$('[data-member-id="%s"][data-status="online"]')`, alice)), "sign-in: bob's page lists alice online")
	a.click(fmt.Sprintf(`[data-channel-id="%s"]`, lounge), "sign-in: alice clicks Lounge again")
	inVoice(a, 20*time.Second, "sign-in: alice rejoined", everyone...)
	inVoice(b, 10*time.Second, "sign-in: bob sees alice back", everyone...)
	hears(t, "sign-in", map[*webPage][]string{a: {bob}, b: {alice}})
	shots.take("signed-in", a, b)

	// alice's connections to the web origin drop, and new ones fail until
	// the network is back; her voice, on its own connections, carries on.
	expected := a.expectNetworkErrors("the dropped connection")
	proxy.cut(web.Host, true)
	a.until(15*time.Second, js(`$('#status')?.dataset.state === 'reconnecting'`), "drop: alice's page says it is reconnecting")
	shots.take("reconnecting", a)
	proxy.let(web.Host)
	a.until(30*time.Second, js(`$('#status')?.dataset.state === 'connected'`), "drop: alice's page is connected again")
	expected()
	back := "alice is back after the drop"
	a.typeInto(`#composer textarea`, back, "drop: type")
	a.pressEnter(`#composer textarea`, "drop: send with Enter")
	b.until(10*time.Second, js(fmt.Sprintf(`!!message(%s, %q)`, q(back), alice)), "drop: alice's message after the drop shows at bob's")
	bot.wait("message", 10*time.Second, "drop: the bot gets alice's message after the drop", func(e botEvent) bool { return e.Content == back && e.Author == alice })
	welcome := "welcome back, alice"
	b.typeInto(`#composer textarea`, welcome, "drop: bob types")
	b.pressEnter(`#composer textarea`, "drop: bob sends")
	a.until(10*time.Second, js(fmt.Sprintf(`!!message(%s, %q)`, q(welcome), bob)), "drop: bob's message shows at alice's")
	inVoice(a, 10*time.Second, "drop: alice is still in voice", everyone...)
	inVoice(b, 10*time.Second, "drop: bob still sees alice in voice", everyone...)
	hears(t, "drop", map[*webPage][]string{a: {bob}, b: {alice}})
	shots.take("reconnected", a, b)

	// carol (the Go client, without DAVE) leaves: the room upgrades to
	// DAVE, and both voice panels show the call end-to-end encrypted
	// with the same voice privacy code.
	_ = carolVoice.conn.Close()
	carolChat.send(4, map[string]any{"guild_id": g.ID, "channel_id": nil, "self_mute": false, "self_deaf": false})
	codes := map[string]string{}
	for _, p := range []*webPage{a, b} {
		inVoice(p, 15*time.Second, "e2ee: carol left Lounge", alice, bob)
		p.until(20*time.Second, js(`$('#voice-controls .vc-e2ee')?.dataset.e2ee === 'on' && /\d/.test($('#voice-controls .vc-e2ee .e2ee-code')?.textContent ?? '')`),
			"e2ee: with carol gone the voice panel shows the call end-to-end encrypted, with its privacy code")
		codes[p.name] = pageEval[string](p, js(`$('#voice-controls .vc-e2ee .e2ee-code').textContent`))
	}
	if codes[a.name] != codes[b.name] {
		t.Errorf("e2ee: the pages show different voice privacy codes: %v", codes)
	}
	t.Logf("e2ee: both pages show the call end-to-end encrypted, voice privacy code %s", codes[a.name])
	hears(t, "e2ee", map[*webPage][]string{a: {bob}, b: {alice}})
	shots.take("voice-e2ee", a, b)

	for _, p := range []*webPage{a, b} {
		p.checkConsole("the end")
	}
	t.Logf("the story took %v", time.Since(began).Round(100*time.Millisecond))
}

// signIn signs p's person up or in (action: register or login) through
// the page's form, and waits for the main view, connected.
func signIn(p *webPage, password, action, step string) {
	p.t.Helper()
	p.until(20*time.Second, js(`shown('#auth')`), step+": the sign-in view shows")
	p.fill(`#auth [name=username]`, p.name, step+": type the username")
	p.fill(`#auth [name=password]`, password, step+": type the password")
	p.click(`#auth [data-action=`+action+`]`, step+": click "+action)
	p.until(20*time.Second, js(`shown('#app') && !shown('#auth') && $('#status')?.dataset.state === 'connected'`),
		step+": the main view shows, connected")
}

// checkPagesE2EE checks that each page's voice panel marks the call as
// not end-to-end encrypted (issue 13), and says why: the Go client in the
// room joins without DAVE (the room is downgraded to version 0), or the
// page could not make a DaveClient (no dave.wasm in the build: `make web`
// builds it, make test does), which it names.
func checkPagesE2EE(t *testing.T, pages ...*webPage) {
	t.Helper()
	for _, p := range pages {
		p.until(20*time.Second, js(`(e => $('#voice-controls .vc-e2ee')?.dataset.e2ee === 'off' && $('#voice-controls .vc-e2ee').textContent.includes(
			e.enabled ? 'Someone in this call cannot use end-to-end encryption' : 'This browser cannot encrypt the call end to end: ' + e.reason))(window.parley.e2ee())`),
			"e2ee: the voice panel marks the call as not end-to-end encrypted, and why")
		e := pageEval[struct {
			Enabled bool   `json:"enabled"`
			Reason  string `json:"reason"`
		}](p, `window.parley.e2ee()`)
		t.Logf("e2ee: %s's page: DAVE client %v (%s); the call is not end-to-end encrypted", p.name, e.Enabled, e.Reason)
	}
}

// jsHelpers are the page-side helpers every js expression may use.
const jsHelpers = `const $ = (s) => document.querySelector(s);
const $$ = (s) => [...document.querySelectorAll(s)];
const shown = (s) => { const e = $(s); return !!e && e.checkVisibility(); };
const author = (m) => m.dataset.authorId ?? m.querySelector('[data-author-id]')?.dataset.authorId;
const message = (text, who) => $$('#messages [data-message-id]').find((m) =>
  (m.querySelector('.content')?.textContent ?? '').includes(text) && (!who || author(m) === who));`

// js wraps expr with jsHelpers into one expression.
func js(expr string) string {
	return "(() => {\n" + jsHelpers + "\nreturn (" + expr + ");\n})()"
}

// q quotes s as a JavaScript string.
func q(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// inVoice waits until p is connected in voice, through the web origin's
// /voice (the voice node in the same process), and lists each of users
// exactly once.
func inVoice(p *webPage, timeout time.Duration, step string, users ...string) {
	p.t.Helper()
	var counts []string
	for _, u := range users {
		counts = append(counts, fmt.Sprintf(`$$('[data-voice-user="%s"]').length === 1`, u))
	}
	p.until(timeout, js(`shown('#voice-controls') && window.parley.voice()?.state === 'connected' && `+
		`window.parley.voice()?.endpoint === location.host + '/voice' && `+strings.Join(counts, " && ")),
		step+": connected in voice through the origin's /voice, each of "+strings.Join(users, ", ")+" listed once")
}

// hears waits until each page's heard() rose by minHeard for each of the
// users given for it.
func hears(t *testing.T, step string, want map[*webPage][]string) {
	t.Helper()
	start := map[*webPage]map[string]float64{}
	for p := range want {
		start[p] = p.heard()
	}
	now := map[*webPage]map[string]float64{}
	if !testkit.Poll(15*time.Second, func() bool {
		for p, users := range want {
			now[p] = p.heard()
			for _, u := range users {
				if now[p][u]-start[p][u] < minHeard {
					return false
				}
			}
		}
		return true
	}) {
		for p, users := range want {
			t.Errorf("%s: %s's page heard (energy since join) %v, was %v; want a rise of %v for each of %v",
				step, p.name, now[p], start[p], minHeard, users)
		}
		t.FailNow()
	}
	for p, users := range want {
		for _, u := range users {
			t.Logf("%s: %s's page heard %.3g more of %s", step, p.name, now[p][u]-start[p][u], u)
		}
	}
}

// playAsync plays frames from the Go client; the channel closes when it
// is done (a failure fails t).
func playAsync(t *testing.T, p *goPeer, frames [][]byte) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := p.conn.PlayFrames(ctx, frames); err != nil {
			t.Errorf("the Go client's play: %v", err)
		}
	}()
	return done
}

// marker plays frames from the Go client and waits until page heard them:
// everything sent before has had its time to arrive.
func marker(t *testing.T, page *webPage, p *goPeer, frames [][]byte, step string) {
	t.Helper()
	before := page.heard()[p.user]
	<-playAsync(t, p, frames)
	testkit.Eventually(t, 5*time.Second, func() bool { return page.heard()[p.user]-before >= minHeard },
		"%s: %s's page hears the Go client", step, page.name)
}

// goMark is how many frames the Go client has received from each user.
func goMark(p *goPeer) map[string]int {
	m := map[string]int{}
	for _, u := range p.got.users() {
		m[u] = len(p.got.frames(u))
	}
	return m
}

// checkGoHears checks the Go client received speech from each browser
// user since mark: the last 3.5 s decode to bursts of speech with near
// silence between, at the pitch of that user's microphone.
func checkGoHears(t *testing.T, codec *browserPage, p *goPeer, step string, mark map[string]int, pitches map[string]float64) {
	t.Helper()
	const n = 175
	if !testkit.Poll(10*time.Second, func() bool {
		for user := range pitches {
			if len(p.got.frames(user)) < mark[user]+n {
				return false
			}
		}
		return true
	}) {
		for user := range pitches {
			t.Errorf("%s: the Go client received %d frames of %s's audio, want %d (3.5 s)", step, len(p.got.frames(user))-mark[user], user, n)
		}
		t.FailNow()
	}
	for user, pitch := range pitches {
		fs := p.got.frames(user)
		got := codec.analyse(fmt.Sprintf("%s-%s.ogg", strings.ReplaceAll(step, " ", "-"), user), timeline(fs[len(fs)-n:]))
		loud, quiet := 0, 0
		for _, v := range got.Envelope {
			switch {
			case v > -30:
				loud++
			case v < -50:
				quiet++
			}
		}
		t.Logf("%s: the Go client's last 3.5 s of %s: %d windows of speech, %d of near silence, %.0f Hz", step, user, loud, quiet, got.Pitch)
		// 3.5 s of the pattern: about 70 windows of speech and 105 of silence.
		if loud < 40 || quiet < 40 || got.Pitch < pitch*0.92 || got.Pitch > pitch*1.08 {
			t.Errorf("%s: what the Go client received of %s decodes to %d windows of speech (> -30 dBFS) and %d of near silence (< -50) at %.0f Hz; want 40 or more of each, at %.0f Hz ±8 %%",
				step, user, loud, quiet, got.Pitch, pitch)
		}
	}
}

// checkBotAttachment checks the bot saw one image attachment of the test
// PNG, with Discord's fields, its URLs on the web origin.
func checkBotAttachment(t *testing.T, m botEvent, webURL string, size int) {
	t.Helper()
	if len(m.Attachments) != 1 {
		t.Errorf("image: the bot sees %d attachments, want 1: %+v", len(m.Attachments), m.Attachments)
		return
	}
	at := m.Attachments[0]
	if !strings.HasPrefix(at.URL, webURL+"/") || !strings.HasPrefix(at.ProxyURL, webURL+"/media/") ||
		at.Width != 320 || at.Height != 240 || at.ContentType != "image/png" || at.Size != size {
		t.Errorf("image: the bot sees %+v; want url and proxy_url on %s (proxy_url under /media/), 320x240, image/png, %d bytes",
			at, webURL, size)
	}
}

// writeTestPNG writes a w×h PNG (colour bands, so a thumbnail shows
// something) and returns its path and size.
func writeTestPNG(t *testing.T, w, h int) (string, int) {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{R: uint8(255 * x / w), G: uint8(255 * y / h), B: 160, A: 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "parley-test-image.png")
	if err := os.WriteFile(p, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return p, buf.Len()
}
