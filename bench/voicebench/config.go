package voicebench

import (
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"time"

	"github.com/parleyhq/parley/sfu/voicecrypto"
)

// FrameInterval is the Opus frame duration every speaker sends at (50 pps).
const FrameInterval = 20 * time.Millisecond

// Config describes one bench invocation's load.
type Config struct {
	// Rooms, Size and Speakers: Rooms rooms of Size participants, of which
	// the first Speakers send audio (all of them receive).
	Rooms    int `json:"rooms"`
	Size     int `json:"size"`
	Speakers int `json:"speakers"`
	// Duration is the measured window; Warmup precedes it (default 2 s)
	// and Drain follows it while late packets arrive (default 300 ms).
	Duration time.Duration `json:"-"`
	Warmup   time.Duration `json:"-"`
	Drain    time.Duration `json:"-"`
	// PayloadSize is the Opus payload in bytes (default 120, minimum 13).
	PayloadSize int `json:"payload_bytes"`
	// Mode is the transport encryption mode (default aead_aes256_gcm_rtpsize).
	Mode string `json:"mode"`
	// RxLoops is the number of receive loops (default runtime.NumCPU()).
	RxLoops int `json:"rx_loops"`
	// PaceQuantum is how long the pacer sleeps between send rounds
	// (default 200 µs); every packet due in a round is sent in it.
	PaceQuantum time.Duration `json:"-"`
	// SetupConcurrency bounds participants joining at once (default 32).
	SetupConcurrency int `json:"-"`
	// Progress receives one line per second while a target runs (nil: none).
	Progress io.Writer    `json:"-"`
	Logger   *slog.Logger `json:"-"`
}

// Validate fills defaults and checks ranges.
func (c *Config) Validate() error {
	if c.Rooms <= 0 || c.Size < 2 || c.Speakers <= 0 || c.Speakers > c.Size {
		return fmt.Errorf("%w: need rooms >= 1, size >= 2, 1 <= speakers <= size (got %d, %d, %d)",
			ErrConfig, c.Rooms, c.Size, c.Speakers)
	}
	if c.Rooms*c.Size > 15000 {
		return fmt.Errorf("%w: %d participants is more than this generator supports (15000)", ErrConfig, c.Rooms*c.Size)
	}
	if c.Duration <= 0 {
		return fmt.Errorf("%w: duration must be positive", ErrConfig)
	}
	if c.Warmup == 0 {
		c.Warmup = 2 * time.Second
	}
	if c.Warmup < 0 {
		return fmt.Errorf("%w: negative warmup", ErrConfig)
	}
	if c.Drain == 0 {
		c.Drain = 300 * time.Millisecond
	}
	if c.PayloadSize == 0 {
		c.PayloadSize = 120
	}
	if c.PayloadSize < payloadMin || c.PayloadSize > 1200 {
		return fmt.Errorf("%w: payload size %d not in [%d, 1200]", ErrConfig, c.PayloadSize, payloadMin)
	}
	if c.Mode == "" {
		c.Mode = voicecrypto.ModeAES256GCMRTPSize
	}
	if !voicecrypto.Supported(c.Mode) || voicecrypto.IsLegacy(c.Mode) {
		return fmt.Errorf("%w: mode %q (use an rtpsize AEAD mode)", ErrConfig, c.Mode)
	}
	if c.RxLoops <= 0 {
		c.RxLoops = runtime.NumCPU()
	}
	if c.PaceQuantum == 0 {
		c.PaceQuantum = 200 * time.Microsecond
	}
	if c.PaceQuantum < 0 || c.PaceQuantum > FrameInterval {
		return fmt.Errorf("%w: pace quantum %v not in (0, 20ms]", ErrConfig, c.PaceQuantum)
	}
	if c.SetupConcurrency <= 0 {
		c.SetupConcurrency = 32
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// participants is the total number of participants.
func (c *Config) participants() int { return c.Rooms * c.Size }

// offeredPPS is the packets per second the speakers send.
func (c *Config) offeredPPS() float64 {
	return float64(c.Rooms*c.Speakers) * float64(time.Second) / float64(FrameInterval)
}
