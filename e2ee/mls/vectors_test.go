package mls

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// vectorsDir finds ../shared/testvectors/mls relative to the module root.
// The vectors are part of the workplace: a missing directory fails the
// test rather than skipping it.
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
		t.Fatalf("MLS test vectors missing at %s: %v", v, err)
	}
	return v
}

var vectorsRoot string

// loadVectors reads a vector file into into, a pointer to a slice. When
// the cases carry a CipherSuite field, only those for Parley's suite are
// kept. A file that yields no case fails the test: a vector test that
// finds no vector must not pass.
func loadVectors(t testing.TB, name string, into any) {
	t.Helper()
	if vectorsRoot == "" {
		vectorsRoot = vectorsDir(t)
	}
	b, err := os.ReadFile(filepath.Join(vectorsRoot, name))
	if err != nil {
		t.Fatalf("read vectors: %v", err)
	}
	if err := json.Unmarshal(b, into); err != nil {
		t.Fatalf("parse %s: %v", name, err)
	}
	cases := reflect.ValueOf(into).Elem()
	total := cases.Len()
	if cases.Type().Elem().Kind() == reflect.Struct {
		if _, ok := cases.Type().Elem().FieldByName("CipherSuite"); ok {
			kept := reflect.MakeSlice(cases.Type(), 0, total)
			for i := range total {
				if c := cases.Index(i); c.FieldByName("CipherSuite").Uint() == uint64(CipherSuite) {
					kept = reflect.Append(kept, c)
				}
			}
			cases.Set(kept)
		}
	}
	if cases.Len() == 0 {
		t.Fatalf("%s: none of its %d cases is for cipher suite %d; the test would check nothing", name, total, CipherSuite)
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
