package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sort"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/parleyhq/parley/chat"
	"github.com/parleyhq/parley/internal/cli"
	"github.com/parleyhq/parley/internal/datadir"
	"github.com/parleyhq/parley/internal/voicectl"
	"github.com/parleyhq/parley/mediaproxy"
)

// component is one part of `parley serve`. Components start in order of
// their order field and stop in reverse.
type component struct {
	name  string
	order int
	// flags defines the component's flags on the serve flag set.
	flags func(fs *flag.FlagSet)
	// bind, if set, runs for every selected component before any starts:
	// it binds the listeners whose public URLs others use from their
	// start on (the web origin's and the media proxy's, which chat signs
	// attachment URLs with), keeps them in env (keepListener) and
	// publishes the URLs; its start takes them over (takeListener).
	bind func(env *serveEnv) error
	// start starts the component; it reports its listeners' addresses (for
	// the ready JSON) and how to stop it.
	start func(ctx context.Context, env *serveEnv) (*running, error)
}

// running is a started component.
type running struct {
	addrs map[string]string
	stop  func(ctx context.Context) error
}

// serveEnv is what components share.
type serveEnv struct {
	dir     *datadir.Dir
	log     *slog.Logger
	tls     *tls.Config
	metrics *prometheus.Registry
	dev     bool
	// addrs holds the listeners started so far.
	addrs map[string]string
	// voice is set by the voice component for the control plane.
	voice voicectl.Controller
	// admission is what the voice gateway asks at every Identify and
	// Resume; the chat component points it at chat (voicectl.Admitter).
	admission *admissionProxy
	// chatModeration is chat's voice moderation (admin API), set by the
	// chat component.
	chatModeration voicectl.Controller
	// voiceEndpoint is the host:port clients put after wss:// .
	voiceEndpoint string
	// voiceFront serves the in-process voice node's gateway on the web
	// origin's /voice (nil: no voice node in this process).
	voiceFront http.Handler
	// voiceParticipants lists connected voice users (admin API).
	voiceParticipants func() []voicectl.Participant
	// chat and media are the running chat server and media proxy (nil
	// when they do not run), whose handlers the web origin serves.
	chat  *chat.Server
	media *mediaproxy.Server
	// public is --public-host: the addresses given out derive from it.
	public *publicHost
	// webBase is the web origin's public base URL; see webURL.
	webBase atomic.Pointer[string]
	// quit ends serve as SIGTERM does (a voice node asked to drain).
	quit context.CancelFunc
	// mediaBase is the media listener's public base URL
	// (--media-public-url, else http://ADDR), set once media runs; see
	// attachmentBase.
	mediaBase atomic.Pointer[string]
	// store is the data dir's attachment store, opened once and shared by
	// the media proxy and chat's attachments (mediaStore).
	store *mediaproxy.Store
	// selected is --only's set (empty: every component runs); see runs.
	selected map[string]bool
	// bound are the listeners components bound before any started (bind),
	// by component, until their start takes them; runServe closes those
	// left when it returns.
	bound map[string]net.Listener
}

// runs reports whether component name runs in this process (--only),
// which is known before any starts.
func (e *serveEnv) runs(name string) bool { return len(e.selected) == 0 || e.selected[name] }

// keepListener holds a listener a component bound (bind) for its start.
func (e *serveEnv) keepListener(name string, ln net.Listener) {
	if e.bound == nil {
		e.bound = map[string]net.Listener{}
	}
	e.bound[name] = ln
}

// takeListener hands a component the listener its bind kept (nil if none).
func (e *serveEnv) takeListener(name string) net.Listener {
	ln := e.bound[name]
	delete(e.bound, name)
	return ln
}

// closeBound closes the listeners bound but never taken (a start before
// theirs failed).
func (e *serveEnv) closeBound() {
	for name, ln := range e.bound {
		_ = ln.Close()
		delete(e.bound, name)
	}
}

// mediaStore opens the data dir's attachment store once; components call
// it from serve's goroutine while they start.
func (e *serveEnv) mediaStore() (*mediaproxy.Store, error) {
	if e.store == nil {
		st, err := mediaproxy.OpenStore(e.dir.Join("media"))
		if err != nil {
			return nil, err
		}
		e.store = st
	}
	return e.store, nil
}

