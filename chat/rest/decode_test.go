package rest

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/parleyhq/parley/chat/service"
)

// FuzzDecodeFields: whatever a PATCH body holds, decoding answers a
// Discord error (400 or 413) or the fields present, never a panic; a body
// that decodes names every key it sets.
func FuzzDecodeFields(f *testing.F) {
	for _, s := range []string{``, `{}`, `{"name":"x","rtc_region":null}`, `{"nick":1}`, `[1]`, `{"a":`, `null`,
		`{"permission_overwrites":[{"id":"1","type":0,"allow":"1","deny":"0"}]}`, strings.Repeat(`[`, 2000)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		for _, v := range []any{&service.ChannelPatch{}, &service.MemberPatch{}} {
			r := httptest.NewRequest(http.MethodPatch, "/x", strings.NewReader(body))
			r.Body = http.MaxBytesReader(httptest.NewRecorder(), r.Body, 4096)
			present, err := decodeFields(&call{r: r}, v)
			if err != nil {
				var e apiError
				if !errors.As(err, &e) || e.status != http.StatusBadRequest && e.status != http.StatusRequestEntityTooLarge {
					t.Fatalf("body %q: error %v is not a 400/413 apiError", body, err)
				}
				continue
			}
			if present == nil && strings.TrimSpace(body) != "null" {
				t.Fatalf("body %q decoded with no field map", body)
			}
		}
	})
}
