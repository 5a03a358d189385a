package chat_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"github.com/parleyhq/parley/chat/model"
	"github.com/parleyhq/parley/chat/store"
	"github.com/parleyhq/parley/internal/testkit"
)

// The abuse test's shape: how long the attack lasts, how many attackers
// of each kind (each from its own loopback address, as real clients are),
// and the bounds the legitimate client is held to.
const (
	abuseFor         = 3 * time.Second
	gatewayAttackers = 16
	restAttackers    = 16
	// legitBound is the longest a legitimate request, or the delivery of
	// a legitimate message to a legitimate session, may take under attack
	// (on 2 cores under -race).
	legitBound = 2 * time.Second
	// heapBound is how much the live heap may grow through the attack:
	// the attackers' sessions (still resumable) with their bounded
	// dispatch lists, the limiter windows, the accounts.
	heapBound = 32 << 20
)

// TestAbuse: random and mutated gateway frames and REST requests from many
// connections spread over 127.0.0.0/8 — garbage, oversized and fragmented
// frames, pings, identifies and resumes with wrong or real tokens,
// presence, member and voice floods, non-canonical and oversized ids,
// malformed and oversized bodies, huge nonces, login guessing, slow
// headers — while a legitimate user keeps using REST and a legitimate bot
// keeps its gateway session, all with the default limits. The legitimate
// requests all succeed and its messages all arrive, each within
// legitBound; the session is never closed; the heap, the limiter windows
// and the sessions' dispatch lists stay within their bounds.
func TestAbuse(t *testing.T) {
	testkit.NoLeaks(t)
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("PARLEY_ABUSE_SEED"); v != "" { // to replay a failure
		seed, _ = strconv.ParseUint(v, 10, 64)
	}
	t.Logf("seed %d (PARLEY_ABUSE_SEED replays it)", seed)
	s := startChat(t, store.Config{SQLitePath: filepath.Join(t.TempDir(), "chat.db")}, nil, nil)
	ctx := context.Background()
	_, alice, err := s.Service.Register(ctx, "alice", "hunter2hunter2")
	if err != nil {
		t.Fatal(err)
	}
	var attackerTokens []string
	for i := range 4 {
		_, tok, err := s.Service.Register(ctx, fmt.Sprintf("mallory%d", i), "hunter2hunter2")
		if err != nil {
			t.Fatal(err)
		}
		attackerTokens = append(attackerTokens, tok)
	}
	_, botTok, err := s.Service.CreateBot(ctx, "watcher", false)
	if err != nil {
		t.Fatal(err)
	}
	general := generalChannel(t, s, alice)
	ids := abuseIDs{guild: s.Service.DefaultGuild().String(), channel: general}

	// The legitimate bot: every intent that attackers can make it receive.
	w := dialGateway(t, s, botTok, int(model.IntentGuilds|model.IntentGuildMembers|model.IntentGuildPresences|
		model.IntentGuildMessages|model.IntentMessageContent|model.IntentGuildVoiceStates|model.IntentGuildMessageTyping))
	w.expect("GUILD_CREATE")
	watch := startWatcher(w)

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)

	actx, cancel := context.WithTimeout(ctx, abuseFor)
	defer cancel()
	var wg sync.WaitGroup
	for i := range gatewayAttackers {
		rng := rand.New(rand.NewPCG(seed, uint64(i)))
		src := fmt.Sprintf("127.7.%d.%d", i/200, i%200+1)
		wg.Go(func() { gatewayAttacker(actx, s.GatewayAddr(), src, rng, attackerTokens, ids) })
	}
	for i := range restAttackers {
		rng := rand.New(rand.NewPCG(seed, uint64(1000+i)))
		src := fmt.Sprintf("127.8.%d.%d", i/200, i%200+1)
		wg.Go(func() { restAttacker(actx, t, s.APIAddr(), src, rng, attackerTokens, ids) })
	}

	// The legitimate user: reads every 100 ms, a message every 1.1 s (the
	// channel allows 5 per 5 s).
	legit := clientFrom(t, "127.0.0.1")
	sent := map[string]time.Time{}
	var slowest time.Duration
	nextPost := time.Now()
	for actx.Err() == nil {
		start := time.Now()
		path, body := "/users/@me", any(nil)
		method := "GET"
		if !start.Before(nextPost) {
			content := fmt.Sprintf("legit-%d", len(sent))
			method, path, body = "POST", "/channels/"+general+"/messages", map[string]string{"content": content}
			sent[content] = start
			nextPost = start.Add(1100 * time.Millisecond)
		}
		code, _ := apiVia(t, legit, s, method, path, alice, body, nil)
		d := time.Since(start)
		slowest = max(slowest, d)
		if code != 200 {
			t.Errorf("legitimate %s %s under attack: %d", method, path, code)
		}
		if d > legitBound {
			t.Errorf("legitimate %s %s took %v under attack", method, path, d)
		}
		select {
		case <-actx.Done():
		case <-time.After(100 * time.Millisecond): // the user's pace
		}
	}
	wg.Wait()
	t.Logf("slowest legitimate request %v; %d messages sent", slowest, len(sent))

	// Every legitimate message reached the bot, in time, and its session
	// was never closed.
	testkit.Eventually(t, 2*legitBound, func() bool { return watch.got(sent) == len(sent) }, "legitimate messages missing")
	watch.stop()
	if watch.closed != nil {
		t.Fatalf("the legitimate session was closed: %v", watch.closed)
	}
	for content, at := range sent {
		if d := watch.arrived[content].Sub(at); d > legitBound {
			t.Errorf("%s arrived after %v", content, d)
		}
	}

	gst, ast := s.Gateway.Stats(), s.API.Stats()
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	grew := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("heap %d → %d kB; gateway %+v; api %+v", before.HeapAlloc>>10, after.HeapAlloc>>10, gst, ast)
	if grew > heapBound {
		t.Errorf("the heap grew by %d MB under attack (bound %d MB)", grew>>20, heapBound>>20)
	}
	if gst.MaxReplayBytes > 2<<20+64<<10 {
		t.Errorf("a session holds %d bytes of dispatches (cap 2 MiB)", gst.MaxReplayBytes)
	}
	if ast.LimiterKeys > 20_000 {
		t.Errorf("%d rate-limit windows after %d attackers", ast.LimiterKeys, restAttackers+gatewayAttackers)
	}
}

