package interop

import (
	"context"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/parleyhq/parley/chat"
	"github.com/parleyhq/parley/chat/store"
	"github.com/parleyhq/parley/internal/datadir"
	"github.com/parleyhq/parley/internal/testkit"
	"github.com/parleyhq/parley/web"
)

// TestBrowserWebOrigin: Chromium loads the page from the web origin over
// HTTP/2, and the page reaches chat on the same origin: GET
// /api/v10/gateway, then a WebSocket to the URL it names, which says
// Hello (a WebSocket beside an HTTP/2 page goes over HTTP/1.1, where the
// gateway adopts it), with no Content-Security-Policy violation; a
// connection to another origin is a violation.
func TestBrowserWebOrigin(t *testing.T) {
	chrome, err := exec.LookPath("chromium")
	if err != nil {
		missingClient(t, "chromium not on PATH (Debian's chromium package; scripts/deps.sh installs it)")
	}
	dir := t.TempDir()
	d, err := datadir.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	tcfg, err := d.TLSConfig("", "")
	if err != nil {
		t.Fatal(err)
	}
	log := testLogger(t)
	cs, err := chat.New(chat.Config{Store: store.Config{SQLitePath: filepath.Join(dir, "chat.db")}, PasswordIterations: 1000, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	closeWith := func(c func(context.Context) error) func() {
		return func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = c(ctx)
		}
	}
	t.Cleanup(closeWith(cs.Close))
	if err := cs.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	o, err := web.New(web.Config{TLS: tcfg, API: cs.API, Gateway: cs.Gateway, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(closeWith(o.Close))
	if err := o.Start(context.Background()); err != nil {
		t.Fatal(err)
	}

	stderr := &testkit.SyncBuffer{}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chrome),
		chromedp.UserDataDir(filepath.Join(t.TempDir(), "profile")),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.CombinedOutput(stderr),
		chromedp.Flag("headless", "new"),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("ignore-certificate-errors-spki-list", certSPKI(t, d.CertPath())),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-breakpad", true),
		chromedp.Flag("disable-dev-shm-usage", true),
	)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("chromium:\n%s", stderr)
		}
		cancelTab()
		cancelAlloc()
	})
	run, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	type result struct {
		Proto      string   `json:"proto"`
		URL        string   `json:"url"`
		Op         int      `json:"op"`
		Title      string   `json:"title"`
		Violations []string `json:"violations"`
	}
	if _, err := chromedp.Run(run, chromedp.Navigate("https://"+o.Addr()+"/channels/1/2")); err != nil {
		t.Fatalf("open the page: %v", err)
	}
	got, err := chromedp.Run(run, chromedp.Evaluate[result](`(async () => {
			const violations = [];
			document.addEventListener('securitypolicyviolation', e => violations.push(e.violatedDirective + ' ' + e.blockedURI));
			const proto = performance.getEntriesByType('navigation')[0].nextHopProtocol;
			const g = await (await fetch('/api/v10/gateway')).json();
			const hello = await new Promise((resolve, reject) => {
				const ws = new WebSocket(g.url + '?v=10&encoding=json');
				ws.onmessage = m => { resolve(JSON.parse(m.data)); ws.close(1000); };
				ws.onerror = () => reject(new Error('WebSocket error'));
			});
			const clean = violations.length;
			await fetch('https://elsewhere.invalid/').catch(() => {});
			await new Promise(r => setTimeout(r, 0));
			return {proto, url: g.url, op: hello.op, title: document.title,
				violations: clean ? violations : violations.map(v => 'after: ' + v)};
		})()`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("page: %v", err)
	}
	if got.Proto != "h2" || got.URL != "wss://"+o.Addr()+"/gateway" || got.Op != 10 || !strings.HasSuffix(got.Title, "Parley") {
		t.Fatalf("page saw %+v", got)
	}
	if !slices.ContainsFunc(got.Violations, func(v string) bool { return strings.HasPrefix(v, "after: connect-src") }) ||
		slices.ContainsFunc(got.Violations, func(v string) bool { return !strings.HasPrefix(v, "after: ") }) {
		t.Fatalf("policy violations %q: want only the other origin's connect-src", got.Violations)
	}
}
