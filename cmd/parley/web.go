package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/parleyhq/parley/internal/cli"
	"github.com/parleyhq/parley/web"
)

// The web origin: one HTTPS listener serving the browser client and, on
// the same origin and in-process, chat's REST API (/api), chat's gateway
// (/gateway), the voice node's gateway (/voice) and the media proxy's
// public routes (/media/). Its listener
// is bound before any component starts (its URL is in attachment URLs);
// it starts after chat and media (it serves their handlers) and before
// admin.
func init() {
	var addr *string
	var maxConns *int
	registerComponent(&component{
		name:  "web",
		order: 40,
		flags: func(fs *flag.FlagSet) {
			addr = cli.String(fs, "web-addr", "PARLEY_WEB_ADDR", "127.0.0.1:8443", `web client (HTTPS: the page, /api, /gateway, /media) listen address; "" disables it`)
			maxConns = cli.Int(fs, "web-max-conns-per-ip", "PARLEY_WEB_MAX_CONNS_PER_IP", web.DefaultMaxConnsPerIP,
				"web origin connections one client IP may hold open, WebSockets included (-1: no cap)")
		},
		bind: func(env *serveEnv) error {
			if *addr == "" {
				return nil
			}
			return bindWeb(env, *addr)
		},
		start: func(ctx context.Context, env *serveEnv) (*running, error) {
			ln := env.takeListener("web")
			if ln == nil { // --web-addr ""
				return &running{}, nil
			}
			return startWeb(ctx, env, ln, *maxConns)
		},
	})
}

// bindWeb binds the web listener before any component starts and sets
// the origin's public URL from its port (webURL): chat, which starts
// before the origin, signs attachment URLs with it.
func bindWeb(env *serveEnv, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", addr, err)
	}
	env.keepListener("web", ln)
	base := "https://" + env.public.hostPort(ln.Addr().String())
	env.webBase.Store(&base)
	return nil
}

// startWeb serves the origin on ln (bindWeb's), which it owns from here.
func startWeb(ctx context.Context, env *serveEnv, ln net.Listener, maxConns int) (*running, error) {
	cfg := web.Config{Logger: env.log.With("component", "web"), Listener: ln, TLS: env.tls, MaxConnsPerIP: maxConns}
	// Typed nils must not reach the interfaces: a component that does not
	// run leaves its handler nil (503).
	if env.chat != nil {
		cfg.API, cfg.Gateway = env.chat.API, env.chat.Gateway
	}
	if env.media != nil {
		cfg.Media = env.media
	}
	if env.voiceFront != nil {
		cfg.Voice, cfg.VoiceEndpoint = env.voiceFront, env.voiceEndpoint
	}
	if ep, _, _ := strings.Cut(env.voiceEndpoint, "/"); ep != "" { // host:port[/path]
		cfg.ConnectSrc = []string{"wss://" + ep}
	}
	o, err := web.New(cfg)
	if err != nil {
		return nil, err
	}
	if err := o.Start(ctx); err != nil {
		_ = o.Close(ctx)
		return nil, err
	}
	if env.metrics != nil {
		env.metrics.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "parley_web_refused_connections_total",
			Help: "Web origin connections closed at accept: over the per-IP cap."}, func() float64 { return float64(o.Refused()) }))
	}
	return &running{addrs: map[string]string{"web": o.Addr(), "web_url": env.webURL() + "/"}, stop: o.Close}, nil
}

// publicHostPort is the host:port clients use for a listener bound to
// addr: host with addr's port, or addr itself, with an unspecified IP
// (0.0.0.0, ::) replaced by 127.0.0.1.
func publicHostPort(host, addr string) string {
	h, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if host == "" {
		host = h
		if ip := net.ParseIP(h); h == "" || ip != nil && ip.IsUnspecified() {
			host = "127.0.0.1"
		}
	}
	return net.JoinHostPort(host, port)
}