// abuseIDs are real ids the attackers mix into their requests.
type abuseIDs struct{ guild, channel string }

// watcher reads the legitimate session and records when each legitimate
// message arrived.
type watcher struct {
	g    *gwClient
	done chan struct{}

	mu      sync.Mutex
	arrived map[string]time.Time
	closed  error
}

func startWatcher(g *gwClient) *watcher {
	w := &watcher{g: g, done: make(chan struct{}), arrived: map[string]time.Time{}}
	// One deadline for the whole watch, set here only: stop moves it to
	// now, and the reader must not move it back.
	_ = g.nc.SetReadDeadline(time.Now().Add(time.Minute))
	go w.run()
	return w
}

func (w *watcher) run() {
	defer close(w.done)
	rw := struct {
		io.Reader
		io.Writer
	}{w.g.r, w.g.nc}
	for {
		data, err := wsutil.ReadServerText(rw)
		if err != nil {
			var ce wsutil.ClosedError
			if errors.As(err, &ce) {
				w.mu.Lock()
				w.closed = fmt.Errorf("close %d", ce.Code)
				w.mu.Unlock()
			}
			return
		}
		if !bytes.Contains(data, []byte(`"t":"MESSAGE_CREATE"`)) {
			continue
		}
		var f struct {
			D struct{ Content string } `json:"d"`
		}
		if json.Unmarshal(data, &f) == nil && strings.HasPrefix(f.D.Content, "legit-") {
			w.mu.Lock()
			w.arrived[f.D.Content] = time.Now()
			w.mu.Unlock()
		}
	}
}

