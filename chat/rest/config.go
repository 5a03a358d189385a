package rest

import (
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/parleyhq/parley/chat/service"
)

// Config configures the REST API. New applies the defaults (withDefaults),
// then validates.
type Config struct {
	// Service is the chat logic the routes call (required).
	Service *service.Service
	// Logger receives structured logs; nil discards them.
	Logger *slog.Logger
	// Addr is the listen address New binds (port 0 picks one; default
	// "127.0.0.1:0"). Ignored when Listener is set.
	Addr string
	// Listener, if set, is used instead of binding Addr. The server owns
	// it from New on: Close closes it, and so does a New that fails.
	Listener net.Listener
	// GatewayURL is what /gateway returns, e.g. "ws://127.0.0.1:4001"
	// (required).
	GatewayURL string
	// MaxConcurrency is advertised in /gateway/bot (identifies per 5 s;
	// default 1).
	MaxConcurrency int
	// AdminKey authorises the local admin routes ("Admin <hex>"); empty
	// disables them.
	AdminKey []byte
	// Global is the per-caller global limit (default 50 per second).
	Global Limit
	// Routes overrides per-route limits by route name (e.g.
	// "POST /channels/{channel}/messages"); Default applies to others
	// (default 50 per second; message create 5 per 5 s per channel).
	Routes  map[string]Limit
	Default Limit
	// MaxBody is the largest request body (default 1 MiB).
	MaxBody int64
	// Invalid limits 401/403/429 answers (and failed logins) per client
	// address (default 10,000 per 10 minutes, Discord's); beyond it every
	// request from that address gets 429. IPv6 addresses count per /64.
	Invalid Limit
	// AuthPerIP limits the attempts to log in, register or change a
	// password per client address (default 30 per 5 minutes); each costs
	// a deliberately slow password hash.
	AuthPerIP Limit
	// LoginFailures limits failed password checks per account name, from
	// any address (default 10 per 15 minutes; names are compared as
	// usernames are, and whether the account exists makes no difference).
	LoginFailures Limit
	// LimiterKeys caps the windows each limiter (global, route, invalid)
	// holds (default 65,536, a few MB at most); see limiter.
	LimiterKeys int
	// ReadHeaderTimeout (default 10 s) and IdleTimeout (default 2 min)
	// tune the HTTP server.
	ReadHeaderTimeout, IdleTimeout time.Duration
}

const routeCreateMessage = "POST /channels/{channel}/messages"

// withDefaults returns c with every unset field filled in (Routes is a
// new map: the defaults overlaid with c.Routes).
func (c Config) withDefaults() Config {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Addr == "" && c.Listener == nil {
		c.Addr = "127.0.0.1:0"
	}
	if c.Global.Requests == 0 {
		c.Global = Limit{50, time.Second}
	}
	if c.Default.Requests == 0 {
		c.Default = Limit{50, time.Second}
	}
	routes := map[string]Limit{routeCreateMessage: {5, 5 * time.Second}}
	for k, v := range c.Routes {
		routes[k] = v
	}
	c.Routes = routes
	if c.Invalid.Requests == 0 {
		c.Invalid = Limit{10_000, 10 * time.Minute}
	}
	if c.AuthPerIP.Requests == 0 {
		c.AuthPerIP = Limit{30, 5 * time.Minute}
	}
	if c.LoginFailures.Requests == 0 {
		c.LoginFailures = Limit{10, 15 * time.Minute}
	}
	if c.LimiterKeys == 0 {
		c.LimiterKeys = 1 << 16
	}
	if c.MaxBody == 0 {
		c.MaxBody = 1 << 20
	}
	if c.MaxConcurrency == 0 {
		c.MaxConcurrency = 1
	}
	if c.ReadHeaderTimeout == 0 {
		c.ReadHeaderTimeout = 10 * time.Second
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = 2 * time.Minute
	}
	return c
}

// Validate checks the configuration and reports the first problem
// (wrapping ErrConfig). It changes nothing: New applies the defaults
// before it validates.
func (c Config) Validate() error {
	switch {
	case c.Service == nil:
		return fmt.Errorf("%w: no service", ErrConfig)
	case c.GatewayURL == "":
		return fmt.Errorf("%w: no gateway url", ErrConfig)
	case c.MaxBody < 0 || c.MaxConcurrency < 0 || c.LimiterKeys < 0:
		return fmt.Errorf("%w: negative limit", ErrConfig)
	}
	return nil
}
