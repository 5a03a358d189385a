//go:build !unix

package mls

import "time"

func processCPU() time.Duration { return 0 }
