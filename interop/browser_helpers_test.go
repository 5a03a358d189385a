package interop

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/parleyhq/parley/internal/ogg"
	"github.com/parleyhq/parley/internal/testkit"
	"github.com/parleyhq/parley/signaling"
	"github.com/parleyhq/parley/voicenode"
	"github.com/parleyhq/parley/voicenode/voicenodetest"
	"github.com/parleyhq/parley/voiceproto"
)

// startVoiceWebRTC is startVoice with the browsers' UDP address on, a
// heartbeat every second (so a client notices a dead connection, two
// missed ACKs, within seconds), and the node's metrics in reg. The server
// waits 10 s for a heartbeat before it ends a session (4009), not the
// default 2.5 intervals: a loaded machine delays a browser's or a Go
// client's timers by more than that.
func startVoiceWebRTC(t *testing.T) (*voiceEnv, *prometheus.Registry) {
	t.Helper()
	log := testLogger(t)
	reg := prometheus.NewRegistry()
	srv := voicenodetest.Start(t, voicenode.Config{WebRTCAddr: "127.0.0.1:0", Logger: log, Metrics: reg,
		Gateway: signaling.Config{HeartbeatInterval: time.Second, HeartbeatTimeout: 10 * time.Second}})
	return &voiceEnv{srv: srv, dir: srv.Dir, signer: srv.Signer, pool: srv.RootCAs, log: log}, reg
}

// gatewayMessages is how many op messages the gateway received so far.
func gatewayMessages(t *testing.T, reg *prometheus.Registry, op voiceproto.Op) int {
	t.Helper()
	return int(counters(t, reg, "parley_voice_gateway_messages_total", "op")[op.Label()])
}

// counters returns the values of a counter family by one label's value.
func counters(t *testing.T, reg *prometheus.Registry, name, label string) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label {
					out[l.GetValue()] += m.GetCounter().GetValue()
				}
			}
		}
	}
	return out
}

// browserPage is Debian's Chromium, headless, on the test page
// (interop/browser: web/voice/voice.js under harness.js), served over
// plain HTTP on loopback. Its fake microphone plays speech.wav. Its
// methods fail t: a subtest uses its own view of the page (in).
type browserPage struct {
	t      *testing.T
	ctx    context.Context     // the tab
	base   string              // http://127.0.0.1:port
	rec    string              // directory served as /rec/
	query  string              // the test page's query string ("?e2ee=off")
	dir    string              // the test's temp dir (screenshot)
	stderr *testkit.SyncBuffer // Chromium's own output, shown on failure
}

// The fake microphone's source (writeSpeechWAV): bursts of a voiced sound
// separated by silence, looped by Chromium.
const (
	speechBurst = 400 * time.Millisecond
	speechGap   = 600 * time.Millisecond
	speechReps  = 3
)

// startBrowser starts Chromium trusting the voice node's certificate (by
// its SPKI hash) and opens the test page. It fails (PARLEY_INTEROP=1) or
// skips when chromium is not installed.
func startBrowser(t *testing.T, certPath string) *browserPage {
	t.Helper()
	return startBrowserWAV(t, certPath, speechWAV(150, 1))
}

// startBrowserWAV is startBrowser with wav as the fake microphone's source.
func startBrowserWAV(t *testing.T, certPath string, wav []byte) *browserPage {
	t.Helper()
	dir := t.TempDir()
	p := &browserPage{t: t, dir: dir}
	p.base, p.rec = serveHarness(t)
	p.ctx, p.stderr = startChromium(t, chromium{dir: dir, certPath: certPath, wav: wav})
	t.Cleanup(func() {
		if t.Failed() {
			p.dumpLogs()
		}
	})
	p.open()
	return p
}

