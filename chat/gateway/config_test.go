package gateway

import (
	"errors"
	"testing"
	"time"

	"github.com/parleyhq/parley/internal/connlimit"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"backend only", Config{Backend: &fakeBackend{}}, true},
		{"no backend", Config{}, false},
		{"negative frame", Config{Backend: &fakeBackend{}, MaxFrame: -1}, false},
		{"negative replay", Config{Backend: &fakeBackend{}, ReplayLimit: -1}, false},
		{"defaults", Config{Backend: &fakeBackend{}}.withDefaults(), true},
		{"negative write timeout", Config{Backend: &fakeBackend{}, WriteTimeout: -time.Second}, false},
		{"negative heartbeat grace", Config{Backend: &fakeBackend{}, HeartbeatGrace: -time.Second}, false},
		{"negative identify window", Config{Backend: &fakeBackend{}, IdentifyWindow: -time.Second}, false},
		{"negative identify burst", Config{Backend: &fakeBackend{}, IdentifyBurst: -1}, false},
		{"negative max shards", Config{Backend: &fakeBackend{}, MaxShards: -1}, false},
		{"no connection caps", Config{Backend: &fakeBackend{}, Conns: connlimit.Config{PerIP: -1, PendingPerIP: -1}}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrConfig)) {
				t.Fatalf("Validate: %v", err)
			}
		})
	}
}
