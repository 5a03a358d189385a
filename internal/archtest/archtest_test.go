package archtest

import (
	"encoding/json"
	"go/parser"
	"go/token"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func repoRoot(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}").Output()
	if err != nil {
		t.Fatalf("go list -m: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// TestPackageDocs fails for any package without a package comment, or with
// more than one file carrying one.
func TestPackageDocs(t *testing.T) {
	root := repoRoot(t)
	list := exec.Command("go", "list", "-f", "{{.Dir}}", "./...")
	list.Dir = root
	out, err := list.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	if n := len(strings.Fields(string(out))); n < 20 {
		t.Fatalf("go list found %d packages: the check would be vacuous", n)
	}
	for _, dir := range strings.Fields(string(out)) {
		fset := token.NewFileSet()
		pkgs, err := parser.ParseDir(fset, dir, func(fi os.FileInfo) bool {
			return !strings.HasSuffix(fi.Name(), "_test.go")
		}, parser.ParseComments|parser.PackageClauseOnly)
		if err != nil {
			t.Errorf("%s: %v", dir, err)
			continue
		}
		for name, p := range pkgs {
			var docs []string
			for fname, f := range p.Files {
				if f.Doc != nil && strings.TrimSpace(f.Doc.Text()) != "" {
					docs = append(docs, filepath.Base(fname))
				}
			}
			rel, _ := filepath.Rel(root, dir)
			switch {
			case len(docs) == 0:
				t.Errorf("package %s (%s) has no package doc comment", name, rel)
			case len(docs) > 1:
				t.Errorf("package %s (%s) has package doc comments in %d files: %v", name, rel, len(docs), docs)
			}
		}
	}
}

type goPkg struct {
	ImportPath string
	Imports    []string // direct
	Deps       []string // transitive
	CgoFiles   []string
}

const mod = "github.com/parleyhq/parley/"

// Third-party modules the fences name.
const (
	pion   = "github.com/pion/"
	govips = "github.com/davidbyttow/govips"
	etcd   = "go.etcd.io/"
)

// components are the module's top-level packages, in no particular order:
// the fences below, not a position in this list, say which may depend on
// which (doc.go draws the layers).
var components = []string{"sfu", "signaling", "voiceproto", "voiceclient", "voicenode", "chat", "mediaproxy", "e2ee", "web", "fleet", "bench", "cmd", "interop", "internal"}

// except returns the components other than keep, as module paths.
func except(keep ...string) []string {
	var out []string
	for _, c := range components {
		if !slices.Contains(keep, c) {
			out = append(out, mod+c)
		}
	}
	return out
}

// chatExcept returns chat's packages other than keep, as module paths.
func chatExcept(keep ...string) []string {
	var out []string
	for _, p := range []string{"model", "store", "voicestate", "registry", "service", "gateway", "rest"} {
		if !slices.Contains(keep, p) {
			out = append(out, mod+"chat/"+p)
		}
	}
	return append(out, mod+"chat$") // the composition root (exactly) is above them all
}

// transitive fences: a package under from must not depend (directly or
// through others) on any of forbidden.
var transitive = []struct {
	from      string
	forbidden []string
	why       string
}{
	{"e2ee", append(except("e2ee"), pion, govips), "MLS and DAVE are the ground floor: they know no transport"},
	{"voiceproto", append(except("voiceproto", "e2ee"), pion, govips, "github.com/gorilla/"),
		"the wire protocol is pure: no I/O, used by every end"},
	{"sfu", append(except("sfu", "voiceproto", "e2ee", "internal"), govips),
		"the media plane knows no gateway, chat, client or composition"},
	{"signaling", append(except("signaling", "voiceproto", "e2ee", "internal"), pion, govips),
		"the gateway reaches the SFU through its consumer-defined Media interface and hands SDP to it as strings"},
	{"voiceclient", append(except("voiceclient", "voiceproto", "e2ee", "internal"), govips),
		"the client shares the protocol with the server, not its code"},
	{"voicenode", append(except("voicenode", "sfu", "signaling", "voiceproto", "e2ee", "internal"), govips),
		"a voice node composes the SFU and the gateway, nothing else"},
	{"chat", append(except("chat", "internal"), pion, govips),
		"chat reaches voice only through internal/voicectl and voicetoken"},
	{"mediaproxy", append(except("mediaproxy", "internal"), pion), "the media proxy stands alone"},
	{"web", append(except("web", "internal"), pion, govips), "the web origin serves the handlers the binary gives it: it imports no component"},
	{"fleet", append(except("fleet", "internal"), pion, govips),
		"the fleet registry knows the voicectl contract and etcd, no component: the binary wires it to chat and the voice node"},
	{"chat/model", chatExcept("model"), "chat's model is its ground floor"},
	{"chat/store", chatExcept("store", "model"), "chat's store knows only the model"},
	{"chat/voicestate", chatExcept("voicestate", "model"), "voice states know only the model"},
	{"chat/service", chatExcept("service", "store", "model", "voicestate", "registry"), "chat's domain layer does not know its transports"},
	{"chat/gateway", chatExcept("gateway", "model"), "the gateway reaches the service through its consumer-defined Backend"},
	{"chat/rest", chatExcept("rest", "service", "store", "model", "voicestate", "registry"), "REST is a transport beside the gateway"},
	{"internal", except("internal"), "internal holds leaf helpers: nothing below a component imports it"},
}

// testkit is the test kit, which only tests may import (TestDependencyFences).
const testkit = mod + "internal/testkit"

// testkitAllowed reports whether p's non-test code may depend on the test
// kit: the kit itself, and test-support packages (their non-test code
// imports "testing", as internal/testpg and voicenode/voicenodetest do,
// so no binary can link them anyway).
func testkitAllowed(p goPkg) bool {
	return p.ImportPath == testkit || slices.Contains(p.Imports, "testing")
}

// direct fences: only the listed packages may import a module directly.
var direct = []struct {
	dep     string
	allowed []string
	why     string
}{
	{pion, []string{"sfu", "voiceclient", "bench"}, "pion is the WebRTC transport of the SFU, the Go client and the bench"},
	{mod + "bench", []string{"bench", "cmd"}, "the load harness is a leaf of the binary"},
	{mod + "voicenode", []string{"cmd", "bench", "interop"}, "the voice node is composed only by the binary (and the bench's in-process target)"},
	{mod + "fleet", []string{"cmd"}, "the fleet registry is composed only by the binary"},
	{etcd, []string{"fleet"}, "etcd is the fleet registry's store; nothing else talks to it"},
}

// matches reports whether package path d is f or lies under it; f ending
// in "$" matches exactly.
func matches(d, f string) bool {
	if exact, ok := strings.CutSuffix(f, "$"); ok {
		return d == exact
	}
	return d == f || strings.HasPrefix(d, strings.TrimSuffix(f, "/")+"/")
}

func under(pkg, prefix string) bool {
	rel := strings.TrimPrefix(pkg, mod)
	return rel == prefix || strings.HasPrefix(rel, prefix+"/")
}

func listPackages(t *testing.T) []goPkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-json", "./...")
	cmd.Dir = repoRoot(t) // not this package's folder: the whole module
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var pkgs []goPkg
	dec := json.NewDecoder(stdout)
	for {
		var p goPkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	// A fence test that sees only a few packages passes vacuously (it
	// once listed only its own folder).
	var seen []string
	for _, c := range []string{"sfu", "signaling", "voiceproto", "voiceclient", "voicenode", "chat", "mediaproxy", "e2ee/mls", "web", "cmd/parley"} {
		if !slices.ContainsFunc(pkgs, func(p goPkg) bool { return p.ImportPath == mod+c }) {
			seen = append(seen, c)
		}
	}
	if len(seen) > 0 {
		t.Fatalf("go list did not see %v: the fences would check nothing", seen)
	}
	return pkgs
}

// TestDependencyFences keeps the layers apart: arrows point one way.
func TestDependencyFences(t *testing.T) {
	pkgs := listPackages(t)
	for _, p := range pkgs {
		for _, r := range transitive {
			if !under(p.ImportPath, r.from) {
				continue
			}
			for _, d := range p.Deps {
				for _, f := range r.forbidden {
					if matches(d, f) {
						t.Errorf("%s depends on %s (fence: %s must not depend on %s: %s)", p.ImportPath, d, r.from, f, r.why)
					}
				}
			}
		}
		for _, r := range direct {
			for _, d := range p.Imports {
				if d != r.dep && !strings.HasPrefix(d, strings.TrimSuffix(r.dep, "/")+"/") {
					continue
				}
				ok := false
				for _, a := range r.allowed {
					ok = ok || under(p.ImportPath, a)
				}
				if !ok && !under(p.ImportPath, strings.TrimPrefix(r.dep, mod)) {
					t.Errorf("%s imports %s (only %v may: %s)", p.ImportPath, d, r.allowed, r.why)
				}
			}
		}
		if slices.Contains(p.Deps, testkit) && !testkitAllowed(p) {
			t.Errorf("%s depends on %s outside its tests (only tests and test-support packages may: goleak and friends stay out of the binary)", p.ImportPath, testkit)
		}
		if len(p.CgoFiles) > 0 && !under(p.ImportPath, "mediaproxy") {
			t.Errorf("%s uses cgo; only mediaproxy may (libvips)", p.ImportPath)
		}
	}
}

// TestFencesHaveTeeth checks the fence matcher on paths that must and
// must not match, so a typo in a rule cannot silently pass everything.
func TestFencesHaveTeeth(t *testing.T) {
	if !under(mod+"chat/service", "chat") || under(mod+"chatter", "chat") || !under(mod+"chat", "chat") {
		t.Fatal("under() matches wrongly")
	}
	for _, tt := range []struct {
		d, f string
		want bool
	}{
		{mod + "chat/model", mod + "chat$", false}, {mod + "chat", mod + "chat$", true},
		{mod + "chat/model", mod + "chat", true}, {mod + "chatter", mod + "chat", false},
		{pion + "webrtc/v4", pion, true}, {"github.com/pionx/y", pion, false},
	} {
		if matches(tt.d, tt.f) != tt.want {
			t.Errorf("matches(%s, %s) = %v", tt.d, tt.f, !tt.want)
		}
	}
	for _, tt := range []struct {
		p    goPkg
		want bool
	}{
		{goPkg{ImportPath: mod + "sfu", Deps: []string{testkit}}, false},
		{goPkg{ImportPath: mod + "voicenode/voicenodetest", Imports: []string{"testing"}}, true},
		{goPkg{ImportPath: testkit, Imports: []string{"testing"}}, true},
	} {
		if testkitAllowed(tt.p) != tt.want {
			t.Errorf("testkitAllowed(%s) = %v", tt.p.ImportPath, !tt.want)
		}
	}
	for _, c := range components {
		if len(except(c)) != len(components)-1 {
			t.Fatalf("except(%s) removed %d components", c, len(components)-len(except(c)))
		}
	}
}
