package gateway

import (
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/parleyhq/parley/chat/model"
	"github.com/parleyhq/parley/internal/connlimit"
)

// Config configures a Server. New applies the defaults (withDefaults),
// then validates.
type Config struct {
	// Backend authenticates and supplies guild state (required).
	Backend Backend
	// Logger receives structured logs; nil discards them.
	Logger *slog.Logger
	// Addr is the listen address New binds (port 0 picks one; default
	// "127.0.0.1:0"). Ignored when Listener is set.
	Addr string
	// Listener, if set, is used instead of binding Addr. The server owns
	// it from New on: Close closes it, and so does a New that fails.
	Listener net.Listener
	// ResumeURL is resume_gateway_url in READY, e.g. "ws://127.0.0.1:4001".
	ResumeURL string
	// HeartbeatInterval is sent in Hello (default 41.25 s).
	HeartbeatInterval time.Duration
	// HeartbeatGrace is added to the interval before a silent connection is
	// closed with 4009 (default half an interval).
	HeartbeatGrace time.Duration
	// IdentifyTimeout closes connections that have not identified or
	// resumed this long after connecting with 4003 Not authenticated
	// (default 10 s: clients identify right after Hello, discord.js at
	// most one identify window, 5 s, later).
	IdentifyTimeout time.Duration
	// Conns caps the connections per client IP: open ones, and ones that
	// have not identified or resumed yet (connlimit.Default where zero; a
	// negative cap means none). Over a cap a connection is closed at
	// accept, before any read.
	Conns connlimit.Config
	// ResumeWindow is how long a detached session stays resumable (default 2 min).
	ResumeWindow time.Duration
	// MaxFrame is the largest client frame accepted (default 4096 bytes,
	// Discord's limit); larger frames close with 4002.
	MaxFrame int
	// EventsPerMinute limits client payloads per connection (default 120 per
	// 60 s; exceeding closes with 4008).
	EventsPerMinute int
	// IdentifyBurst identifies per user are allowed per IdentifyWindow
	// (max_concurrency; default DefaultIdentifyBurst per 5 s); more get
	// op 9.
	IdentifyBurst  int
	IdentifyWindow time.Duration
	// ReplayLimit caps a session's dispatch list (write queue + replay log,
	// default 1000 dispatches) and ReplayBytes its size (default 2 MiB);
	// the oldest dispatches are forgotten beyond either (the newest is
	// always kept), and a connection whose unsent dispatches had to go is
	// closed (4000).
	ReplayLimit, ReplayBytes int
	// WriteTimeout bounds one socket write (default 10 s).
	WriteTimeout time.Duration
	// AllowedPrivileged are the privileged intents identifies may request
	// (default all).
	AllowedPrivileged *model.Intent
	// MaxShards is the largest shard count accepted (default 16).
	MaxShards int
	// TokenCheck is how often a session's token is re-checked with the
	// backend (default 1 min; also at the token's expiry): a token revoked
	// elsewhere or expired ends the session with 4004 within it.
	// Revocations through the service are pushed at once (CloseSessions).
	TokenCheck time.Duration
}

// withDefaults returns c with every unset field filled in.
func (c Config) withDefaults() Config {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Addr == "" && c.Listener == nil {
		c.Addr = "127.0.0.1:0"
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	defInt := func(d *int, v int) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.HeartbeatInterval, 41250*time.Millisecond)
	def(&c.HeartbeatGrace, c.HeartbeatInterval/2)
	def(&c.IdentifyTimeout, 10*time.Second)
	def(&c.ResumeWindow, 2*time.Minute)
	def(&c.IdentifyWindow, 5*time.Second)
	def(&c.WriteTimeout, 10*time.Second)
	def(&c.TokenCheck, time.Minute)
	defInt(&c.MaxFrame, 4096)
	defInt(&c.EventsPerMinute, 120)
	defInt(&c.IdentifyBurst, DefaultIdentifyBurst)
	defInt(&c.ReplayLimit, 1000)
	defInt(&c.ReplayBytes, 2<<20)
	defInt(&c.MaxShards, 16)
	c.Conns = c.Conns.WithDefaults(connlimit.Default)
	if c.AllowedPrivileged == nil {
		p := model.IntentsPrivileged
		c.AllowedPrivileged = &p
	}
	return c
}

// DefaultIdentifyBurst is Config.IdentifyBurst's default (the
// max_concurrency /gateway/bot advertises).
const DefaultIdentifyBurst = 16

// Validate checks required fields and ranges and reports the first problem
// (wrapping ErrConfig). It changes nothing: New applies the defaults
// before it validates.
func (c Config) Validate() error {
	switch {
	case c.Backend == nil:
		return fmt.Errorf("%w: no backend", ErrConfig)
	case c.HeartbeatInterval < 0, c.HeartbeatGrace < 0, c.ResumeWindow < 0, c.TokenCheck < 0, c.IdentifyTimeout < 0,
		c.IdentifyWindow < 0, c.WriteTimeout < 0:
		return fmt.Errorf("%w: negative duration", ErrConfig)
	case c.MaxFrame < 0, c.EventsPerMinute < 0, c.IdentifyBurst < 0, c.ReplayLimit < 0, c.ReplayBytes < 0, c.MaxShards < 0:
		return fmt.Errorf("%w: negative limit", ErrConfig)
	}
	return nil
}
