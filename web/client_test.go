package web

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestClientModules runs the web client's pure-logic unit tests
// (web/app/*.test.js: the gateway state machine, the store and unread
// marks, the voice requests and rejoins, Markdown, URL building, API
// errors, the E2EE panel's texts), voice.js's DAVE routing
// (web/voice/*.test.js) and the DAVE module's (web/dave/*.test.js: the
// real dave.wasm, which `make web` builds; without it they skip, or fail
// under PARLEY_INTEROP) in Node. It skips without node unless
// PARLEY_INTEROP is set (make test), where it fails.
func TestClientModules(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("PARLEY_INTEROP") != "" {
			t.Fatal("node not on PATH (scripts/deps.sh installs it)")
		}
		t.Skip("node not on PATH")
	}
	files, err := filepath.Glob(filepath.Join("app", "*.test.js"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no app/*.test.js (%v)", err)
	}
	voice, err := filepath.Glob(filepath.Join("voice", "*.test.js"))
	if err != nil || len(voice) == 0 {
		t.Fatalf("no voice/*.test.js (%v)", err)
	}
	files = append(files, voice...)
	daveTests, err := filepath.Glob(filepath.Join("dave", "*.test.js"))
	if err != nil || len(daveTests) == 0 {
		t.Fatalf("no dave/*.test.js (%v)", err)
	}
	files = append(files, daveTests...)
	if _, err := os.Stat(filepath.Join("dave", "dave.wasm")); err != nil {
		if os.Getenv("PARLEY_INTEROP") != "" {
			t.Fatal("web/dave/dave.wasm is missing: `make web` builds it (make test does)")
		}
		t.Log("web/dave/dave.wasm is missing (`make web` builds it): the DAVE module's tests skip")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, node, append([]string{"--test"}, files...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("node --test %s: %v\n%s", strings.Join(files, " "), err, out)
	}
}

// TestPageContract holds the page to what a strict Content-Security-Policy
// allows and to the DOM hooks the end-to-end test and assistive tech use.
func TestPageContract(t *testing.T) {
	html, err := os.ReadFile("index.html")
	if err != nil {
		t.Fatal(err)
	}
	page := string(html)
	for _, hook := range []string{
		`id="auth"`, `name="username"`, `name="password"`, `data-action="login"`, `data-action="register"`, `role="alert"`,
		`id="app"`, `id="messages"`, `role="log"`, `aria-live="polite"`, `id="typing"`, `id="composer"`, `<textarea`,
		`type="file" multiple`, `id="voice-controls"`, `data-action="mute"`, `data-action="deafen"`,
		`data-action="leave-voice"`, `data-action="camera"`, `id="video-grid"`, `name="input-device"`, `name="output-device"`, `data-action="logout"`,
		`id="status"`, `id="lightbox"`,
	} {
		if !strings.Contains(page, hook) {
			t.Errorf("index.html lacks %s", hook)
		}
	}
	// No inline script or style: everything comes from /app/.
	for _, re := range []*regexp.Regexp{
		regexp.MustCompile(`(?i)<script(?:\s[^>]*)?>\s*[^<\s]`), // a script with a body
		regexp.MustCompile(`(?i)\sstyle\s*=`),
		regexp.MustCompile(`(?i)<style`),
		regexp.MustCompile(`(?i)\son[a-z]+\s*=`),
		regexp.MustCompile(`(?i)(src|href)="https?:`),
	} {
		if m := re.FindString(page); m != "" {
			t.Errorf("index.html: %q is refused by the page's CSP or fetches from elsewhere", m)
		}
	}
	// The policy lets the DAVE module compile (WebAssembly only, never
	// eval) and its workers load from the origin, and nothing more.
	directives := map[string]string{}
	for _, d := range strings.Split((&Files{}).policy("example.test"), ";") {
		name, val, _ := strings.Cut(strings.TrimSpace(d), " ")
		directives[name] = val
	}
	for name, want := range map[string]string{
		"default-src": "'self'", "script-src": "'self' 'wasm-unsafe-eval'", "worker-src": "'self'", "object-src": "'none'",
	} {
		if got := directives[name]; got != want {
			t.Errorf("policy %s %q, want %q", name, got, want)
		}
	}
	// User content is text: the modules never parse HTML; the DAVE
	// modules (not Go's own wasm_exec.js) never eval either.
	mods, _ := filepath.Glob(filepath.Join("app", "*.js"))
	daveMods, _ := filepath.Glob(filepath.Join("dave", "*.js"))
	for _, f := range daveMods {
		if filepath.Base(f) != "wasm_exec.js" {
			mods = append(mods, f)
		}
	}
	bad := regexp.MustCompile(`innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function\(|setAttribute\(\s*'style'`)
	for _, f := range mods {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if m := bad.FindString(string(b)); m != "" {
			t.Errorf("%s uses %s", f, m)
		}
	}
}
