package mediaproxy

import (
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Config configures a Server. New applies the defaults (withDefaults) and
// then validates it; fields documented with a default take it when zero.
type Config struct {
	// Addr is the listen address New binds (port 0 picks one); default
	// 127.0.0.1:0. Ignored when Listener is set.
	Addr string
	// Listener, if set, is used instead of binding Addr (a caller that
	// must know the address before New, such as parley serve). The server
	// owns it from New on: Close closes it, and so does a New that fails.
	Listener net.Listener
	// Key signs URLs (32 bytes; dir.Key(KeyName) in Parley).
	Key []byte
	// Store holds attachments.
	Store *Store
	// CacheDir holds processed variants; empty disables the disk cache.
	CacheDir string
	// DiskCacheBytes bounds the disk cache.
	DiskCacheBytes int64
	// MemCacheBytes bounds the memory cache; 0 disables it.
	MemCacheBytes int64
	// Limits bound decoding; each zero field takes DefaultLimits' value.
	Limits Limits
	// Workers is the number of concurrent libvips jobs (default
	// GOMAXPROCS); Queue how many more may wait before requests get 503.
	Workers, Queue int
	// BodyBudget bounds the bytes of bodies held in memory at once
	// (uploads being read, fetched originals, attachment sources being
	// processed); a request that does not fit gets 503 with Retry-After.
	// Default max(256 MiB, 2 × Limits.MaxBytes); at least Limits.MaxBytes.
	BodyBudget int64
	// Timeout bounds one request end to end (504 past it); default 10 s.
	Timeout time.Duration
	// Fetch configures external fetches; Fetch.MaxBytes is capped at
	// Limits.MaxBytes (and defaults to it).
	Fetch FetcherConfig
	// UploadToken authorises POST /upload; empty disables uploads.
	UploadToken string
	// SignedTTL is the lifetime of URLs returned by uploads; default 24 h.
	SignedTTL time.Duration
	// PublicURL prefixes URLs returned by uploads ("" = relative paths).
	PublicURL string
	// Logger receives structured logs; nil discards them.
	Logger *slog.Logger
	// Registerer, when set, also receives the proxy's metrics.
	Registerer prometheus.Registerer
	// Now is the clock (tests inject one); nil = time.Now.
	Now func() time.Time
}

// DefaultConfig returns production defaults; Key and Store must still be
// set.
func DefaultConfig() Config {
	return Config{
		Addr:           "127.0.0.1:0",
		DiskCacheBytes: 1 << 30,
		MemCacheBytes:  128 << 20,
		Limits:         DefaultLimits(),
		Workers:        runtime.GOMAXPROCS(0),
		Queue:          8 * runtime.GOMAXPROCS(0),
		Timeout:        10 * time.Second,
		Fetch:          FetcherConfig{Timeout: 5 * time.Second, MaxBytes: 25 << 20, MaxRedirects: 5},
		SignedTTL:      24 * time.Hour,
	}
}

// withDefaults returns c with every unset field that has a default filled
// in. Fields whose zero value means something (Queue, the cache sizes,
// CacheDir, UploadToken, PublicURL) are left as they are.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Addr == "" {
		c.Addr = d.Addr
	}
	if c.Workers == 0 {
		c.Workers = d.Workers
	}
	if c.Timeout == 0 {
		c.Timeout = d.Timeout
	}
	if c.SignedTTL == 0 {
		c.SignedTTL = d.SignedTTL
	}
	c.Limits = c.Limits.withDefaults()
	if c.BodyBudget == 0 {
		c.BodyBudget = max(256<<20, 2*c.Limits.MaxBytes)
	}
	if c.Fetch.MaxBytes <= 0 || c.Fetch.MaxBytes > c.Limits.MaxBytes {
		c.Fetch.MaxBytes = c.Limits.MaxBytes
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Validate checks the configuration and reports the first problem
// (wrapping ErrConfig). It changes nothing: New applies the defaults
// before it validates.
func (c Config) Validate() error {
	switch {
	case len(c.Key) < 32:
		return fmt.Errorf("%w: Key must be at least 32 bytes", ErrConfig)
	case c.Store == nil:
		return fmt.Errorf("%w: Store is required", ErrConfig)
	case c.Workers < 1 || c.Queue < 0:
		return fmt.Errorf("%w: Workers must be >= 1 and Queue >= 0", ErrConfig)
	case c.Timeout <= 0:
		return fmt.Errorf("%w: Timeout must be positive", ErrConfig)
	case c.MemCacheBytes < 0 || c.DiskCacheBytes < 0:
		return fmt.Errorf("%w: cache sizes must not be negative", ErrConfig)
	case c.SignedTTL <= 0:
		return fmt.Errorf("%w: SignedTTL must be positive", ErrConfig)
	}
	if err := c.Limits.Validate(); err != nil {
		return err
	}
	if c.BodyBudget < c.Limits.MaxBytes {
		return fmt.Errorf("%w: BodyBudget must be at least Limits.MaxBytes", ErrConfig)
	}
	return nil
}