// got counts the messages of sent that arrived.
func (w *watcher) got(sent map[string]time.Time) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for c := range sent {
		if _, ok := w.arrived[c]; ok {
			n++
		}
	}
	return n
}

// stop ends the reader (closing the connection) and waits for it.
func (w *watcher) stop() {
	_ = w.g.nc.SetReadDeadline(time.Now())
	<-w.done
	w.g.nc.Close()
}

// mutate returns b with a few random bytes flipped, inserted, removed or
// duplicated, or truncated.
func mutate(rng *rand.Rand, b []byte) []byte {
	out := append([]byte(nil), b...)
	for range 1 + rng.IntN(4) {
		if len(out) == 0 {
			out = append(out, byte(rng.IntN(256)))
			continue
		}
		i := rng.IntN(len(out))
		switch rng.IntN(5) {
		case 0:
			out[i] ^= byte(1 + rng.IntN(255))
		case 1:
			out = append(out[:i], append([]byte{"{}[]\",:0\\"[rng.IntN(9)]}, out[i:]...)...)
		case 2:
			out = append(out[:i], out[i+1:]...)
		case 3:
			out = out[:i]
		case 4:
			out = append(out[:i], append(bytes.Repeat(out[i:i+1], rng.IntN(64)), out[i:]...)...)
		}
	}
	return out
}

// junk returns n random bytes.
func junk(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.IntN(256))
	}
	return b
}

// gatewayTemplates are valid client payloads to mutate or send as they are.
func gatewayTemplates(rng *rand.Rand, tokens []string, ids abuseIDs) [][]byte {
	tok := tokens[rng.IntN(len(tokens))]
	big := strings.Repeat("x", 3000)
	ps := []any{
		map[string]any{"op": 2, "d": map[string]any{"token": tok, "intents": 1<<17 - 1, "properties": map[string]string{"os": "x"}}},
		map[string]any{"op": 2, "d": map[string]any{"token": "Bot " + string(junk(rng, 20)), "intents": 513}},
		map[string]any{"op": 6, "d": map[string]any{"token": tok, "session_id": fmt.Sprintf("%032x", rng.Uint64()), "seq": rng.Int64()}},
		map[string]any{"op": 1, "d": rng.Int64()},
		map[string]any{"op": 3, "d": map[string]any{"status": "online", "activities": []any{map[string]any{"name": big[:rng.IntN(200)], "type": 0, "state": big}}}},
		map[string]any{"op": 3, "d": map[string]any{"status": "invisible", "activities": []any{map[string]any{"name": "x"}}}},
		map[string]any{"op": 8, "d": map[string]any{"guild_id": ids.guild, "query": "", "limit": 0, "nonce": big[:rng.IntN(100)]}},
		map[string]any{"op": 4, "d": map[string]any{"guild_id": ids.guild, "channel_id": ids.channel, "self_mute": true}},
		map[string]any{"op": 4, "d": map[string]any{"guild_id": "0" + ids.guild, "channel_id": nil}},
		map[string]any{"op": rng.IntN(40), "d": nil},
	}
	out := make([][]byte, len(ps))
	for i, p := range ps {
		out[i], _ = json.Marshal(p)
	}
	return out
}

