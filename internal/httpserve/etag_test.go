package httpserve

import (
	"strings"
	"testing"
)

func TestETagMatch(t *testing.T) {
	for _, tc := range []struct {
		header, etag string
		want         bool
	}{
		{`"a"`, `"a"`, true},
		{`"a", W/"b"`, `"b"`, true},
		{` "x" ,  "a" `, `"a"`, true},
		{`*`, `"a"`, true},
		{`W/"a"`, `"a"`, true},
		{`"b"`, `"a"`, false},
		{``, `"a"`, false},
		{`"a`, `"a"`, false},
		{`,,,`, `"a"`, false},
	} {
		if got := ETagMatch(tc.header, tc.etag); got != tc.want {
			t.Errorf("ETagMatch(%q, %q) = %v, want %v", tc.header, tc.etag, got, tc.want)
		}
	}
}

// FuzzETagMatch: any If-None-Match is parsed without a panic, and a list
// holding the tag matches.
func FuzzETagMatch(f *testing.F) {
	f.Add(`"a", W/"b"`, `"b"`)
	f.Add(",,,", `"x"`)
	f.Fuzz(func(t *testing.T, header, etag string) {
		ETagMatch(header, etag)
		if strings.Contains(etag, ",") || strings.TrimSpace(etag) != etag || strings.HasPrefix(etag, "W/") || etag == "" {
			return
		}
		if !ETagMatch(header+", "+etag, etag) {
			t.Fatalf("%q does not match in %q", etag, header+", "+etag)
		}
	})
}
