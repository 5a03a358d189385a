package rest

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/parleyhq/parley/chat/service"
)

// Config configures the REST API. New applies the defaults (withDefaults),
// then validates. A Limit with zero Requests takes its default; one with
// negative Requests is no limit.
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
	// Global is the per-caller global limit: per user, or per address
	// when unauthenticated (default DefaultGlobal).
	Global Limit
	// Routes overrides per-route limits by route name (e.g.
	// "POST /channels/{channel}/messages"); Default applies to others
	// (default 50 per second; message create 5 per 5 s per channel). An
	// entry with zero Requests keeps the route's default.
	Routes  map[string]Limit
	Default Limit
	// MaxBody is the largest request body (default 1 MiB), and the
	// largest payload_json of a multipart message.
	MaxBody int64
	// MaxFiles bounds the files of one message (default DefaultMaxFiles)
	// and MaxFileBytes each file's size (default DefaultMaxFileBytes); a
	// multipart message body may hold those, its payload_json and the
	// parts' headers. UploadTimeout bounds reading and answering such a
	// body (default 5 minutes) in place of ReadTimeout and WriteTimeout.
	MaxFiles      int
	MaxFileBytes  int64
	UploadTimeout time.Duration
	// SpoolDir is where a multipart message's files wait, one temporary
	// file each, from their arrival until the whole body was read and
	// checked and they are stored (default os.TempDir()); they are
	// removed when the request ends.
	SpoolDir string
	// Invalid limits 401/403/429 answers (and failed logins) per client
	// address (default DefaultInvalid, Discord's); beyond it every request
	// from that address gets 429.
	Invalid Limit
	// AuthPerIP limits the attempts to log in, register or change a
	// password per client address (default DefaultAuthPerIP); each costs
	// a deliberately slow password hash.
	AuthPerIP Limit
	// LoginFailures limits failed password checks per account name, from
	// any address (default DefaultLoginFailures; names are compared as
	// usernames are, and whether the account exists makes no difference).
	LoginFailures Limit
	// LimiterKeys caps the windows each limiter holds (default 65,536, a
	// few MB at most); see limiter.
	LimiterKeys int
	// The HTTP server's timeouts: ReadHeaderTimeout (default 10 s) bounds
	// reading a request's headers, ReadTimeout (default 30 s) the whole
	// request with its body, WriteTimeout (default 60 s) everything from
	// the end of the headers to the end of the answer, IdleTimeout
	// (default 2 min) a kept-alive connection between requests. So no
	// client holds a connection by sending slowly.
	ReadHeaderTimeout, ReadTimeout, WriteTimeout, IdleTimeout time.Duration
	// MaxHeaderBytes bounds a request's headers (default 32 KiB).
	MaxHeaderBytes int
	// MaxConnsPerIP caps the connections one client IP holds open
	// (default DefaultMaxConnsPerIP; negative: no cap); over it a
	// connection is closed at accept, before any read.
	MaxConnsPerIP int
}

// The default limits. Per-address limits count IPv6 addresses per /64.
var (
	// DefaultGlobal is Discord's global limit: 50 requests per second.
	DefaultGlobal = Limit{50, time.Second}
	// DefaultInvalid is Discord's: 10,000 invalid answers per 10 minutes.
	DefaultInvalid = Limit{10_000, 10 * time.Minute}
	// DefaultAuthPerIP is 30 logins, registrations or password changes per
	// 5 minutes per address: a household or an office NAT logs in far
	// less (tokens last weeks), a guesser gets 6 tries a minute.
	DefaultAuthPerIP = Limit{30, 5 * time.Minute}
	// DefaultLoginFailures is 10 failed password checks per 15 minutes per
	// account name, from anywhere.
	DefaultLoginFailures = Limit{10, 15 * time.Minute}
)