// gatewayAttacker connects from src again and again until ctx ends, each
// time sending a random mix of garbage, mutated and valid payloads.
func gatewayAttacker(ctx context.Context, addr, src string, rng *rand.Rand, tokens []string, ids abuseIDs) {
	nd := testkit.DialerFrom(src)
	d := ws.Dialer{NetDial: nd.DialContext}
	for ctx.Err() == nil {
		if rng.IntN(8) == 0 { // not even a WebSocket
			if nc, err := nd.DialContext(ctx, "tcp", addr); err == nil {
				_ = nc.SetWriteDeadline(time.Now().Add(time.Second))
				_, _ = nc.Write(junk(rng, rng.IntN(2000)))
				nc.Close()
			}
			continue
		}
		dctx, cancel := context.WithTimeout(ctx, time.Second)
		nc, br, _, err := d.Dial(dctx, "ws://"+addr+"/?v=10&encoding=json")
		cancel()
		if err != nil {
			select { // refused (a per-IP cap): the attacker's own pace
			case <-ctx.Done():
			case <-time.After(10 * time.Millisecond):
			}
			continue
		}
		var r io.Reader = nc
		if br != nil {
			r = io.MultiReader(br, nc)
		}
		drained := make(chan struct{})
		if rng.IntN(3) > 0 { // most read what they are sent; some never do
			go func() {
				defer close(drained)
				_, _ = io.Copy(io.Discard, r)
			}()
		} else {
			close(drained)
		}
		templates := gatewayTemplates(rng, tokens, ids)
		// Half identify first and then mostly send what a session may
		// (presence, member and voice floods); the others are chaos.
		session := rng.IntN(2) == 0
		if session {
			_ = nc.SetWriteDeadline(time.Now().Add(500 * time.Millisecond))
			_ = ws.WriteFrame(nc, ws.MaskFrame(ws.NewTextFrame(templates[0])))
		}
		for n := rng.IntN(150); n > 0 && ctx.Err() == nil; n-- {
			var f ws.Frame
			kind := rng.IntN(8)
			if session && rng.IntN(10) > 0 {
				kind = 3
			}
			switch kind {
			case 0:
				f = ws.NewTextFrame(junk(rng, rng.IntN(5000)))
			case 1, 2:
				f = ws.NewTextFrame(mutate(rng, templates[rng.IntN(len(templates))]))
			case 3, 4:
				f = ws.NewTextFrame(templates[3+rng.IntN(len(templates)-3)]) // session ops (not identify or resume)
			case 5:
				f = ws.NewPingFrame(junk(rng, rng.IntN(200)))
			case 6:
				f = ws.NewBinaryFrame(junk(rng, rng.IntN(100)))
				f.Header.Fin = rng.IntN(2) == 0
			case 7:
				f = ws.Frame{Header: ws.Header{OpCode: ws.OpCode(rng.IntN(16)), Fin: rng.IntN(2) == 0}, Payload: junk(rng, rng.IntN(300))}
				f.Header.Length = int64(len(f.Payload))
			}
			_ = nc.SetWriteDeadline(time.Now().Add(500 * time.Millisecond))
			if rng.IntN(20) == 0 {
				_, err = nc.Write(junk(rng, rng.IntN(64))) // not a frame at all
			} else {
				err = ws.WriteFrame(nc, ws.MaskFrame(f))
			}
			if err != nil {
				break
			}
		}
		if rng.IntN(4) == 0 { // some hold the connection, identified or not
			select {
			case <-ctx.Done():
			case <-time.After(time.Duration(rng.IntN(500)) * time.Millisecond):
			}
		}
		nc.Close()
		<-drained
	}
}