// attachmentBase is where attachment URLs point, the prefix of
// /attachments/CHANNEL/ID/NAME: the web origin's /media when the web
// listener runs (the page then has no mixed content), else the media
// listener. Both are bound, and their URLs set, before any component
// starts (their bind), so chat signs the right URL from its first
// request on.
func (e *serveEnv) attachmentBase() string {
	if u := e.webURL(); u != "" {
		return u + "/media"
	}
	if p := e.mediaBase.Load(); p != nil {
		return *p
	}
	return ""
}

// webURL is the web origin's public base URL, "https://HOST:PORT" (no
// trailing slash; HOST is --public-host when set), or "" when the web
// listener does not run. The web component's bind sets it, with the
// port its listener was bound to, before any component starts: chat (20)
// serves requests from its start on, before the web origin (40) starts,
// and signs attachment URLs as webURL()+"/media/attachments/...".
func (e *serveEnv) webURL() string {
	if p := e.webBase.Load(); p != nil {
		return *p
	}
	return ""
}

var components []*component

func registerComponent(c *component) { components = append(components, c) }

func init() {
	register(&command{name: "serve", summary: "run every component on one machine", run: runServe})
}

func newLogger(level string, w io.Writer) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}))
}

func runServe(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	dataDir := cli.DataDir(fs)
	tlsCert := cli.String(fs, "tls-cert", "PARLEY_TLS_CERT", "", "TLS certificate PEM (default: self-signed in the data dir)")
	tlsKey := cli.String(fs, "tls-key", "PARLEY_TLS_KEY", "", "TLS private key PEM")
	metricsAddr := cli.String(fs, "metrics-addr", "PARLEY_METRICS_ADDR", "127.0.0.1:9090", "Prometheus /metrics listen address")
	logLevel := cli.String(fs, "log-level", "PARLEY_LOG_LEVEL", "info", "debug, info, warn or error")
	dev := cli.Bool(fs, "dev", "PARLEY_DEV", false, "development defaults: the deprecated voice encryption modes are offered (discordgo v0.29.0 needs them); make run passes it")
	only := cli.String(fs, "only", "PARLEY_ONLY", "", "comma-separated components to run (default all)")
	shutdown := cli.Duration(fs, "shutdown-timeout", "PARLEY_SHUTDOWN_TIMEOUT", 10*time.Second, "graceful shutdown limit")
	public := definePublicHost(fs)
	defineFleetFlags(fs)
	sort.SliceStable(components, func(i, j int) bool { return components[i].order < components[j].order })
	for _, c := range components {
		if c.flags != nil {
			c.flags(fs)
		}
	}
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	if err := public.check(); err != nil {
		return err
	}
	log := newLogger(*logLevel, os.Stderr)
	dir, err := datadir.Open(*dataDir)
	if err != nil {
		return err
	}
	if was, ok := dir.Tightened(); ok {
		log.Warn("data dir was open to other users; tightened to 0700", "path", dir.Path(), "was", was.String())
	}
	if *dev {
		log.Warn("development defaults (--dev): the deprecated voice encryption modes are offered")
	}
	if moved := public.openListeners(fs); len(moved) > 0 {
		log.Info("public host: these listeners listen on all interfaces", "public_host", public.name(), "flags", moved)
	}
	tcfg, err := dir.TLSConfig(*tlsCert, *tlsKey, public.hosts...)
	if err != nil {
		return err
	}
	if leaf := tcfg.Certificates[0].Leaf; *tlsCert != "" && leaf != nil {
		for _, h := range public.hosts {
			if leaf.VerifyHostname(h) != nil {
				log.Warn("--tls-cert does not name a --public-host: browsers will refuse it there", "host", h)
			}
		}
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	selected := map[string]bool{}
	for _, n := range splitComma(*only) {
		selected[n] = true
	}
	ctx, quit := context.WithCancel(ctx)
	defer quit()
	env := &serveEnv{dir: dir, log: log, tls: tcfg, metrics: reg, dev: *dev, addrs: map[string]string{}, admission: &admissionProxy{},
		public: public, selected: selected, quit: quit}
	_ = dir.RemoveReady()

	defer env.closeBound()
	for _, c := range components {
		if env.runs(c.name) && c.bind != nil {
			if err := c.bind(env); err != nil {
				return fmt.Errorf("%s: %w", c.name, err)
			}
		}
	}
	var started []*running
	stopAll := func() {
		sctx, cancel := context.WithTimeout(context.Background(), *shutdown)
		defer cancel()
		for i := len(started) - 1; i >= 0; i-- {
			if started[i].stop != nil {
				if err := started[i].stop(sctx); err != nil {
					log.Warn("stop", "err", err)
				}
			}
		}
	}
	for _, c := range components {
		if !env.runs(c.name) {
			continue
		}
		r, err := c.start(ctx, env)
		if err != nil {
			stopAll()
			return fmt.Errorf("%s: %w", c.name, err)
		}
		started = append(started, r)
		for k, v := range r.addrs {
			env.addrs[k] = v
		}
	}

	ml, err := net.Listen("tcp", *metricsAddr)
	if err != nil {
		stopAll()
		return fmt.Errorf("metrics: %w", err)
	}
	msrv := startHTTP(ml, promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), defaultHTTPTimeouts, log)
	env.addrs["metrics"] = ml.Addr().String()

	ready := map[string]any{"ready": true, "data_dir": dir.Path(), "cert": dir.CertPath(), "pid": os.Getpid()}
	for k, v := range env.addrs {
		ready[k] = v
	}
	if err := dir.WriteReady(ready); err != nil {
		stopAll()
		return err
	}
	if err := cli.PrintJSON(stdout, ready); err != nil {
		log.Warn("stdout", "err", err)
	}
	log.Info("ready", "addrs", env.addrs)
	if u := env.addrs["web_url"]; u != "" {
		// The last start-up line: what a newcomer does next (make run).
		hint := ""
		if *tlsCert == "" {
			hint = " (its certificate is the data dir's self-signed one: the browser asks you to accept it once)"
		}
		fmt.Fprintf(stdout, "open %s in a browser%s\n", u, hint)
	}

	<-ctx.Done()
	log.Info("shutting down")
	_ = dir.RemoveReady()
	sctx, cancel := context.WithTimeout(context.Background(), *shutdown)
	_ = msrv.close(sctx)
	cancel()
	stopAll()
	return nil
}

