package lifecycle

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

func TestWaitContext(t *testing.T) {
	var wg sync.WaitGroup
	release := make(chan struct{})
	wg.Add(1)
	go func() { defer wg.Done(); <-release }()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := WaitContext(ctx, &wg); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("still running: %v, want the deadline", err)
	}
	close(release)
	if err := WaitContext(context.Background(), &wg); err != nil {
		t.Fatalf("after release: %v", err)
	}
}