// restAttacker sends random and mutated requests from src until ctx ends.
func restAttacker(ctx context.Context, t *testing.T, addr, src string, rng *rand.Rand, tokens []string, ids abuseIDs) {
	nd := testkit.DialerFrom(src)
	nd.Timeout = time.Second
	tr := &http.Transport{DialContext: nd.DialContext, MaxConnsPerHost: 8}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 2 * time.Second}
	idForms := func() string {
		switch rng.IntN(7) {
		case 0:
			return ids.channel
		case 1:
			return ids.guild
		case 2:
			return strings.Repeat("0", 1+rng.IntN(30)) + ids.channel
		case 3:
			return strings.Repeat("9", 1+rng.IntN(2000))
		case 4:
			return fmt.Sprint(rng.Uint64())
		case 5:
			return "@me"
		}
		return string(mutate(rng, []byte(ids.channel)))
	}
	paths := []string{
		"/channels/%s/messages", "/channels/%s", "/channels/%s/messages/%s", "/channels/%s/typing", "/guilds/%s",
		"/guilds/%s/channels", "/guilds/%s/members", "/guilds/%s/members/%s", "/users/%s", "/users/@me", "/gateway/bot",
		"/auth/login", "/auth/register", "/auth/logout", "/_parley/bots", "/voice/regions",
	}
	bodies := [][]byte{
		[]byte(`{"content":"hi","nonce":"` + strings.Repeat("n", 200_000) + `"}`),
		[]byte(`{"content":"` + strings.Repeat("é", 1999) + `","nonce":"12345678901234567890123456"}`),
		[]byte(`{"content":"x","embeds":[` + strings.Repeat(`{"title":"t"},`, 500) + `{}]}`),
		[]byte(`{"login":"alice","password":"guess"}`),
		[]byte(`{"username":"par\u200bley","password":"hunter2hunter2"}`),
		[]byte(`{"name":"` + strings.Repeat("c", 300) + `","topic":"\u202e"}`),
		[]byte(`{"nick":"\u3164","mute":true,"channel_id":"1"}`),
		[]byte(`{"password":"x","new_password":"hunter3hunter3"}`),
	}
	for ctx.Err() == nil {
		if rng.IntN(4) == 0 { // a valid message, fanned out to every member
			nonce := fmt.Sprint(rng.Uint64())
			if rng.IntN(3) == 0 {
				nonce = strings.Repeat("n", 100_000) // refused: nonces are at most 25 characters
			}
			body, _ := json.Marshal(map[string]any{"content": strings.Repeat("spam ", 1+rng.IntN(399)), "nonce": nonce})
			req, _ := http.NewRequestWithContext(ctx, "POST", "http://"+addr+"/api/v10/channels/"+ids.channel+"/messages", bytes.NewReader(body))
			req.Header.Set("Authorization", tokens[rng.IntN(len(tokens))])
			req.Header.Set("Content-Type", "application/json")
			if resp, err := client.Do(req); err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			continue
		}
		if rng.IntN(30) == 0 { // slow headers, held until the end or the server's timeout
			if nc, err := nd.DialContext(ctx, "tcp", addr); err == nil {
				_, _ = io.WriteString(nc, "POST /api/v10/auth/login HTTP/1.1\r\nHost: x\r\nContent-Length: 99\r\n")
				select {
				case <-ctx.Done():
				case <-time.After(time.Duration(rng.IntN(1000)) * time.Millisecond):
				}
				nc.Close()
			}
			continue
		}
		p := paths[rng.IntN(len(paths))]
		p = strings.Replace(p, "%s", idForms(), 1)
		p = strings.Replace(p, "%s", idForms(), 1)
		if rng.IntN(10) == 0 {
			p = string(mutate(rng, []byte(p)))
		}
		var body []byte
		switch rng.IntN(3) {
		case 0:
			body = bodies[rng.IntN(len(bodies))]
		case 1:
			body = mutate(rng, bodies[rng.IntN(len(bodies))])
		}
		method := []string{"GET", "POST", "PATCH", "DELETE", "PUT"}[rng.IntN(5)]
		req, err := http.NewRequestWithContext(ctx, method, "http://"+addr+"/api/v10"+p, bytes.NewReader(body))
		if err != nil {
			continue
		}
		switch rng.IntN(4) {
		case 0:
			req.Header.Set("Authorization", tokens[rng.IntN(len(tokens))])
		case 1:
			req.Header.Set("Authorization", "Bot "+string(junk(rng, rng.IntN(300))))
		case 2:
			req.Header.Set("Authorization", strings.Repeat("A", rng.IntN(20_000)))
		}
		resp, err := client.Do(req)
		if err != nil {
			continue
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode >= 500 && resp.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("%s %.80s: %d", method, p, resp.StatusCode)
		}
	}
}
