package simulcast

import (
	"fmt"
	"time"
)

// MaxLayers is the number of simulcast layers a Forwarder tracks (Discord
// clients and browsers send two or three).
const MaxLayers = 4

// Config configures a Forwarder. The zero value is usable: New applies the
// defaults.
type Config struct {
	// ClockRate of the video RTP timestamps; default 90000 (RFC 7741,
	// RFC 6184).
	ClockRate uint32
	// FrameInterval is the least timestamp advance at a layer switch
	// without sender-report references; default 1/30 s.
	FrameInterval time.Duration
	// MaxSRDeviation bounds how far a switch timestamp derived from RTCP
	// sender reports may be from the wall-clock estimate before the
	// wall-clock one is used instead (stale or inconsistent reports);
	// default 300 ms.
	MaxSRDeviation time.Duration
	// KeyframeMinInterval and KeyframeMaxInterval clamp the interval
	// between keyframe requests, 2×RTT (LiveKit: clamp(2×RTT, 200 ms,
	// 1 s)); KeyframeUnknownRTT is used before an RTT is known. Defaults
	// 200 ms, 1 s, 500 ms.
	KeyframeMinInterval time.Duration
	KeyframeMaxInterval time.Duration
	KeyframeUnknownRTT  time.Duration
}

func (c Config) withDefaults() Config {
	if c.ClockRate == 0 {
		c.ClockRate = 90000
	}
	if c.FrameInterval == 0 {
		c.FrameInterval = time.Second / 30
	}
	if c.MaxSRDeviation == 0 {
		c.MaxSRDeviation = 300 * time.Millisecond
	}
	if c.KeyframeMinInterval == 0 {
		c.KeyframeMinInterval = 200 * time.Millisecond
	}
	if c.KeyframeMaxInterval == 0 {
		c.KeyframeMaxInterval = time.Second
	}
	if c.KeyframeUnknownRTT == 0 {
		c.KeyframeUnknownRTT = 500 * time.Millisecond
	}
	return c
}

// Validate reports whether c is usable after defaults. It changes nothing.
func (c Config) Validate() error {
	switch {
	case c.ClockRate == 0:
		return fmt.Errorf("%w: ClockRate is 0", ErrConfig)
	case c.FrameInterval <= 0, c.MaxSRDeviation <= 0:
		return fmt.Errorf("%w: FrameInterval and MaxSRDeviation must be positive", ErrConfig)
	case c.KeyframeMinInterval <= 0 || c.KeyframeMaxInterval < c.KeyframeMinInterval:
		return fmt.Errorf("%w: keyframe intervals need 0 < min <= max (min %v, max %v)",
			ErrConfig, c.KeyframeMinInterval, c.KeyframeMaxInterval)
	case c.KeyframeUnknownRTT <= 0:
		return fmt.Errorf("%w: KeyframeUnknownRTT must be positive", ErrConfig)
	}
	return nil
}
