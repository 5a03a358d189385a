package interop

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	"github.com/parleyhq/parley/internal/testkit"
)

// webPage is one person's browser on the web client: its own Chromium
// (profile, fake microphone), its first tab on the page. Every console
// error or warning and every uncaught exception of the page is kept, and
// fails the test (checkConsole). Its methods fail t.
type webPage struct {
	t      *testing.T
	name   string // whose browser: "alice"
	url    string // the page's first URL
	ctx    context.Context
	stderr *testkit.SyncBuffer
	shots  *screenshots // where a failure's screenshot goes, if set

	mu       sync.Mutex
	problems []string // console errors, warnings, exceptions; +checklocks:mu
	expected string   // while set, the browser's own network errors are expected (a drop); +checklocks:mu
	checked  int      // problems already reported; +checklocks:mu
}

// chromiumNoise matches the lines of Chromium's output that say nothing
// about the test: no D-Bus in a container, and Debian's wrapper script.
var chromiumNoise = regexp.MustCompile(`(?m)^.*(dbus/|/usr/bin/chromium: ).*\n`)

// webBrowser is how openWebPage starts a person's browser.
type webBrowser struct {
	name     string // whose: "alice"
	url      string // the page to open
	certPath string // the server's certificate, trusted by its SPKI hash
	wav      []byte // the fake microphone (speechWAV)
	proxy    string // with a URL, every connection goes through that HTTP proxy (loopback too)
	camera   string // with a path, the fake camera plays that .y4m clip (makeY4M)
}

// openWebPage starts a browser and opens its page.
func openWebPage(t *testing.T, b webBrowser) *webPage {
	t.Helper()
	p := &webPage{t: t, name: b.name, url: b.url}
	c := chromium{dir: t.TempDir(), certPath: b.certPath, wav: b.wav, width: 1100, height: 720}
	if b.proxy != "" {
		c.flags = []chromedp.ExecAllocatorOption{chromedp.ProxyServer(b.proxy), chromedp.Flag("proxy-bypass-list", "<-loopback>")}
	}
	if b.camera != "" {
		c.flags = append(c.flags, chromedp.Flag("use-file-for-fake-video-capture", b.camera))
	}
	p.ctx, p.stderr = startChromium(t, c)
	consoleCtx, stop := context.WithCancel(p.ctx)
	messages := chromedp.Console(consoleCtx) // subscribed now: before the page loads
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range messages {
			if err != nil {
				return
			}
			p.note(m)
		}
	}()
	t.Cleanup(func() {
		stop()
		<-done
		if t.Failed() {
			t.Logf("%s's browser output (last lines, D-Bus noise left out):\n%s", b.name, tail(chromiumNoise.ReplaceAllString(p.stderr.String(), ""), 30))
		}
	})
	p.navigate(b.url)
	return p
}

// note keeps a console message that is a problem.
func (p *webPage) note(m chromedp.ConsoleMessage) {
	switch m.Type {
	case chromedp.ConsoleError, chromedp.ConsoleWarning, chromedp.ConsoleException:
	default:
		return
	}
	where := m.URL
	if m.Line > 0 {
		where += fmt.Sprintf(":%d", m.Line+1)
	}
	s := fmt.Sprintf("%s %s (%s)", m.Type, m.Text, where)
	if m.Source != "" {
		s = fmt.Sprintf("%s [browser log, %s] %s (%s)", m.Type, m.Source, m.Text, where)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.expected != "" && m.Source == "network" {
		p.t.Logf("%s's browser during %s (expected): %s", p.name, p.expected, s)
		return
	}
	p.problems = append(p.problems, s)
}

// expectNetworkErrors marks the browser's own network errors as expected
// (step names why) until the returned func is called.
func (p *webPage) expectNetworkErrors(step string) (end func()) {
	p.mu.Lock()
	p.expected = step
	p.mu.Unlock()
	return func() {
		p.mu.Lock()
		p.expected = ""
		p.mu.Unlock()
	}
}

// checkConsole fails the test with the console problems that came since
// the last check, naming the step.
func (p *webPage) checkConsole(step string) {
	p.t.Helper()
	p.mu.Lock()
	fresh := p.problems[p.checked:]
	p.checked = len(p.problems)
	p.mu.Unlock()
	if len(fresh) > 0 {
		p.t.Errorf("%s: %s's page wrote %d console errors, warnings or exceptions:\n  %s",
			step, p.name, len(fresh), strings.Join(fresh, "\n  "))
	}
}

// fatalf keeps a screenshot of the page (FAILED-name.png, beside the
// story's) and fails the test.
func (p *webPage) fatalf(format string, args ...any) {
	p.t.Helper()
	if p.shots != nil {
		ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
		png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		cancel()
		if err == nil {
			path := filepath.Join(p.shots.dir, "FAILED-"+p.name+".png")
			if os.WriteFile(path, png, 0o644) == nil {
				p.t.Logf("%s's page when the step failed: %s", p.name, path)
			}
		}
	}
	p.t.Fatalf(format, args...)
}

// navigate opens url and waits for the document.
func (p *webPage) navigate(url string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		p.t.Fatalf("%s's browser: open %s: %v\n%s", p.name, url, err, tail(p.stderr.String(), 20))
	}
}

