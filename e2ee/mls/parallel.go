package mls

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// parallel calls f(i) for every i in [0, n) on up to GOMAXPROCS goroutines
// (the caller's included), handing out indexes one at a time so a slow
// worker on a busy machine does not hold up a fixed share. It is used for
// independent public-key operations (HPKE encryptions, key derivations,
// signature checks), each tens of microseconds, so one extra goroutine per
// minPerWorker items is worth starting. It returns the error of the lowest
// failing index; after a failure the remaining indexes are skipped.
func parallel(n, minPerWorker int, f func(i int) error) error {
	workers := min(runtime.GOMAXPROCS(0), n/max(minPerWorker, 1))
	if workers < 2 {
		for i := range n {
			if err := f(i); err != nil {
				return err
			}
		}
		return nil
	}
	var (
		next   atomic.Int64
		failed atomic.Bool
		mu     sync.Mutex
		errAt  = n
		first  error
	)
	work := func() {
		for !failed.Load() {
			i := int(next.Add(1) - 1)
			if i >= n {
				return
			}
			if err := f(i); err != nil {
				mu.Lock()
				if i < errAt {
					errAt, first = i, err
				}
				mu.Unlock()
				failed.Store(true)
			}
		}
	}
	var wg sync.WaitGroup
	for range workers - 1 {
		wg.Go(work)
	}
	work()
	wg.Wait()
	return first
}
