package mediaproxy

import (
	"fmt"
	"log/slog"
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Config configures a Server. New validates it first.
type Config struct {
	// Addr is the listen address (port 0 picks one).
	Addr string
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
	// Limits bound decoding.
	Limits Limits
	// Workers is the number of concurrent libvips jobs; Queue how many more
	// may wait before requests get 503.
	Workers, Queue int
	// Timeout bounds one request end to end (504 past it).
	Timeout time.Duration
	// Fetch configures external fetches.
	Fetch FetcherConfig
	// UploadToken authorises POST /upload; empty disables uploads.
	UploadToken string
	// SignedTTL is the lifetime of URLs returned by uploads.
	SignedTTL time.Duration
	// PublicURL prefixes URLs returned by uploads ("" = relative paths).
	PublicURL string
	// Log receives structured logs.
	Log *slog.Logger
	// Registerer, when set, also receives the proxy's metrics.
	Registerer prometheus.Registerer
	// Now is the clock (tests inject one); nil = time.Now.
	Now func() time.Time
}

// DefaultConfig returns production defaults; Key, Store and Log must still
// be set.
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

// Validate checks the configuration.
func (c *Config) Validate() error {
	switch {
	case len(c.Key) < 32:
		return fmt.Errorf("%w: Key must be at least 32 bytes", ErrConfig)
	case c.Store == nil:
		return fmt.Errorf("%w: Store is required", ErrConfig)
	case c.Log == nil:
		return fmt.Errorf("%w: Log is required", ErrConfig)
	case c.Workers < 1 || c.Queue < 0:
		return fmt.Errorf("%w: Workers must be >= 1 and Queue >= 0", ErrConfig)
	case c.Timeout <= 0:
		return fmt.Errorf("%w: Timeout must be positive", ErrConfig)
	case c.MemCacheBytes < 0 || c.DiskCacheBytes < 0:
		return fmt.Errorf("%w: cache sizes must not be negative", ErrConfig)
	case c.SignedTTL <= 0:
		return fmt.Errorf("%w: SignedTTL must be positive", ErrConfig)
	}
	return c.Limits.Validate()
}
