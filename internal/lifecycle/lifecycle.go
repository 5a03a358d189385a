// Package lifecycle holds what every Parley server's Close shares: waiting
// for the goroutines it owns, bounded by a context.
package lifecycle

import (
	"context"
	"sync"
)

// WaitContext waits for wg until ctx ends and returns ctx's error if it
// ended first. The caller must already have stopped what the goroutines
// wait on (closed their sockets, cancelled their contexts), so they are on
// their way out; a ctx that ends first only stops the waiting.
func WaitContext(ctx context.Context, wg *sync.WaitGroup) error {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }() // ends when wg does
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
