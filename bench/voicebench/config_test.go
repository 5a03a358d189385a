package voicebench

import (
	"errors"
	"math"
	"reflect"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	ok := Config{Rooms: 2, Size: 3, Speakers: 1, Duration: time.Second}.withDefaults()
	for _, tc := range []struct {
		name string
		edit func(*Config)
		ok   bool
	}{
		{"defaults", func(*Config) {}, true},
		{"all webrtc", func(c *Config) { c.WebRTCShare = 1 }, true},
		{"mixed", func(c *Config) { c.WebRTCShare = 0.3 }, true},
		{"share above 1", func(c *Config) { c.WebRTCShare = 1.5 }, false},
		{"negative share", func(c *Config) { c.WebRTCShare = -0.1 }, false},
		{"NaN share", func(c *Config) { c.WebRTCShare = math.NaN() }, false},
		{"no rooms", func(c *Config) { c.Rooms = 0 }, false},
		{"more speakers than size", func(c *Config) { c.Speakers = 4 }, false},
		{"no duration", func(c *Config) { c.Duration = 0 }, false},
		{"legacy mode", func(c *Config) { c.Mode = "xsalsa20_poly1305" }, false},
		{"zero quantum (no defaults applied)", func(c *Config) { c.Quantum = 0 }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.edit(&c)
			before := c
			err := c.Validate()
			if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrConfig)) {
				t.Fatalf("Validate() = %v, want ok=%v", err, tc.ok)
			}
			if !reflect.DeepEqual(c, before) && !math.IsNaN(c.WebRTCShare) {
				t.Errorf("Validate changed the config")
			}
		})
	}
}

func TestReflectorConfigValidate(t *testing.T) {
	if err := (ReflectorConfig{}).Validate(); !errors.Is(err, ErrConfig) {
		t.Errorf("zero config without defaults: %v, want ErrConfig", err)
	}
	c := ReflectorConfig{}.withDefaults()
	if err := c.Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
	c.BatchSize = 2000
	if err := c.Validate(); !errors.Is(err, ErrConfig) {
		t.Errorf("batch 2000: %v, want ErrConfig", err)
	}
}