// serveHarness serves the test page (interop/browser, with
// web/voice/voice.js as /voice.js, the DAVE module web/dave/ as /dave/ and
// the web client's modules web/app/ as /app/) over plain HTTP on loopback
// (a secure context: workers, WebAssembly and encoded transforms work),
// and a fresh directory as /rec/ (for envelope); it returns the page's
// base URL and that directory.
func serveHarness(t *testing.T) (base, rec string) {
	t.Helper()
	rec = filepath.Join(t.TempDir(), "rec")
	if err := os.Mkdir(rec, 0o700); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/", http.FileServer(http.Dir(repoFile(t, "browser"))))
	voiceJS := repoFile(t, filepath.Join("..", "web", "voice", "voice.js"))
	mux.HandleFunc("/voice.js", func(w http.ResponseWriter, r *http.Request) { http.ServeFile(w, r, voiceJS) })
	for _, dir := range []string{"dave", "app"} {
		mux.Handle("/"+dir+"/", http.StripPrefix("/"+dir+"/", http.FileServer(http.Dir(repoFile(t, filepath.Join("..", "web", dir))))))
	}
	mux.Handle("/rec/", http.StripPrefix("/rec/", http.FileServer(http.Dir(rec))))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL, rec
}

// open navigates the page's tab to the test page and waits for the
// harness.
func (p *browserPage) open() {
	p.t.Helper()
	nav, cancel := context.WithTimeout(p.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(nav, chromedp.Navigate(p.base+"/index.html"+p.query)); err != nil {
		p.t.Fatalf("chromium: open the test page: %v\n%s", err, p.stderr)
	}
	p.until(10*time.Second, `typeof window.harness === "object"`, "the harness module loaded")
}

// harnessTab opens the test page in a new tab of the browser of ctx (a
// tab of another page): its encoder and decoder serve a test whose
// browsers show something else.
func harnessTab(t *testing.T, ctx context.Context, stderr *testkit.SyncBuffer) *browserPage {
	t.Helper()
	return harnessTabQuery(t, ctx, stderr, "")
}

// harnessTabQuery is harnessTab with a query string on the page's URL.
func harnessTabQuery(t *testing.T, ctx context.Context, stderr *testkit.SyncBuffer, query string) *browserPage {
	t.Helper()
	tab, cancel := chromedp.NewContext(ctx)
	t.Cleanup(cancel)
	// The first action opens the tab and binds it to the context it is
	// given: the tab's, not a shorter one.
	if err := chromedp.Do(tab); err != nil {
		t.Fatalf("chromium: open a tab: %v", err)
	}
	p := &browserPage{t: t, ctx: tab, dir: t.TempDir(), stderr: stderr, query: query}
	p.base, p.rec = serveHarness(t)
	p.open()
	return p
}

// chromium is how startChromium starts a browser.
type chromium struct {
	dir      string // its profile and fake microphone go here
	certPath string // the certificate trusted by its SPKI hash
	wav      []byte // the fake microphone's source (speechWAV), looped
	width    int    // window size; 900x600 if 0
	height   int
	flags    []chromedp.ExecAllocatorOption // more flags
}

// startChromium starts Debian's Chromium, headless, with a fake
// microphone and its own profile, and returns its first tab, which lives
// until the test ends, and its output (shown on failure). It fails
// (PARLEY_INTEROP=1) or skips when chromium is not installed.
func startChromium(t *testing.T, c chromium) (context.Context, *testkit.SyncBuffer) {
	t.Helper()
	chrome, err := exec.LookPath("chromium")
	if err != nil {
		missingClient(t, "chromium not on PATH (Debian's chromium package; scripts/deps.sh installs it)")
	}
	if c.width == 0 {
		c.width, c.height = 900, 600
	}
	wav := filepath.Join(c.dir, "speech.wav")
	if err := os.WriteFile(wav, c.wav, 0o600); err != nil {
		t.Fatal(err)
	}
	stderr := &testkit.SyncBuffer{}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chrome),
		chromedp.UserDataDir(filepath.Join(c.dir, "profile")),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.WindowSize(c.width, c.height),
		chromedp.CombinedOutput(stderr),
		// shared/docs/webrtc.md §5.
		chromedp.Flag("headless", "new"),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-file-for-fake-audio-capture", wav),
		chromedp.Flag("allow-loopback-in-peer-connection", true),
		chromedp.Flag("disable-features", "WebRtcHideLocalIpsWithMdns,Translate"),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		chromedp.Flag("ignore-certificate-errors-spki-list", certSPKI(t, c.certPath)),
		// No connections out of this machine (.library/env/machines/go.md).
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-breakpad", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		// A test page must not be slowed down when the machine is loaded.
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.Flag("disable-backgrounding-occluded-windows", true),
	}
	opts = append(opts, c.flags...)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc() // kills Chromium and waits for it
	})
	// The first action starts Chromium and binds it to the context it is
	// given: the tab's, not a shorter one.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("chromium: start: %v\n%s", err, stderr)
	}
	return ctx, stderr
}

