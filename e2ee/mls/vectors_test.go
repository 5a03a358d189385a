package mls

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// vectorsDir finds ../shared/testvectors/mls relative to the module root.
func vectorsDir(t testing.TB) string {
	t.Helper()
	dir := ""
	if out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}").Output(); err == nil {
		dir = strings.TrimSpace(string(out))
	}
	if dir == "" {
		wd, _ := os.Getwd()
		for d := wd; d != filepath.Dir(d); d = filepath.Dir(d) {
			if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
				dir = d
				break
			}
		}
	}
	v := filepath.Join(dir, "..", "shared", "testvectors", "mls")
	if _, err := os.Stat(v); err != nil {
		if os.Getenv("PARLEY_INTEROP") == "1" {
			t.Fatalf("MLS test vectors missing at %s (PARLEY_INTEROP=1): %v", v, err)
		}
		t.Skipf("MLS test vectors not found at %s; set PARLEY_INTEROP=1 to require them", v)
	}
	return v
}

var vectorsRoot string

func loadVectors(t testing.TB, name string, into any) {
	t.Helper()
	if vectorsRoot == "" {
		vectorsRoot = vectorsDir(t)
	}
	b, err := os.ReadFile(filepath.Join(vectorsRoot, name))
	if err != nil {
		if os.Getenv("PARLEY_INTEROP") == "1" {
			t.Fatalf("read vectors: %v", err)
		}
		t.Skipf("vectors %s unavailable: %v", name, err)
	}
	if err := json.Unmarshal(b, into); err != nil {
		t.Fatalf("parse %s: %v", name, err)
	}
}

// hexBytes decodes hex JSON strings; null stays nil.
type hexBytes []byte

func (h *hexBytes) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*h = nil
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := hex.DecodeString(s)
	if err != nil {
		return err
	}
	if v == nil {
		v = []byte{}
	}
	*h = v
	return nil
}

func eq(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		t.Fatalf("%s:\n got %x\nwant %x", what, got, want)
	}
}

func mustNoErr(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