// Message attachment limits' defaults (Discord's count; its size for
// boosted servers).
const (
	DefaultMaxFiles     = 10
	DefaultMaxFileBytes = 25 << 20
	// maxFileBytes bounds Config.MaxFileBytes (so a body's limit cannot
	// overflow).
	maxFileBytes = 1 << 40
)

// DefaultMaxConnsPerIP is the default per-IP connection cap: a browser
// opens about six per host, a bot a few; a NAT of many users stays within
// it.
const DefaultMaxConnsPerIP = 128

const routeCreateMessage = "POST /channels/{channel}/messages"

// withDefaults returns c with every unset field filled in (Routes is a
// new map: the defaults overlaid with the entries of c.Routes that set
// Requests).
func (c Config) withDefaults() Config {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Addr == "" && c.Listener == nil {
		c.Addr = "127.0.0.1:0"
	}
	defLimit := func(l *Limit, def Limit) {
		if l.Requests == 0 {
			*l = def
		}
	}
	defLimit(&c.Global, DefaultGlobal)
	defLimit(&c.Default, Limit{50, time.Second})
	defLimit(&c.Invalid, DefaultInvalid)
	defLimit(&c.AuthPerIP, DefaultAuthPerIP)
	defLimit(&c.LoginFailures, DefaultLoginFailures)
	routes := map[string]Limit{routeCreateMessage: {5, 5 * time.Second}}
	for k, v := range c.Routes {
		if v.Requests != 0 { // zero: the route's default
			routes[k] = v
		}
	}
	c.Routes = routes
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.ReadHeaderTimeout, 10*time.Second)
	def(&c.ReadTimeout, 30*time.Second)
	def(&c.WriteTimeout, 60*time.Second)
	def(&c.IdleTimeout, 2*time.Minute)
	if c.LimiterKeys == 0 {
		c.LimiterKeys = 1 << 16
	}
	if c.MaxBody == 0 {
		c.MaxBody = 1 << 20
	}
	if c.MaxFiles == 0 {
		c.MaxFiles = DefaultMaxFiles
	}
	if c.MaxFileBytes == 0 {
		c.MaxFileBytes = DefaultMaxFileBytes
	}
	def(&c.UploadTimeout, 5*time.Minute)
	if c.SpoolDir == "" {
		c.SpoolDir = os.TempDir()
	}
	if c.MaxConcurrency == 0 {
		c.MaxConcurrency = 1
	}
	if c.MaxHeaderBytes == 0 {
		c.MaxHeaderBytes = 32 << 10
	}
	if c.MaxConnsPerIP == 0 {
		c.MaxConnsPerIP = DefaultMaxConnsPerIP
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
	case c.MaxBody < 0 || c.MaxConcurrency < 0 || c.LimiterKeys < 0 || c.MaxHeaderBytes < 0 || c.MaxFiles < 0 || c.MaxFileBytes < 0:
		return fmt.Errorf("%w: negative limit", ErrConfig)
	case c.MaxFiles > maxFileKey+1:
		return fmt.Errorf("%w: more than %d files per message", ErrConfig, maxFileKey+1)
	case c.MaxFileBytes > maxFileBytes:
		return fmt.Errorf("%w: files larger than %d bytes", ErrConfig, int64(maxFileBytes))
	case c.ReadHeaderTimeout < 0 || c.ReadTimeout < 0 || c.WriteTimeout < 0 || c.IdleTimeout < 0 || c.UploadTimeout < 0:
		return fmt.Errorf("%w: negative timeout", ErrConfig)
	}
	for _, l := range []Limit{c.Global, c.Default, c.Invalid, c.AuthPerIP, c.LoginFailures} {
		if l.Requests > 0 && l.Window <= 0 {
			return fmt.Errorf("%w: a limit without a window", ErrConfig)
		}
	}
	for route, l := range c.Routes {
		if l.Requests > 0 && l.Window <= 0 {
			return fmt.Errorf("%w: route %q: a limit without a window", ErrConfig, route)
		}
	}
	return nil
}
