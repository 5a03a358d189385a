package service

import (
	"bytes"
	"encoding/json"
	"testing"
	"unicode/utf8"
)

// FuzzCheckNonce: an accepted nonce is valid JSON, a string of at most
// MaxNonce characters or an integer of at most MaxNonce digits, and is
// accepted again unchanged.
func FuzzCheckNonce(f *testing.F) {
	for _, s := range []string{`"abc"`, `123`, `-5`, `null`, ``, `1.5`, `1e3`, `"\u00e9"`, `" x "`, ` 7 `, `[]`, `{}`, `"12345678901234567890123456"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		n, err := checkNonce(raw)
		if err != nil || n == nil {
			return
		}
		if !json.Valid(n) {
			t.Fatalf("checkNonce(%q) = %q, not JSON", raw, n)
		}
		var s string
		if json.Unmarshal(n, &s) == nil {
			if utf8.RuneCountInString(s) > MaxNonce {
				t.Fatalf("checkNonce(%q) = %q: %d characters", raw, n, utf8.RuneCountInString(s))
			}
		} else if len(n) > MaxNonce || bytes.ContainsAny(n, ".eE") {
			t.Fatalf("checkNonce(%q) = %q: not a short integer", raw, n)
		}
		if again, err := checkNonce(n); err != nil || !bytes.Equal(again, n) {
			t.Fatalf("checkNonce(%q) = %q, which gives %q, %v", raw, n, again, err)
		}
	})
}

// FuzzCheckEmbeds: accepted embeds are a JSON list of at most MaxEmbeds
// within MaxEmbedBytes, accepted again unchanged.
func FuzzCheckEmbeds(f *testing.F) {
	for _, s := range []string{`[]`, `null`, ``, `[{"title":"t"}]`, `[1,2]`, `{}`, `[` + string(bytes.Repeat([]byte(`{},`), 10)) + `{}]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		e, err := checkEmbeds(raw)
		if err != nil {
			return
		}
		var list []json.RawMessage
		if err := json.Unmarshal([]byte(e), &list); err != nil || len(list) > MaxEmbeds || len(e) > MaxEmbedBytes {
			t.Fatalf("checkEmbeds(%q) = %q: %d embeds, %v", raw, e, len(list), err)
		}
		if again, err := checkEmbeds(json.RawMessage(e)); err != nil || again != e {
			t.Fatalf("checkEmbeds(%q) = %q, which gives %q, %v", raw, e, again, err)
		}
	})
}
