package rest

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/parleyhq/parley/chat/model"
	"github.com/parleyhq/parley/chat/service"
)

func TestLimiter(t *testing.T) {
	l := newLimiter(100)
	lim := Limit{Requests: 2, Window: time.Second}
	now := time.Unix(1000, 0)
	steps := []struct {
		at        time.Duration
		remaining int
		ok        bool
	}{{0, 1, true}, {100 * time.Millisecond, 0, true}, {200 * time.Millisecond, 0, false}, {time.Second, 1, true}}
	for i, st := range steps {
		rem, reset, ok := l.take(limKey{user: 1}, lim, now.Add(st.at))
		if rem != st.remaining || ok != st.ok {
			t.Fatalf("step %d: remaining %d ok %v", i, rem, ok)
		}
		if reset.Before(now.Add(st.at)) {
			t.Fatalf("step %d: reset in the past", i)
		}
	}
	if _, _, ok := l.take(limKey{user: 2}, lim, now); !ok {
		t.Fatal("keys are not independent")
	}
}

func TestTooMany(t *testing.T) {
	w := httptest.NewRecorder()
	now := time.Unix(1000, 0)
	tooMany(w, now.Add(1500*time.Millisecond), now, true)
	h := w.Header()
	if w.Code != 429 || h.Get("Retry-After") != "2" || h.Get("X-RateLimit-Global") != "true" || h.Get("X-RateLimit-Scope") != "global" {
		t.Fatalf("%d %v", w.Code, h)
	}
	if body := w.Body.String(); body != `{"code":0,"global":true,"message":"You are being rate limited.","retry_after":1.5}` {
		t.Fatalf("body %s", body)
	}
}

func TestToAPIError(t *testing.T) {
	tests := []struct {
		err          error
		status, code int
	}{
		{service.ErrUnknownChannel, 404, 10003},
		{service.ErrMissingPermissions, 403, 50013},
		{&service.FieldError{Field: "content", Code: "X", Message: "m"}, 400, 50035},
		{service.ErrEmptyMessage, 400, 50006},
		{errors.New("boom"), 500, 0},
	}
	for _, tc := range tests {
		e, _ := toAPIError(tc.err)
		if e.status != tc.status || e.Code != tc.code {
			t.Errorf("%v: %d/%d", tc.err, e.status, e.Code)
		}
	}
}

func TestUnknownParam(t *testing.T) {
	tests := []struct {
		name    string
		code    int
		message string
	}{
		{"guild", 10004, "Unknown Guild"},
		{"channel", 10003, "Unknown Channel"},
		{"message", 10008, "Unknown Message"},
		{"user", 10013, "Unknown User"},
		{"other", 0, "404: Not Found"},
	}
	for _, tc := range tests {
		if e := unknownParam(tc.name); e.status != 404 || e.Code != tc.code || e.Message != tc.message {
			t.Errorf("%s: %d %d %q", tc.name, e.status, e.Code, e.Message)
		}
	}
}

func TestExhausted(t *testing.T) {
	l := newLimiter(100)
	lim := Limit{Requests: 1, Window: time.Minute}
	now := time.Unix(1000, 0)
	k := limKey{user: 1}
	if _, ex := l.exhausted(k, lim, now); ex {
		t.Fatal("fresh key exhausted")
	}
	l.take(k, lim, now)
	if reset, ex := l.exhausted(k, lim, now); !ex || !reset.Equal(now.Add(time.Minute)) {
		t.Fatalf("exhausted %v %v", ex, reset)
	}
	if _, ex := l.exhausted(k, lim, now.Add(time.Minute)); ex {
		t.Fatal("window did not reset")
	}
}

// TestLimiterBounded: windows are forgotten once they end (not 10 minutes
// later), and a limiter full of live windows stays at its cap however many
// new keys arrive.
func TestLimiterBounded(t *testing.T) {
	l := newLimiter(64)
	lim := Limit{Requests: 5, Window: time.Second}
	now := time.Unix(1000, 0)
	for i := range 10_000 {
		l.take(limKey{route: 1, major: model.Snowflake(i + 1), user: 7}, lim, now)
		if n, _ := l.size(); n > 64 {
			t.Fatalf("%d windows after %d keys, cap 64", n, i+1)
		}
	}
	if _, ev := l.size(); ev == 0 {
		t.Fatal("no eviction counted")
	}
	// One window later every window has ended: the next take sweeps them.
	l.take(limKey{user: 8}, lim, now.Add(lim.Window+sweepEvery))
	if n, _ := l.size(); n != 1 {
		t.Fatalf("%d windows after they all ended, want 1", n)
	}
}

// TestHeaderSpelling: the rate-limit headers are stored as net/http
// would canonicalise them, so a client's Get finds them and Set's
// canonicalisation is not needed.
func TestHeaderSpelling(t *testing.T) {
	for _, h := range []string{hdrLimit, hdrRemaining, hdrReset, hdrResetAfter, hdrBucket, hdrGlobal, hdrScope, hdrRetryAfter} {
		if c := http.CanonicalHeaderKey(h); c != h {
			t.Errorf("%q is not canonical (%q)", h, c)
		}
	}
	h := http.Header{}
	now := time.Unix(1000, 0)
	setHeaders(h, Limit{Requests: 5}, 4, now.Add(1500*time.Millisecond), now, "b")
	for k, want := range map[string]string{"X-RateLimit-Limit": "5", "X-RateLimit-Remaining": "4",
		"X-RateLimit-Reset": "1001.500", "X-RateLimit-Reset-After": "1.500", "X-RateLimit-Bucket": "b"} {
		if got := h.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
}
