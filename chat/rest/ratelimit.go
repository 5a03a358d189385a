package rest

import (
	"crypto/sha256"
	"encoding/hex"
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/parleyhq/parley/chat/model"
)

// Limit is a fixed-window rate limit.
type Limit struct {
	Requests int
	Window   time.Duration
}

// limKey is a limiter key. It is a fixed-size value built from parsed
// parts (route index, canonical major id, caller), never from request
// text, so no request can grow a key.
type limKey struct {
	route   uint16          // route index + 1 (0: not a route key)
	major   model.Snowflake // the route's major parameter, parsed
	user    model.Snowflake // the authenticated caller (0: by address)
	addr    netip.Addr      // the caller's address (unauthenticated; /64 for IPv6)
	account [16]byte        // a login name's key (accountKey; failed logins)
}

// accountKey is the key of the account a login names, whatever the case,
// width or length of the name sent (model.UsernameKey, hashed): names no
// account can have (too long) share one key.
func accountKey(login string) limKey {
	if len(login) > 256 {
		login = ""
	}
	h := sha256.Sum256([]byte(model.UsernameKey(login)))
	var k limKey
	copy(k.account[:], h[:])
	return k
}

// window is one key's state: requests used in [end-Window, end).
type window struct {
	end  int64 // unix nanos
	used int
}

// sweepEvery is how often a limiter forgets expired windows on its own;
// it also bounds how often a full limiter looks for expired ones before
// evicting a live one.
const sweepEvery = time.Second

// limiter keeps per-key fixed windows, at most max of them. An expired
// window is the same as none, so windows are forgotten once they end
// (checked at most every sweepEvery). When max live windows are held, an
// arbitrary one is forgotten to make room: its caller starts a fresh
// window early, but the map never grows past max, whatever callers send.
type limiter struct {
	max int

	mu sync.Mutex
	// Guarded by mu:
	windows   map[limKey]window
	lastSweep int64
	evicted   uint64
}

func newLimiter(max int) *limiter { return &limiter{max: max, windows: map[limKey]window{}} }

// take consumes one request; it returns the remaining count, the reset
// time, and whether the request is allowed. A negative lim.Requests is no
// limit (nothing is kept).
func (l *limiter) take(key limKey, lim Limit, now time.Time) (remaining int, reset time.Time, ok bool) {
	if lim.Requests < 0 {
		return math.MaxInt32, now, true
	}
	n := now.UnixNano()
	l.mu.Lock()
	defer l.mu.Unlock()
	if n-l.lastSweep >= int64(sweepEvery) {
		l.sweepLocked(n)
	}
	w, found := l.windows[key]
	if !found || n >= w.end {
		if !found && len(l.windows) >= l.max {
			l.makeRoomLocked(n)
		}
		w = window{end: n + int64(lim.Window)}
	}
	reset = time.Unix(0, w.end)
	if w.used >= lim.Requests {
		l.windows[key] = w
		return 0, reset, false
	}
	w.used++
	l.windows[key] = w
	return lim.Requests - w.used, reset, true
}

// exhausted reports whether key's current window is used up, without
// consuming.
func (l *limiter) exhausted(key limKey, lim Limit, now time.Time) (time.Time, bool) {
	if lim.Requests < 0 {
		return time.Time{}, false
	}
	n := now.UnixNano()
	l.mu.Lock()
	defer l.mu.Unlock()
	w, ok := l.windows[key]
	if !ok || n >= w.end {
		return time.Time{}, false
	}
	return time.Unix(0, w.end), w.used >= lim.Requests
}

// sweepLocked forgets every expired window.
func (l *limiter) sweepLocked(now int64) {
	for k, w := range l.windows {
		if now >= w.end {
			delete(l.windows, k)
		}
	}
	l.lastSweep = now
}

// makeRoomLocked frees one place: the expired windows if a sweep is due,
// else an arbitrary live one.
func (l *limiter) makeRoomLocked(now int64) {
	if now-l.lastSweep >= int64(sweepEvery)/10 {
		l.sweepLocked(now)
		if len(l.windows) < l.max {
			return
		}
	}
	for k := range l.windows {
		delete(l.windows, k)
		l.evicted++
		return
	}
}

// size returns the number of windows held and the live ones evicted so far.
func (l *limiter) size() (keys int, evicted uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.windows), l.evicted
}

func bucketHash(route string) string {
	h := sha256.Sum256([]byte(route))
	return hex.EncodeToString(h[:8])
}

// The X-RateLimit-* headers in the canonical spelling net/http stores and
// sends them in (Header.Set would allocate to canonicalise "RateLimit";
// clients read header names case-insensitively).
const (
	hdrLimit      = "X-Ratelimit-Limit"
	hdrRemaining  = "X-Ratelimit-Remaining"
	hdrReset      = "X-Ratelimit-Reset"
	hdrResetAfter = "X-Ratelimit-Reset-After"
	hdrBucket     = "X-Ratelimit-Bucket"
	hdrGlobal     = "X-Ratelimit-Global"
	hdrScope      = "X-Ratelimit-Scope"
	hdrRetryAfter = "Retry-After"
)

// setHeaders writes the X-RateLimit-* headers.
func setHeaders(h http.Header, lim Limit, remaining int, reset, now time.Time, bucket string) {
	after := math.Max(0, reset.Sub(now).Seconds())
	h[hdrLimit] = []string{strconv.Itoa(lim.Requests)}
	h[hdrRemaining] = []string{strconv.Itoa(remaining)}
	h[hdrReset] = []string{strconv.FormatFloat(float64(reset.UnixMilli())/1000, 'f', 3, 64)}
	h[hdrResetAfter] = []string{strconv.FormatFloat(after, 'f', 3, 64)}
	h[hdrBucket] = []string{bucket}
}

// tooMany writes a 429 with Discord's headers and body.
func tooMany(w http.ResponseWriter, reset, now time.Time, global bool) {
	after := math.Max(0.001, reset.Sub(now).Seconds())
	h := w.Header()
	h[hdrRetryAfter] = []string{strconv.Itoa(int(math.Ceil(after)))}
	scope := "user"
	if global {
		h[hdrGlobal] = []string{"true"}
		scope = "global"
	}
	h[hdrScope] = []string{scope}
	writeJSON(w, http.StatusTooManyRequests, map[string]any{
		"message": "You are being rate limited.", "retry_after": math.Round(after*1000) / 1000, "global": global, "code": 0})
}
