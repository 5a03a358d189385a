package service

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestLoginEqualWork (issue item 10): a login for a name that does not
// exist, for a bot (no password) or for a name no account can have runs
// the same password check as one for a real account — one hash at the
// configured cost, through the same bounded hasher — so its time does not
// tell whether the name exists.
func TestLoginEqualWork(t *testing.T) {
	ctx := context.Background()
	s, _ := newTestService(t, func(c *Config) { c.PasswordIterations = 20_000 })
	if _, _, err := s.Register(ctx, "alice", "password-1"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.CreateBot(ctx, "robot", false); err != nil {
		t.Fatal(err)
	}
	login := func(name string) time.Duration {
		t.Helper()
		before := s.hashers.done.Load()
		start := time.Now()
		if _, _, err := s.Login(ctx, name, "wrong-password"); !errors.Is(err, ErrBadLogin) {
			t.Fatalf("login %.20q: %v", name, err)
		}
		d := time.Since(start)
		if n := s.hashers.done.Load() - before; n != 1 {
			t.Fatalf("login %.20q ran %d password hashes, want 1", name, n)
		}
		return d
	}
	// Measured in turns, so the machine's load falls on every name alike;
	// the hash counts above are the exact check, the times a black-box one:
	// a missing name must not be much faster than a real one (it was ~0).
	names := []string{"alice", "nobody", "robot", strings.Repeat("x", 300)}
	times := make([][]time.Duration, len(names))
	for range 7 {
		for i, n := range names {
			times[i] = append(times[i], login(n))
		}
	}
	median := func(ds []time.Duration) time.Duration {
		slices.Sort(ds)
		return ds[len(ds)/2]
	}
	real := median(times[0])
	for i, n := range names[1:] {
		if d := median(times[i+1]); d < real/4 {
			t.Errorf("login as %.20q took %v, a real account's %v", n, d, real)
		}
	}
}

// TestHashingBounded (issue item 9): however many logins arrive at once,
// at most PasswordHashers hashes run together, at most PasswordQueue
// callers wait for one, and the rest are told ErrBusy at once.
func TestHashingBounded(t *testing.T) {
	ctx := context.Background()
	s, _ := newTestService(t, func(c *Config) {
		c.PasswordIterations, c.PasswordHashers, c.PasswordQueue, c.PasswordWait = 100_000, 1, 2, 10*time.Second
	})
	if _, _, err := s.Register(ctx, "alice", "password-1"); err != nil {
		t.Fatal(err)
	}
	const callers = 8
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	start := make(chan struct{})
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, _, err := s.Login(ctx, "alice", "wrong-password")
			errs <- err
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	var bad, busy int
	for err := range errs {
		switch {
		case errors.Is(err, ErrBadLogin):
			bad++
		case errors.Is(err, ErrBusy):
			busy++
		default:
			t.Fatalf("login: %v", err)
		}
	}
	if m := s.hashers.maxInUse.Load(); m != 1 {
		t.Fatalf("%d password hashes ran at once, want 1", m)
	}
	if busy == 0 {
		t.Fatalf("%d logins at once against 1 hasher and a queue of 2: none was told it is busy", callers)
	}
}