// in is the page as seen from test t (a subtest): its failures end t, not
// the test that opened the page.
func (p *browserPage) in(t *testing.T) *browserPage {
	q := *p
	q.t = t
	return &q
}

// eval evaluates expr in the page, awaiting a promise, and decodes its value.
func eval[T any](p *browserPage, timeout time.Duration, expr string) T {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, timeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		p.t.Fatalf("page: %.80s: %v", expr, err)
	}
	return v
}

// until waits for a JavaScript condition.
func (p *browserPage) until(timeout time.Duration, cond, what string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, timeout)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](cond)); err != nil {
		p.t.Fatalf("page: not within %v: %s (%s): %v", timeout, what, cond, err)
	}
}

// pageStatus is harness.status().
type pageStatus struct {
	State        string `json:"state"`
	SSRC         uint32 `json:"ssrc"`
	Media        string `json:"media"`
	Transceivers int    `json:"transceivers"`
	Users        map[string]struct {
		SSRC     uint32 `json:"ssrc"`
		Speaking int    `json:"speaking"`
		Track    bool   `json:"track"`
	} `json:"users"`
	Closes    []int    `json:"closes"`
	Resumed   int      `json:"resumed"`
	Connected int      `json:"connected"`
	Errors    []string `json:"errors"` // voice.js's error events
}

func (p *browserPage) status() pageStatus {
	p.t.Helper()
	return eval[pageStatus](p, 5*time.Second, `harness.status()`)
}

// inbound is getStats' inbound-rtp of one remote SSRC.
type inbound struct {
	UserID          string `json:"userId"`
	PacketsReceived int    `json:"packetsReceived"`
	PacketsLost     int    `json:"packetsLost"`
}

func (p *browserPage) stats() map[uint32]inbound {
	p.t.Helper()
	return eval[map[uint32]inbound](p, 5*time.Second, `harness.stats()`)
}

// played is what the page played from one user: 20 ms windows louder
// than -35 dBFS, and the loudest.
type played struct {
	Loud    int     `json:"loud"`
	Windows int     `json:"windows"`
	Peak    float64 `json:"peak"`
}

func (p *browserPage) levels() map[string]played {
	p.t.Helper()
	return eval[map[string]played](p, 5*time.Second, `harness.levels()`)
}

// join joins the voice channel as c with receivers recvonly transceivers
// made up front; it returns the browser's room SSRC.
func (p *browserPage) join(c creds, receivers int) uint32 {
	p.t.Helper()
	b, _ := json.Marshal(c)
	return eval[uint32](p, 20*time.Second, fmt.Sprintf(`harness.join(%s, %d)`, b, receivers))
}

// encodeTone has the browser's Opus encoder (WebCodecs) make ms of a tone.
func (p *browserPage) encodeTone(freq, ms int) [][]byte {
	p.t.Helper()
	b64 := eval[[]string](p, 10*time.Second, fmt.Sprintf(`harness.encodeTone(%d, %d)`, freq, ms))
	out := make([][]byte, len(b64))
	for i, s := range b64 {
		var err error
		if out[i], err = base64.StdEncoding.DecodeString(s); err != nil {
			p.t.Fatal(err)
		}
	}
	return out
}