// reload reloads the page and waits for the document.
func (p *webPage) reload() {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Reload()); err != nil {
		p.t.Fatalf("%s's browser: reload: %v", p.name, err)
	}
}

// do runs actions on the page, failing the step (what) after timeout.
func (p *webPage) do(timeout time.Duration, what string, actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, timeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		p.fatalf("%s, in %s's browser: %v", what, p.name, err)
	}
}

// click clicks the first element sel matches, once it is visible.
func (p *webPage) click(sel, what string) {
	p.t.Helper()
	p.do(10*time.Second, what, chromedp.Click(chromedp.CSS(sel)))
}

// typeInto types text into the first element sel matches, with key
// events, as a person types.
func (p *webPage) typeInto(sel, text, what string) {
	p.t.Helper()
	p.do(10*time.Second, what, chromedp.SendKeys(chromedp.CSS(sel), text))
}

// fill empties the field sel matches and types text into it.
func (p *webPage) fill(sel, text, what string) {
	p.t.Helper()
	// chromedp.SetValue refuses "" (it checks the value it set is truthy).
	clear := chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Evaluate[bool](fmt.Sprintf(`(e => !!e && (e.value = '', true))(document.querySelector(%s))`, q(sel)))(ctx, t)
		return err
	})
	p.do(10*time.Second, what, clear, chromedp.SendKeys(chromedp.CSS(sel), text))
}

// pressEnter presses Enter in the first element sel matches: a keydown and
// a keyup and no character, as a page that acts on keydown and cancels
// its default sees a person's Enter (chromedp's SendKeys would add a
// character event that types a newline after the page cleared the field).
func (p *webPage) pressEnter(sel, what string) {
	p.t.Helper()
	enter := chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		for _, typ := range []input.DispatchKeyEventType{input.DispatchKeyEventTypeRawKeyDown, input.DispatchKeyEventTypeKeyUp} {
			if _, err := cdp.Call(ctx, t, input.DispatchKeyEvent, input.DispatchKeyEventParams{
				Type: typ, Key: "Enter", Code: "Enter", WindowsVirtualKeyCode: 13, NativeVirtualKeyCode: 13,
			}); err != nil {
				return err
			}
		}
		return nil
	})
	p.do(10*time.Second, what, chromedp.Focus(chromedp.CSS(sel)), enter)
}

// until waits for a JavaScript condition, failing the step (what).
func (p *webPage) until(timeout time.Duration, cond, what string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, timeout)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](cond, chromedp.WithPollingInterval(20*time.Millisecond))); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("not within %v", timeout)
		}
		p.fatalf("%s, in %s's browser: %v (waiting for %s)", what, p.name, err, cond)
	}
}

// pageEval evaluates expr in p's page, awaiting a promise, and decodes its
// value.
func pageEval[T any](p *webPage, expr string) T {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		p.t.Fatalf("%s's page: %.100s: %v", p.name, expr, err)
	}
	return v
}

// heard is window.parley.heard(): per user id, the audio energy the page
// played since it joined.
func (p *webPage) heard() map[string]float64 {
	p.t.Helper()
	return pageEval[map[string]float64](p, `window.parley.heard()`)
}

// screenshots keeps a PNG of each browser after each state of the story,
// numbered in order, in dir.
type screenshots struct {
	t     *testing.T
	dir   string
	n     int
	start time.Time // the story's, for the log
}

// take saves a screenshot of each page (NN-state-name.png) and checks
// their consoles.
func (s *screenshots) take(state string, pages ...*webPage) {
	s.t.Helper()
	s.n++
	s.t.Logf("state %d, %s, at %v", s.n, state, time.Since(s.start).Round(100*time.Millisecond))
	for _, p := range pages {
		ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
		png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		cancel()
		if err != nil {
			s.t.Fatalf("screenshot of %s's browser (%s): %v", p.name, state, err)
		}
		name := fmt.Sprintf("%02d-%s-%s.png", s.n, state, p.name)
		if err := os.WriteFile(filepath.Join(s.dir, name), png, 0o644); err != nil {
			s.t.Fatal(err)
		}
		p.checkConsole(state)
	}
}
