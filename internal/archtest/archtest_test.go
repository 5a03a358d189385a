package archtest

import (
	"encoding/json"
	"go/parser"
	"go/token"
	"io"
	"os"
	"os/exec"
	"path/filepath"
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
	out, err := exec.Command("go", "list", "-f", "{{.Dir}}", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
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
	Deps       []string
	CgoFiles   []string
}

// TestDependencyFences keeps the layers apart.
func TestDependencyFences(t *testing.T) {
	cmd := exec.Command("go", "list", "-json", "./...")
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
	const mod = "github.com/parleyhq/parley/"
	rules := []struct {
		from      string // package path prefix inside the module
		forbidden []string
	}{
		{"chat", []string{"github.com/pion/", mod + "sfu"}},
		{"signaling", []string{"github.com/pion/webrtc", "github.com/davidbyttow/govips", mod + "chat"}},
		{"mediaproxy", []string{"github.com/pion/", mod + "sfu", mod + "signaling"}},
		{"sfu", []string{"github.com/davidbyttow/govips", mod + "signaling", mod + "chat", mod + "mediaproxy"}},
		{"e2ee", []string{"github.com/davidbyttow/govips", mod + "chat", mod + "mediaproxy"}},
	}
	for _, p := range pkgs {
		rel := strings.TrimPrefix(p.ImportPath, mod)
		for _, r := range rules {
			if rel != r.from && !strings.HasPrefix(rel, r.from+"/") {
				continue
			}
			for _, d := range p.Deps {
				for _, f := range r.forbidden {
					if strings.HasPrefix(d, f) {
						t.Errorf("%s imports %s (fence: %s must not depend on %s)", p.ImportPath, d, r.from, f)
					}
				}
			}
			if r.from == "sfu" && len(p.CgoFiles) > 0 {
				t.Errorf("%s uses cgo; sfu must stay pure Go", p.ImportPath)
			}
		}
	}
}
