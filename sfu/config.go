package sfu

import (
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/parleyhq/parley/sfu/simulcast"
)

// Config configures a Server.
type Config struct {
	// UDPAddr is the media socket's listen address (default 127.0.0.1:0).
	UDPAddr string
	// PublicIP is announced to clients in Ready and in WebRTC answers
	// (default: the listen IP, or 127.0.0.1 when listening on an
	// unspecified address).
	PublicIP string
	// WebRTCAddr is the UDP address every browser's ICE, DTLS and SRTP
	// share ("": no browsers).
	WebRTCAddr string
	// WebRTCHandshakeTimeout bounds one browser's ICE and DTLS handshake
	// (default 30 s); a browser that has not finished by then is counted
	// as a handshake failure and gets no media.
	WebRTCHandshakeTimeout time.Duration
	// LegacyModes offers the deprecated xsalsa20_poly1305 family (for
	// discordgo <= v0.29.0); on in dev.
	LegacyModes bool
	// Readers is the number of socket reader goroutines (default
	// GOMAXPROCS).
	Readers int
	// BatchSize is how many datagrams one recvmmsg/sendmmsg moves (default 64).
	BatchSize int
	// TrailingSilence is how many consecutive Opus silence frames are
	// forwarded before the rest of a silent run is suppressed (default 5,
	// what clients send at the end of a talkspurt).
	TrailingSilence int
	// MaxRoomSize bounds participants per room (default 1000).
	MaxRoomSize int
	// VideoSelector tunes each native receiver's simulcast layer choice
	// from its bandwidth estimate (margins, the upgrade hold, the wait
	// after a bandwidth downgrade; zero fields take simulcast's
	// defaults: 2 s hold, 10 s backoff).
	VideoSelector simulcast.SelectorConfig
	Logger        *slog.Logger
	Metrics       prometheus.Registerer

	// TestTamper is a TEST HOOK, nil in production (no flag or setting
	// reaches it): when set, every packet the SFU is about to forward is
	// copied and the hook may change the copy (payload: the Opus or DAVE
	// frame, without the RTP header) before it goes to the receivers;
	// src is the sender's room SSRC. Tests use it to prove that a frame
	// changed in the forwarding path fails end-to-end authentication.
	// It runs on the reader goroutine under the sender's forwarding lock:
	// keep it quick, and do not retain payload.
	TestTamper func(src uint32, payload []byte)
}

// withDefaults returns c with every zero field that has a default set.
func (c Config) withDefaults() Config {
	if c.UDPAddr == "" {
		c.UDPAddr = "127.0.0.1:0"
	}
	if c.Readers <= 0 {
		c.Readers = runtime.GOMAXPROCS(0)
	}
	if c.BatchSize <= 0 {
		c.BatchSize = 64
	}
	if c.TrailingSilence == 0 {
		c.TrailingSilence = 5
	}
	if c.MaxRoomSize == 0 {
		c.MaxRoomSize = 1000
	}
	if c.WebRTCHandshakeTimeout == 0 {
		c.WebRTCHandshakeTimeout = 30 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Validate reports the first invalid field; it changes nothing (New
// applies the defaults first).
func (c Config) Validate() error {
	if _, err := net.ResolveUDPAddr("udp", c.UDPAddr); err != nil {
		return fmt.Errorf("%w: UDPAddr: %v", ErrConfig, err)
	}
	if c.WebRTCAddr != "" {
		if _, err := net.ResolveUDPAddr("udp4", c.WebRTCAddr); err != nil {
			return fmt.Errorf("%w: WebRTCAddr: %v", ErrConfig, err)
		}
	}
	if c.PublicIP != "" && net.ParseIP(c.PublicIP) == nil {
		return fmt.Errorf("%w: PublicIP %q is not an IP", ErrConfig, c.PublicIP)
	}
	if c.BatchSize > 1024 {
		return fmt.Errorf("%w: BatchSize %d > 1024", ErrConfig, c.BatchSize)
	}
	if err := c.VideoSelector.Validate(); err != nil {
		return fmt.Errorf("%w: VideoSelector: %w", ErrConfig, err)
	}
	if c.TrailingSilence < 0 || c.MaxRoomSize < 0 || c.WebRTCHandshakeTimeout < 0 {
		return fmt.Errorf("%w: negative TrailingSilence, MaxRoomSize or WebRTCHandshakeTimeout", ErrConfig)
	}
	return nil
}
