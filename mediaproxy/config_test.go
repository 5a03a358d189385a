package mediaproxy

import (
	"errors"
	"reflect"
	"testing"
	"time"
)

func TestConfigDefaultsAndValidate(t *testing.T) {
	st, err := OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	minimal := Config{Key: make([]byte, 32), Store: st}
	cases := []struct {
		name   string
		mutate func(*Config)
		ok     bool // after withDefaults
	}{
		{"minimal", func(*Config) {}, true},
		{"short key", func(c *Config) { c.Key = c.Key[:31] }, false},
		{"no store", func(c *Config) { c.Store = nil }, false},
		{"negative workers", func(c *Config) { c.Workers = -1 }, false},
		{"negative queue", func(c *Config) { c.Queue = -1 }, false},
		{"negative timeout", func(c *Config) { c.Timeout = -time.Second }, false},
		{"negative cache", func(c *Config) { c.MemCacheBytes = -1 }, false},
		{"negative limit", func(c *Config) { c.Limits.MaxFrames = -1 }, false},
		{"no budget: default", func(c *Config) { c.Limits.MaxBytes = 1 << 30 }, true},
		{"budget below MaxBytes", func(c *Config) { c.Limits.MaxBytes, c.BodyBudget = 1<<20, 1<<19 }, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := minimal
			c.mutate(&cfg)
			before := cfg
			err := cfg.withDefaults().Validate()
			if !reflect.DeepEqual(before, cfg) {
				t.Fatal("withDefaults or Validate changed the config it was called on")
			}
			if (err == nil) != c.ok || (err != nil && !errors.Is(err, ErrConfig)) {
				t.Fatalf("Validate = %v, want ok=%v", err, c.ok)
			}
		})
	}
	d := minimal.withDefaults()
	if d.Logger == nil || d.Now == nil || d.Workers < 1 || d.Timeout <= 0 || d.SignedTTL <= 0 ||
		d.Limits != DefaultLimits() || d.BodyBudget < d.Limits.MaxBytes || d.Fetch.MaxBytes != d.Limits.MaxBytes || d.Addr == "" {
		t.Fatalf("withDefaults left a default unset: %+v", d)
	}
	if err := (Config{}).Validate(); !errors.Is(err, ErrConfig) {
		t.Fatalf("zero Config validated: %v", err)
	}
}