// envelope has the browser decode frames (an Ogg Opus file served from
// /rec/) and returns the energy of each 20 ms, in dBFS.
func (p *browserPage) envelope(name string, frames [][]byte) []float64 {
	p.t.Helper()
	var buf bytes.Buffer
	if err := ogg.Write(&buf, frames); err != nil {
		p.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(p.rec, name), buf.Bytes(), 0o600); err != nil {
		p.t.Fatal(err)
	}
	return eval[[]float64](p, 10*time.Second, fmt.Sprintf(`harness.envelope("/rec/%s")`, name))
}

// screenshot saves the whole page as PNG and logs where: in the test's
// temp dir, which is deleted when the test ends, or in the directory
// PARLEY_TEST_ARTIFACTS names, where it is kept.
func (p *browserPage) screenshot(name string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // quality 100: PNG
	if err != nil {
		p.t.Fatalf("screenshot: %v", err)
	}
	path, kept := filepath.Join(p.dir, name), "deleted when the test ends; set PARLEY_TEST_ARTIFACTS=DIR to keep it"
	if dir := os.Getenv("PARLEY_TEST_ARTIFACTS"); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			p.t.Fatal(err)
		}
		path, kept = filepath.Join(dir, name), "kept: PARLEY_TEST_ARTIFACTS"
	}
	if err := os.WriteFile(path, png, 0o600); err != nil {
		p.t.Fatal(err)
	}
	p.t.Logf("screenshot of the test page: %s (%s)", path, kept)
}

func (p *browserPage) dumpLogs() {
	ctx, cancel := context.WithTimeout(p.ctx, 3*time.Second)
	defer cancel()
	if log, err := chromedp.Run(ctx, chromedp.Evaluate[string](`window.harness ? harness.log() : ""`)); err == nil {
		p.t.Logf("page log:\n%s", log)
	}
	lines := strings.Split(strings.TrimSpace(p.stderr.String()), "\n")
	p.t.Logf("chromium output (last lines):\n%s", strings.Join(lines[max(0, len(lines)-30):], "\n"))
}

// certSPKI is the base64 SHA-256 of the certificate's public key, what
// --ignore-certificate-errors-spki-list takes.
func certSPKI(t *testing.T, certPath string) string {
	t.Helper()
	b, err := os.ReadFile(certPath)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		t.Fatalf("%s: no PEM block", certPath)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// speechWAV is the fake microphone: 48 kHz mono 16-bit, speechReps bursts
// of a voiced sound (a buzz at pitch Hz with falling harmonics, 10 ms
// ramps) each followed by near silence (±1 LSB of dither from seed, so no
// encoder sees digital zero).
func speechWAV(pitch float64, seed uint64) []byte {
	const rate = 48000
	burst, gap := int(speechBurst.Seconds()*rate), int(speechGap.Seconds()*rate)
	ramp := rate / 100
	rng := rand.New(rand.NewPCG(seed, 2))
	var pcm []int16
	for range speechReps {
		for i := range burst {
			env := min(1, float64(i)/float64(ramp), float64(burst-i)/float64(ramp))
			v := 0.0
			for k := 1; k <= 8; k++ {
				v += math.Sin(2*math.Pi*pitch*float64(k*i)/rate) / float64(k)
			}
			pcm = append(pcm, int16(0.25*env*v*32767))
		}
		for range gap {
			pcm = append(pcm, int16(rng.IntN(3)-1))
		}
	}
	var b bytes.Buffer
	le := binary.LittleEndian
	b.WriteString("RIFF")
	_ = binary.Write(&b, le, uint32(36+2*len(pcm)))
	b.WriteString("WAVEfmt ")
	for _, v := range []any{uint32(16), uint16(1), uint16(1), uint32(rate), uint32(2 * rate), uint16(2), uint16(16)} {
		_ = binary.Write(&b, le, v) // PCM, mono, 48 kHz, 16-bit
	}
	b.WriteString("data")
	_ = binary.Write(&b, le, uint32(2*len(pcm)))
	_ = binary.Write(&b, le, pcm)
	return b.Bytes()
}

// identifyAs opens a raw gateway connection and identifies with c, as a
// client that could not resume would: the server ends c's session (the
// connection that held it is closed with 4006) and starts a new one. It
// returns once Ready arrived; the connection closes when the test ends.
func identifyAs(t *testing.T, env *voiceEnv, c creds) {
	t.Helper()
	ws, _, err := env.srv.Dialer().Dial("wss://"+env.srv.GatewayAddr()+"/?v=8", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ws.Close() })
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	id := voiceproto.Identify{ServerID: voiceproto.ID(c.GuildID), UserID: voiceproto.ID(c.UserID),
		SessionID: voiceproto.ID(c.SessionID), Token: c.Token}
	if err := ws.WriteJSON(voiceproto.Message{Op: voiceproto.OpIdentify, D: id}); err != nil {
		t.Fatal(err)
	}
	for {
		var m voiceproto.RawMessage
		if err := ws.ReadJSON(&m); err != nil {
			t.Fatalf("identify as %s: %v", c.UserID, err)
		}
		if m.Op == voiceproto.OpReady {
			return
		}
	}
}

