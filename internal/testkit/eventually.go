package testkit

import (
	"fmt"
	"testing"
	"time"
)

// pollInterval is how often Eventually and Poll check their condition.
const pollInterval = 5 * time.Millisecond

// Eventually polls cond until it holds and fails the test (t.Fatalf with
// msg and args) if it does not hold within timeout. It is the only
// waiting a test should do: a condition, never a sleep.
func Eventually(t testing.TB, timeout time.Duration, cond func() bool, msg string, args ...any) {
	t.Helper()
	if !Poll(timeout, cond) {
		t.Fatalf("not within %v: %s", timeout, fmt.Sprintf(msg, args...))
	}
}

// Poll polls cond until it holds or timeout passes and reports whether it
// held; for callers whose own checks then say what is missing.
func Poll(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(pollInterval)
	}
}