func splitComma(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ',' {
			if i > start {
				out = append(out, s[start:i])
			}
			start = i + 1
		}
	}
	return out
}

// errNoServer is returned by client subcommands when ready.json is missing.
var errNoServer = errors.New("no running server found in the data dir; start `parley serve --data-dir DIR` first")

// readyAddr is the address of the running server's listener name. With no
// server the error is errNoServer alone (datadir.ErrNotReady would say the
// same again); a server without that listener says so.
func readyAddr(dir *datadir.Dir, name string) (string, error) {
	addr, err := dir.ReadyAddr(name)
	switch {
	case err == nil:
		return addr, nil
	case errors.Is(err, datadir.ErrNotReady):
		return "", errNoServer
	case errors.Is(err, datadir.ErrNoListener):
		return "", err
	}
	return "", fmt.Errorf("%w (%v)", errNoServer, err) // ready.json unreadable
}

// admissionProxy is the voice gateway's Admitter in `parley serve`: the
// voice component starts before chat, so it holds the control plane that
// chat sets once it runs. Without chat (--only voice) every guild is
// unmanaged and the token alone admits.
type admissionProxy struct {
	target atomic.Pointer[voicectl.Admitter]
}

func (p *admissionProxy) set(a voicectl.Admitter) { p.target.Store(&a) }

// Admit asks the control plane, if one is set.
func (p *admissionProxy) Admit(ctx context.Context, s voicectl.Session) (voicectl.Moderation, error) {
	if a := p.target.Load(); a != nil {
		return (*a).Admit(ctx, s)
	}
	return voicectl.Moderation{}, voicectl.ErrNotManaged
}