// blockUDP drops every UDP datagram between local ports a and b, both
// ways, until the returned func (or the test's end) lifts it: a table of
// its own in nftables, so nothing else on the machine is touched. It needs
// nft (scripts/deps.sh installs it) and CAP_NET_ADMIN (root).
func blockUDP(t *testing.T, a, b int) (unblock func()) {
	t.Helper()
	nft, err := exec.LookPath("nft")
	if err != nil {
		nft = "/usr/sbin/nft" // not on a non-root PATH
	}
	table := fmt.Sprintf("parley_test_%d_%d", os.Getpid(), a)
	rules := fmt.Sprintf(`table inet %[1]s {
	chain input {
		type filter hook input priority 0; policy accept;
		udp sport %[2]d udp dport %[3]d drop
		udp sport %[3]d udp dport %[2]d drop
	}
}
`, table, a, b)
	cmd := exec.Command(nft, "-f", "-")
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		if bytes.Contains(out, []byte("Operation not permitted")) {
			t.Skipf("blocking a UDP flow needs CAP_NET_ADMIN: %s", out)
		}
		t.Fatalf("nft -f: %v: %s", err, out)
	}
	var once sync.Once
	unblock = func() {
		once.Do(func() {
			if out, err := exec.Command(nft, "delete", "table", "inet", table).CombinedOutput(); err != nil {
				t.Errorf("nft delete table %s: %v: %s", table, err, out)
			}
		})
	}
	t.Cleanup(unblock)
	return unblock
}

// encodeWAV has the browser's Opus encoder (WebCodecs) encode a WAV file
// (48 kHz mono, such as speechWAV's) as 20 ms frames.
func (p *browserPage) encodeWAV(name string, wav []byte) [][]byte {
	p.t.Helper()
	if err := os.WriteFile(filepath.Join(p.rec, name), wav, 0o600); err != nil {
		p.t.Fatal(err)
	}
	b64 := eval[[]string](p, 20*time.Second, fmt.Sprintf(`harness.encodeWAV("/rec/%s")`, name))
	out := make([][]byte, len(b64))
	for i, s := range b64 {
		var err error
		if out[i], err = base64.StdEncoding.DecodeString(s); err != nil {
			p.t.Fatal(err)
		}
	}
	return out
}

// analysis is harness.analyse: energy per 20 ms (dBFS) and the median
// pitch of the loud windows.
type analysis struct {
	Envelope []float64 `json:"envelope"`
	Pitch    float64   `json:"pitch"`
}

// analyse has the browser decode frames (as an Ogg Opus file served from
// /rec/) and measure them.
func (p *browserPage) analyse(name string, frames [][]byte) analysis {
	p.t.Helper()
	var buf bytes.Buffer
	if err := ogg.Write(&buf, frames); err != nil {
		p.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(p.rec, name), buf.Bytes(), 0o600); err != nil {
		p.t.Fatal(err)
	}
	return eval[analysis](p, 20*time.Second, fmt.Sprintf(`harness.analyse("/rec/%s")`, name))
}
