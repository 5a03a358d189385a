package web

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// Config configures an Origin. New applies the defaults (withDefaults),
// then validates.
type Config struct {
	// Logger receives structured logs; nil discards them.
	Logger *slog.Logger
	// Addr is the listen address New binds (port 0 picks one; default
	// "127.0.0.1:0"). Ignored when Listener is set.
	Addr string
	// Listener, if set, is used instead of binding Addr. The origin owns
	// it from New on: Close closes it, and so does a New that fails.
	Listener net.Listener
	// TLS holds the certificate (required). The origin uses a copy that
	// offers HTTP/2 and HTTP/1.1 (ALPN); WebSockets use HTTP/1.1.
	TLS *tls.Config
	// MaxConnsPerIP caps the connections one client IP holds open to the
	// origin, WebSockets included (default DefaultMaxConnsPerIP; negative:
	// no cap); over it a connection is closed at accept, before the TLS
	// handshake.
	MaxConnsPerIP int
	// Files serves the page and its modules (default: NewFiles(FS,
	// ConnectSrc...)).
	Files http.Handler
	// ConnectSrc are the sources the default Files lets the page connect
	// to besides its origin (the voice gateway's wss:// URL).
	ConnectSrc []string
	// API serves /api/... (chat's REST handler, which strips /api/v10 and
	// /api/v9 itself); Gateway serves /gateway (chat's gateway, which
	// adopts the WebSocket); Media serves the media proxy's public routes,
	// GET and HEAD of /attachments/... and /external/..., which the origin
	// passes on from /media/attachments/... and /media/external/... with
	// /media stripped (never its upload route or /metrics). A nil handler
	// answers 503: that component does not run in this process.
	API, Gateway, Media http.Handler
	// Voice serves /voice (the in-process voice node's gateway, which
	// adopts the WebSocket: voicenode.Node.ServeHTTP), and VoiceEndpoint
	// is that node's public host:port, the endpoint VOICE_SERVER_UPDATE
	// names: GET /voice answers {"endpoint": VoiceEndpoint} so the page
	// connects through /voice for it (same certificate as the page) and
	// to any other endpoint (another node of a fleet) directly. A nil
	// Voice answers 503.
	Voice         http.Handler
	VoiceEndpoint string
	// The HTTP server's timeouts: ReadHeaderTimeout (default 10 s) bounds
	// reading a request's headers (and the TLS handshake), ReadTimeout
	// (default 2 min) the whole request with its body (attachments),
	// WriteTimeout (default 2 min) the answer, IdleTimeout (default 2 min)
	// a kept-alive connection between requests. A WebSocket clears them:
	// the gateway bounds its own reads and writes.
	ReadHeaderTimeout, ReadTimeout, WriteTimeout, IdleTimeout time.Duration
	// MaxHeaderBytes bounds a request's headers (default 32 KiB; more is
	// answered 431).
	MaxHeaderBytes int
}

// DefaultMaxConnsPerIP is Config.MaxConnsPerIP's default: a browser holds
// one HTTP/2 connection and one per WebSocket (a few with HTTP/1.1), so a
// NAT of many users stays well within it.
const DefaultMaxConnsPerIP = 256

// withDefaults returns c with every unset field filled in.
func (c Config) withDefaults() Config {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Addr == "" && c.Listener == nil {
		c.Addr = "127.0.0.1:0"
	}
	if c.MaxConnsPerIP == 0 {
		c.MaxConnsPerIP = DefaultMaxConnsPerIP
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.ReadHeaderTimeout, 10*time.Second)
	def(&c.ReadTimeout, 2*time.Minute)
	def(&c.WriteTimeout, 2*time.Minute)
	def(&c.IdleTimeout, 2*time.Minute)
	if c.MaxHeaderBytes == 0 {
		c.MaxHeaderBytes = 32 << 10
	}
	return c
}

// Validate checks required fields and ranges and reports the first problem
// (wrapping ErrConfig). It changes nothing: New applies the defaults
// before it validates.
func (c Config) Validate() error {
	switch {
	case c.TLS == nil || len(c.TLS.Certificates) == 0 && c.TLS.GetCertificate == nil:
		return fmt.Errorf("%w: no TLS certificate", ErrConfig)
	case c.ReadHeaderTimeout < 0, c.ReadTimeout < 0, c.WriteTimeout < 0, c.IdleTimeout < 0:
		return fmt.Errorf("%w: negative timeout", ErrConfig)
	case c.MaxHeaderBytes < 0:
		return fmt.Errorf("%w: negative MaxHeaderBytes", ErrConfig)
	}
	for _, s := range c.ConnectSrc {
		if !validSource(s) {
			return fmt.Errorf("%w: connect-src %q is not wss:// or https:// and a host", ErrConfig, s)
		}
	}
	return nil
}
