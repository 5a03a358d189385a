package fleet

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/parleyhq/parley/internal/testetcd"
	"github.com/parleyhq/parley/internal/testkit"
	"github.com/parleyhq/parley/internal/voicectl"
	"github.com/parleyhq/parley/internal/voicectl/bustest"
)

func startBus(t *testing.T, endpoint, prefix string) *Bus {
	t.Helper()
	b, err := NewBus(BusConfig{Endpoints: []string{endpoint}, Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close(context.Background()) })
	return b
}

func startFollower(t *testing.T, endpoint, prefix string, node voicectl.Bus) *Follower {
	t.Helper()
	f, err := NewFollower(FollowerConfig{Endpoints: []string{endpoint}, Prefix: prefix, Node: node})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := f.Close(context.Background()); err != nil {
			t.Errorf("follower close: %v", err)
		}
	})
	select {
	case <-f.Synced():
	case <-time.After(10 * time.Second):
		t.Fatal("follower never listed the stored state")
	}
	return f
}

// TestBus runs the bus suite on etcd: a control plane's Bus, a voice
// node's Follower applying to the node, and nodes that start later.
func TestBus(t *testing.T) {
	etcd := testetcd.Start(t)
	bustest.Run(t, func(t *testing.T) bustest.Harness {
		testkit.NoLeaks(t)
		prefix := newPrefix()
		bus := startBus(t, etcd.Endpoint, prefix)
		node := bustest.NewRecorder()
		startFollower(t, etcd.Endpoint, prefix, node)
		return bustest.Harness{Bus: bus, Node: node, AddNode: func(t *testing.T) (*bustest.Recorder, voicectl.Admitter) {
			late := bustest.NewRecorder()
			return late, startFollower(t, etcd.Endpoint, prefix, late)
		}}
	})
}

// TestFollowerAdmit: without stored state the Follower leaves admission to
// the token (ErrNotManaged); it answers only once listed, within ctx.
func TestFollowerAdmit(t *testing.T) {
	testkit.NoLeaks(t)
	etcd := testetcd.Start(t)
	prefix := newPrefix()
	f, err := NewFollower(FollowerConfig{Endpoints: []string{etcd.Endpoint}, Prefix: prefix, Node: bustest.NewRecorder()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := f.Admit(ctx, voicectl.Session{GuildID: "g", UserID: "u"}); err == nil || errors.Is(err, voicectl.ErrNotManaged) {
		t.Fatalf("Admit before the listing: %v, want the context's error", err)
	}
	if err := f.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close(context.Background()) })
	actx, acancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer acancel()
	if _, err := f.Admit(actx, voicectl.Session{GuildID: "g", UserID: "u"}); !errors.Is(err, voicectl.ErrNotManaged) {
		t.Fatalf("Admit of a user without stored state: %v, want ErrNotManaged", err)
	}
	if err := f.Start(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("second Start: %v", err)
	}
}

func TestBusConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  BusConfig
		ok   bool
	}{
		{"ok", BusConfig{Endpoints: []string{"127.0.0.1:2379"}}, true},
		{"no endpoint", BusConfig{}, false},
		{"short state", BusConfig{Endpoints: []string{"127.0.0.1:2379"}, StateTTL: time.Second}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.cfg.withDefaults().Validate(); (err == nil) != tc.ok {
				t.Fatalf("Validate = %v", err)
			}
		})
	}
	if err := (FollowerConfig{Endpoints: []string{"127.0.0.1:2379"}}).withDefaults().Validate(); !errors.Is(err, ErrConfig) {
		t.Fatalf("follower without a node: %v", err)
	}
}

func TestDecodeCommand(t *testing.T) {
	tests := []struct {
		name, key, value string
		deleted          bool
		op               string
	}{
		{"mute", "mute/g/u", `{"guild":"g","user":"u","value":true,"at":1}`, false, "mute"},
		{"deaf deleted", "deaf/g/u", ``, true, "deaf"},
		{"disconnect", "disconnect/g/u/ab", `{"guild":"g","user":"u","at":1}`, false, "disconnect"},
		{"revoked", "revoked/s1", `{"guild":"g","user":"u","session":"s1","until":5,"at":1}`, false, "revoked"},
		{"revoked without end", "revoked/s1", `{"guild":"g","user":"u","session":"s1"}`, false, ""},
		{"revoked other session", "revoked/s1", `{"guild":"g","user":"u","session":"s2","until":5}`, false, ""},
		{"mute of another user", "mute/g/u", `{"guild":"g","user":"v","value":true}`, false, ""},
		{"unknown op", "ban/g/u", `{}`, false, ""},
		{"short key", "mute/g", `{}`, false, ""},
		{"bad id", "mute/g/u u", `{"guild":"g","user":"u u"}`, false, ""},
		{"not json", "mute/g/u", `nope`, false, ""},
		{"empty", "", ``, false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			op, _, err := decodeCommand(tc.key, []byte(tc.value), tc.deleted)
			if tc.op == "" {
				if !errors.Is(err, ErrCommand) {
					t.Fatalf("err = %v, want ErrCommand", err)
				}
				return
			}
			if err != nil || op != tc.op {
				t.Fatalf("= %q, %v; want %q", op, err, tc.op)
			}
		})
	}
}

func FuzzDecodeCommand(f *testing.F) {
	f.Add("mute/g/u", []byte(`{"guild":"g","user":"u","value":true}`), false)
	f.Add("revoked/s1", []byte(`{"guild":"g","user":"u","session":"s1","until":5}`), false)
	f.Add("disconnect/g/u/1", []byte(`{"guild":"g","user":"u"}`), true)
	f.Fuzz(func(t *testing.T, key string, value []byte, deleted bool) {
		op, c, err := decodeCommand(key, value, deleted)
		if err != nil {
			return
		}
		if op == "revoked" && !deleted && (c.Until <= 0 || !validID(c.Session)) {
			t.Fatalf("accepted %q %q: %+v", key, value, c)
		}
		if op != "revoked" && (!validID(c.Guild) || !validID(c.User)) {
			t.Fatalf("accepted %q %q: %+v", key, value, c)
		}
	})
}
