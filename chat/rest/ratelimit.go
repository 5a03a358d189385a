package rest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Limit is a fixed-window rate limit.
type Limit struct {
	Requests int
	Window   time.Duration
}

// window is one bucket's state.
type window struct {
	start time.Time
	used  int
}

// limiter keeps per-key fixed windows. Keys are (bucket, major parameter,
// caller) for routes and (caller) for the global limit.
type limiter struct {
	mu sync.Mutex
	// windows is guarded by mu.
	windows map[string]*window
	last    time.Time
}

func newLimiter() *limiter { return &limiter{windows: map[string]*window{}} }

// take consumes one request; it returns the remaining count, the reset
// time, and whether the request is allowed.
func (l *limiter) take(key string, lim Limit, now time.Time) (remaining int, reset time.Time, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.last) > time.Minute { // forget idle windows
		for k, w := range l.windows {
			if now.Sub(w.start) > 10*time.Minute {
				delete(l.windows, k)
			}
		}
		l.last = now
	}
	w := l.windows[key]
	if w == nil || now.Sub(w.start) >= lim.Window {
		w = &window{start: now}
		l.windows[key] = w
	}
	reset = w.start.Add(lim.Window)
	if w.used >= lim.Requests {
		return 0, reset, false
	}
	w.used++
	return lim.Requests - w.used, reset, true
}

// exhausted reports whether key's current window is used up, without
// consuming.
func (l *limiter) exhausted(key string, lim Limit, now time.Time) (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.windows[key]
	if w == nil || now.Sub(w.start) >= lim.Window {
		return time.Time{}, false
	}
	return w.start.Add(lim.Window), w.used >= lim.Requests
}

func bucketHash(route string) string {
	h := sha256.Sum256([]byte(route))
	return hex.EncodeToString(h[:8])
}

// setHeaders writes the X-RateLimit-* headers.
func setHeaders(h http.Header, lim Limit, remaining int, reset, now time.Time, bucket string) {
	after := math.Max(0, reset.Sub(now).Seconds())
	h.Set("X-RateLimit-Limit", strconv.Itoa(lim.Requests))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(remaining))
	h.Set("X-RateLimit-Reset", fmt.Sprintf("%.3f", float64(reset.UnixMilli())/1000))
	h.Set("X-RateLimit-Reset-After", fmt.Sprintf("%.3f", after))
	h.Set("X-RateLimit-Bucket", bucket)
}

// tooMany writes a 429 with Discord's headers and body.
func tooMany(w http.ResponseWriter, reset, now time.Time, global bool) {
	after := math.Max(0.001, reset.Sub(now).Seconds())
	h := w.Header()
	h.Set("Retry-After", strconv.Itoa(int(math.Ceil(after))))
	scope := "user"
	if global {
		h.Set("X-RateLimit-Global", "true")
		scope = "global"
	}
	h.Set("X-RateLimit-Scope", scope)
	writeJSON(w, http.StatusTooManyRequests, map[string]any{
		"message": "You are being rate limited.", "retry_after": math.Round(after*1000) / 1000, "global": global, "code": 0})
}
