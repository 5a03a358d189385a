package chat_test

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestLayers fences the direction of chat's imports: transports (gateway,
// rest) → service → store → model. Only chat itself (the composition in
// server.go) sees every package. Test files are not checked.
func TestLayers(t *testing.T) {
	const chat = "github.com/parleyhq/parley/chat"
	allowed := map[string][]string{
		"model":      {},
		"registry":   {},
		"store":      {"model"},
		"voicestate": {"model"},
		"service":    {"model", "store", "voicestate", "registry"},
		"gateway":    {"model"},
		"rest":       {"model", "service", "store"},
	}
	for pkg, ok := range allowed {
		files, err := filepath.Glob(filepath.Join(pkg, "*.go"))
		if err != nil || len(files) == 0 {
			t.Fatalf("%s: no files (%v)", pkg, err)
		}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			af, err := parser.ParseFile(token.NewFileSet(), f, src, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			for _, imp := range af.Imports {
				path, _ := strconv.Unquote(imp.Path.Value)
				sub, inChat := strings.CutPrefix(path, chat+"/")
				if inChat && !slices.Contains(ok, sub) {
					t.Errorf("%s imports chat/%s; chat/%s may import only %v", f, sub, pkg, ok)
				}
			}
		}
	}
}
