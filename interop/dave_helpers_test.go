package interop

import (
	"context"
	"time"

	"github.com/parleyhq/parley/internal/ogg"
)

func contextTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}

func syntheticFrames(n int, seed uint64) [][]byte { return ogg.SyntheticOpus(n, seed) }
