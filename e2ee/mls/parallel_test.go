package mls

import (
	"errors"
	"sync/atomic"
	"testing"
)

func TestParallel(t *testing.T) {
	for _, n := range []int{0, 1, 2, 3, 17, 1000} {
		for _, minPer := range []int{0, 1, 2, 8} {
			var calls atomic.Int64
			seen := make([]atomic.Bool, n)
			err := parallel(n, minPer, func(i int) error {
				calls.Add(1)
				if seen[i].Swap(true) {
					t.Errorf("n=%d: index %d twice", n, i)
				}
				return nil
			})
			mustNoErr(t, err)
			if calls.Load() != int64(n) {
				t.Fatalf("n=%d min=%d: %d calls", n, minPer, calls.Load())
			}
		}
	}
	errBoom := errors.New("boom")
	err := parallel(100, 1, func(i int) error {
		if i == 40 {
			return errBoom
		}
		return nil
	})
	if !errors.Is(err, errBoom) {
		t.Fatalf("err = %v", err)
	}
}
