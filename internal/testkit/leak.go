package testkit

import (
	"testing"

	"go.uber.org/goleak"
)

// NoLeaks records the goroutines running now and, when the test ends
// (after every t.Cleanup registered later, so after the server under test
// is closed), fails it if any goroutine started since is still running.
// goleak retries for a while before it reports, so goroutines that are
// already on their way out do not count.
//
// Call it first in a test, before the server under test starts:
//
//	testkit.NoLeaks(t)
//	srv := start(t) // its t.Cleanup closes it
func NoLeaks(t testing.TB, opts ...goleak.Option) {
	t.Helper()
	opts = append([]goleak.Option{goleak.IgnoreCurrent()}, opts...)
	t.Cleanup(func() {
		if err := goleak.Find(opts...); err != nil {
			t.Errorf("goroutines left after the test: %v", err)
		}
	})
}
