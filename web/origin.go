package web

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/parleyhq/parley/internal/connlimit"
	"github.com/parleyhq/parley/internal/httpserve"
)

// Origin is the web origin: one TLS listener, served by net/http (HTTP/2
// and HTTP/1.1), routing each request to the handler it was given:
//
//	/gateway                  Gateway (a WebSocket; upgrades elsewhere get 404)
//	/voice, /voice/           Voice (a WebSocket to the voice node's gateway);
//	                          GET answers {"endpoint": VoiceEndpoint}
//	/api/...                  API; GET /api[/v9|/v10]/gateway answers this
//	                          origin's own wss://HOST/gateway
//	/media/attachments/...    Media, GET and HEAD only, /media stripped;
//	/media/external/...       every other /media/ path is 404
//	anything else             Files (the page, its modules, 404)
//
// New binds the listener (wrapped by connlimit: Config.MaxConnsPerIP per
// client address, checked before the TLS handshake), Start serves it,
// Close shuts it down (internal/httpserve). Goroutines: the serving
// goroutine (Start) and one per connection (net/http's), which Close waits
// for; a hijacked WebSocket's goroutines belong to the gateway (chat's or
// the voice node's), whose own Close waits for them.
type Origin struct {
	cfg   Config
	files http.Handler
	ln    *connlimit.Listener
	srv   *httpserve.Server // serves ln through TLS
}

// New applies the defaults to cfg, validates it, reads the client's files
// and binds the listener (Addr reports it). Nothing is served until Start.
func New(cfg Config) (*Origin, error) {
	cfg = cfg.withDefaults()
	fail := func(err error) (*Origin, error) {
		if cfg.Listener != nil {
			_ = cfg.Listener.Close()
		}
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return fail(err)
	}
	files := cfg.Files
	if files == nil {
		f, err := NewFiles(FS, cfg.ConnectSrc...)
		if err != nil {
			return fail(err)
		}
		files = f
	}
	ln := cfg.Listener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", cfg.Addr); err != nil {
			return nil, fmt.Errorf("web: listen %s: %w", cfg.Addr, err)
		}
	}
	o := &Origin{cfg: cfg, files: files, ln: connlimit.Wrap(ln, connlimit.Config{PerIP: max(0, cfg.MaxConnsPerIP)})}
	tcfg := cfg.TLS.Clone()
	tcfg.NextProtos = []string{"h2", "http/1.1"}
	tcfg.MinVersion = max(tcfg.MinVersion, tls.VersionTLS12)
	srv, err := httpserve.New(httpserve.Config{
		Handler: o, Listener: tls.NewListener(o.ln, tcfg), Name: "web", Logger: cfg.Logger,
		ErrClosed: ErrClosed, ErrStarted: ErrStarted,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout, ReadTimeout: cfg.ReadTimeout, WriteTimeout: cfg.WriteTimeout,
		IdleTimeout: cfg.IdleTimeout, MaxHeaderBytes: cfg.MaxHeaderBytes,
	})
	if err != nil {
		_ = ln.Close()
		return nil, err
	}
	o.srv = srv
	return o, nil
}

// Addr is the bound listen address (host:port).
func (o *Origin) Addr() string { return o.ln.Addr().String() }

// Refused counts connections closed at accept for the per-IP cap.
func (o *Origin) Refused() uint64 { return o.ln.Rejections().PerIP }

// Start serves HTTPS on the bound listener until Close; it returns at
// once.
func (o *Origin) Start(ctx context.Context) error { return o.srv.Start(ctx) }

// Close stops accepting, lets requests in flight finish (bounded by ctx;
// then the remaining connections are closed) and waits for the serving
// goroutine and every connection's. WebSockets handed to the gateway are
// the gateway's to close. It returns ctx's error if the graceful part was
// cut short, and is idempotent.
func (o *Origin) Close(ctx context.Context) error { return o.srv.Close(ctx) }

// ServeHTTP routes one request (see Origin).
func (o *Origin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	p := r.URL.Path
	switch {
	case p == "/gateway":
		serveOr(w, r, o.cfg.Gateway, "chat")
	case p == "/voice" || p == "/voice/":
		o.voice(w, r)
	case isUpgrade(r):
		httpserve.WriteError(w, http.StatusNotFound, "404: Not Found (WebSocket connections go to /gateway and /voice/)")
	case p == "/api" || strings.HasPrefix(p, "/api/"):
		if (r.Method == http.MethodGet || r.Method == http.MethodHead) && isGatewayURL(p) && validHost(r.Host) {
			writeJSON(w, http.StatusOK, map[string]string{"url": "wss://" + r.Host + "/gateway"})
			return
		}
		serveOr(w, r, o.cfg.API, "chat")
	case strings.HasPrefix(p, "/media/"):
		o.media(w, r)
	default:
		o.files.ServeHTTP(w, r)
	}
}

// isGatewayURL reports whether p is REST's GET /gateway (the URL a client
// connects to), which the origin answers with its own.
func isGatewayURL(p string) bool {
	return p == "/api/gateway" || p == "/api/v10/gateway" || p == "/api/v9/gateway"
}

// isUpgrade reports whether r asks for a protocol upgrade (WebSocket).
func isUpgrade(r *http.Request) bool { return r.Header.Get("Upgrade") != "" }

// voice passes a WebSocket to the voice node and answers GET with the
// endpoint it fronts (see Config.Voice).
func (o *Origin) voice(w http.ResponseWriter, r *http.Request) {
	switch {
	case o.cfg.Voice == nil:
		notRunning(w, "voice")
	case isUpgrade(r):
		o.cfg.Voice.ServeHTTP(w, r)
	case r.Method != http.MethodGet && r.Method != http.MethodHead:
		w.Header().Set("Allow", "GET, HEAD")
		httpserve.WriteError(w, http.StatusMethodNotAllowed, "405: Method Not Allowed")
	default:
		b, _ := json.Marshal(map[string]string{"endpoint": o.cfg.VoiceEndpoint})
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "private, max-age=60")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(b)
	}
}

// media passes the media proxy's public routes on. Its answers are
// user content on the page's origin: the media proxy gives each its
// sandboxing Content-Security-Policy (mediaproxy.AttachmentCSP, the one
// definition; what the origin set here was overwritten), and the origin
// lets only the page embed them.
func (o *Origin) media(w http.ResponseWriter, r *http.Request) {
	rest := r.URL.Path[len("/media"):]
	if (r.Method != http.MethodGet && r.Method != http.MethodHead) ||
		!strings.HasPrefix(rest, "/attachments/") && !strings.HasPrefix(rest, "/external/") {
		httpserve.WriteError(w, http.StatusNotFound, "404: Not Found")
		return
	}
	if o.cfg.Media == nil {
		notRunning(w, "media")
		return
	}
	h := w.Header()
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("Referrer-Policy", "no-referrer")
	http.StripPrefix("/media", o.cfg.Media).ServeHTTP(w, r)
}

func serveOr(w http.ResponseWriter, r *http.Request, h http.Handler, component string) {
	if h == nil {
		notRunning(w, component)
		return
	}
	h.ServeHTTP(w, r)
}

func notRunning(w http.ResponseWriter, component string) {
	httpserve.WriteError(w, http.StatusServiceUnavailable, component+" does not run in this process")
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
