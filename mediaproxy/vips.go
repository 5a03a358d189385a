package mediaproxy

/*
#cgo pkg-config: vips
#include <vips/vips.h>

static void parley_block_untrusted(void) { vips_block_untrusted_set(TRUE); }
static int parley_concurrency(void) { return vips_concurrency_get(); }
static int parley_cache_max(void) { return vips_cache_get_max(); }
static size_t parley_cache_max_mem(void) { return vips_cache_get_max_mem(); }
*/
import "C"

import (
	"fmt"
	"os"
	"sync"

	"github.com/davidbyttow/govips/v2/vips"
)

var (
	vipsOnce sync.Once
	vipsErr  error
)

// StartVips starts libvips once per process: concurrency 1 (parallelism comes
// from concurrent requests), the operation cache off, untrusted loaders
// (svg, pdf, jxl, jp2k, magick, ...) blocked both through the environment
// variable read by vips_init and through vips_block_untrusted_set, and
// govips' own logging silenced (its messages can carry stack traces).
// It is safe to call from any goroutine, any number of times.
func StartVips() error {
	vipsOnce.Do(func() {
		if err := os.Setenv("VIPS_BLOCK_UNTRUSTED", "1"); err != nil {
			vipsErr = fmt.Errorf("mediaproxy: set VIPS_BLOCK_UNTRUSTED: %w", err)
			return
		}
		vips.LoggingSettings(func(string, vips.LogLevel, string) {}, vips.LogLevelError)
		vipsErr = vips.Startup(&vips.Config{
			ConcurrencyLevel: 1,
			MaxCacheFiles:    0,
			MaxCacheMem:      0,
			MaxCacheSize:     0,
		})
		if vipsErr == nil {
			C.parley_block_untrusted()
		}
	})
	return vipsErr
}

// VipsSettings reports libvips' effective global settings (for /healthz and
// tests): concurrency and operation-cache limits.
func VipsSettings() map[string]int {
	return map[string]int{
		"concurrency":   int(C.parley_concurrency()),
		"cache_max":     int(C.parley_cache_max()),
		"cache_max_mem": int(C.parley_cache_max_mem()),
	}
}
