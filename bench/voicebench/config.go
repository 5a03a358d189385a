package voicebench

import (
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"time"

	"github.com/parleyhq/parley/voiceproto"
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
	// Loops is the number of generator event loops (default 1), each on
	// its own thread with a share of the speakers and sockets.
	Loops int `json:"loops"`
	// Quantum is the event loops' minimum sleep between rounds (default
	// 200 µs): each round sends every packet due and drains every ready
	// socket. Kernel receive timestamps keep latency_us exact;
	// latency_app_us includes up to one quantum of polling delay.
	Quantum time.Duration `json:"-"`
	// WebRTCShare is the fraction of participants that join the SFU in
	// the web dialect (ICE, DTLS-SRTP on the server's WebRTC address)
	// instead of native UDP: 0 (default) is all-native, 1 all-WebRTC. They
	// are spread evenly over the speakers and over the listeners
	// (webRTCAt), so a mixed run has speakers and listeners of both kinds.
	// The reflector is always loaded all-native (it has no WebRTC).
	WebRTCShare float64 `json:"webrtc_share"`
	// SetupConcurrency bounds participants joining at once (default 32).
	SetupConcurrency int `json:"-"`
	// Progress receives one line per second while a target runs (nil: none).
	Progress io.Writer    `json:"-"`
	Logger   *slog.Logger `json:"-"`
}

// withDefaults returns c with its defaults set (New-style: Run applies it
// before Validate).
func (c Config) withDefaults() Config {
	if c.Warmup == 0 {
		c.Warmup = 2 * time.Second
	}
	if c.Drain == 0 {
		c.Drain = 300 * time.Millisecond
	}
	if c.PayloadSize == 0 {
		c.PayloadSize = 120
	}
	if c.Mode == "" {
		c.Mode = voiceproto.ModeAES256GCMRTPSize
	}
	if c.Loops <= 0 {
		c.Loops = 1
	}
	if c.Quantum == 0 {
		c.Quantum = 200 * time.Microsecond
	}
	if c.SetupConcurrency <= 0 {
		c.SetupConcurrency = 32
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Validate reports what Run cannot work with (ErrConfig); it changes
// nothing, so zero fields that have defaults are errors here: Run applies
// the defaults first.
func (c Config) Validate() error {
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
	if c.Warmup <= 0 || c.Drain <= 0 {
		return fmt.Errorf("%w: warmup %v and drain %v must be positive", ErrConfig, c.Warmup, c.Drain)
	}
	if c.PayloadSize < payloadMin || c.PayloadSize > 1200 {
		return fmt.Errorf("%w: payload size %d not in [%d, 1200]", ErrConfig, c.PayloadSize, payloadMin)
	}
	if !voiceproto.Supported(c.Mode) || voiceproto.IsLegacy(c.Mode) {
		return fmt.Errorf("%w: mode %q (use an rtpsize AEAD mode)", ErrConfig, c.Mode)
	}
	if c.Loops <= 0 || c.Loops > runtime.NumCPU() {
		return fmt.Errorf("%w: %d loops not in [1, %d CPUs]", ErrConfig, c.Loops, runtime.NumCPU())
	}
	if c.Quantum <= 0 || c.Quantum > FrameInterval {
		return fmt.Errorf("%w: quantum %v not in (0, 20ms]", ErrConfig, c.Quantum)
	}
	if c.SetupConcurrency <= 0 {
		return fmt.Errorf("%w: setup concurrency %d", ErrConfig, c.SetupConcurrency)
	}
	if !(c.WebRTCShare >= 0 && c.WebRTCShare <= 1) { // also NaN
		return fmt.Errorf("%w: webrtc share %v not in [0, 1]", ErrConfig, c.WebRTCShare)
	}
	return nil
}

// participants is the total number of participants.
func (c *Config) participants() int { return c.Rooms * c.Size }

// offeredPPS is the packets per second the speakers send.
func (c *Config) offeredPPS() float64 {
	return float64(c.Rooms*c.Speakers) * float64(time.Second) / float64(FrameInterval)
}
