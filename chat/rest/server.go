package rest

import (
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/parleyhq/parley/chat/model"
	"github.com/parleyhq/parley/chat/service"
)

// Config configures the REST API.
type Config struct {
	Service *service.Service
	Log     *slog.Logger
	// GatewayURL is what /gateway returns, e.g. "ws://127.0.0.1:4001".
	GatewayURL string
	// MaxConcurrency is advertised in /gateway/bot (identifies per 5 s).
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
	// Invalid limits 401/403/429 answers per client IP (default 10,000 per
	// 10 minutes, Discord's); beyond it every request from that IP gets 429.
	Invalid Limit
}

// Validate checks the configuration.
func (c Config) Validate() error {
	if c.Service == nil || c.Log == nil || c.GatewayURL == "" {
		return fmt.Errorf("%w: service, log and gateway url are required", ErrConfig)
	}
	return nil
}

// Server is the REST handler.
type Server struct {
	cfg Config
	mux *http.ServeMux
	lim *limiter
}

const routeCreateMessage = "POST /channels/{channel}/messages"

// New returns the handler.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Global.Requests == 0 {
		cfg.Global = Limit{50, time.Second}
	}
	if cfg.Default.Requests == 0 {
		cfg.Default = Limit{50, time.Second}
	}
	routes := map[string]Limit{routeCreateMessage: {5, 5 * time.Second}}
	for k, v := range cfg.Routes {
		routes[k] = v
	}
	cfg.Routes = routes
	if cfg.Invalid.Requests == 0 {
		cfg.Invalid = Limit{10_000, 10 * time.Minute}
	}
	if cfg.MaxBody == 0 {
		cfg.MaxBody = 1 << 20
	}
	if cfg.MaxConcurrency == 0 {
		cfg.MaxConcurrency = 1
	}
	s := &Server{cfg: cfg, mux: http.NewServeMux(), lim: newLimiter()}
	s.routes()
	return s, nil
}

// ServeHTTP serves /api/v10/... and /api/v9/... (and /api/... unversioned).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	switch {
	case strings.HasPrefix(p, "/api/v10/"):
		p = p[len("/api/v10"):]
	case strings.HasPrefix(p, "/api/v9/"):
		p = p[len("/api/v9"):]
	case strings.HasPrefix(p, "/api/"):
		p = p[len("/api"):]
	default:
		writeError(w, errNotFound)
		return
	}
	r2 := r.Clone(r.Context())
	r2.URL.Path, r2.URL.RawPath = p, ""
	r2.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBody)
	if _, pattern := s.mux.Handler(r2); pattern == "" {
		writeError(w, errNotFound)
		return
	}
	s.mux.ServeHTTP(w, r2)
}

// ctx carries the authenticated caller.
type call struct {
	w    http.ResponseWriter
	r    *http.Request
	user model.User
}

type handler func(c *call) (int, any, error)

// handle registers a route with auth and rate limiting.
func (s *Server) handle(pattern string, auth bool, major string, h handler) {
	bucket := bucketHash(pattern)
	lim, ok := s.cfg.Routes[pattern]
	if !ok {
		lim = s.cfg.Default
	}
	s.mux.HandleFunc(pattern, func(w0 http.ResponseWriter, r *http.Request) {
		ip := clientIP(r)
		now := time.Now()
		if reset, banned := s.lim.exhausted("invalid:"+ip, s.cfg.Invalid, now); banned {
			tooMany(w0, reset, now, true)
			return
		}
		w := &statusWriter{ResponseWriter: w0}
		defer func() {
			if w.status == http.StatusUnauthorized || w.status == http.StatusForbidden || w.status == http.StatusTooManyRequests {
				s.lim.take("invalid:"+ip, s.cfg.Invalid, now)
			}
		}()
		c := &call{w: w, r: r}
		caller := ip
		if auth {
			u, err := s.cfg.Service.Authenticate(r.Context(), r.Header.Get("Authorization"))
			if err != nil {
				s.fail(w, err)
				return
			}
			c.user, caller = u, u.ID.String()
		}
		if _, reset, ok := s.lim.take("global:"+caller, s.cfg.Global, now); !ok {
			tooMany(w, reset, now, true)
			return
		}
		key := bucket + ":" + r.PathValue(major) + ":" + caller
		remaining, reset, ok := s.lim.take(key, lim, now)
		setHeaders(w.Header(), lim, remaining, reset, now, bucket)
		if !ok {
			tooMany(w, reset, now, false)
			return
		}
		status, body, err := h(c)
		if err != nil {
			s.fail(w, err)
			return
		}
		if status == http.StatusNoContent {
			w.WriteHeader(status)
			return
		}
		writeJSON(w, status, body)
	})
}

// statusWriter records the status code for the invalid-request limit.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func clientIP(r *http.Request) string {
	host := r.RemoteAddr
	if i := strings.LastIndexByte(host, ':'); i > 0 {
		host = host[:i]
	}
	return host
}

func (s *Server) fail(w http.ResponseWriter, err error) {
	var ae apiError
	if errors.As(err, &ae) {
		writeError(w, ae)
		return
	}
	e, known := toAPIError(err)
	if !known {
		s.cfg.Log.Error("rest", "err", err)
	}
	writeError(w, e)
}

func (e apiError) Error() string { return e.Message }

// decode reads a JSON body into v.
func decode(c *call, v any) error {
	b, err := io.ReadAll(c.r.Body)
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return errTooLarge
	}
	if err != nil {
		return errBadJSON
	}
	if len(b) == 0 {
		b = []byte("{}")
	}
	if err := json.Unmarshal(b, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return formError(te.Field, "BASE_TYPE_BAD_TYPE", "Invalid type.")
		}
		return errBadJSON
	}
	return nil
}

func pathID(c *call, name string) (model.Snowflake, error) {
	v := c.r.PathValue(name)
	if v == "@me" {
		return c.user.ID, nil
	}
	id, err := model.ParseSnowflake(v)
	if err != nil {
		return 0, formError(name+"_id", "NUMBER_TYPE_COERCE", fmt.Sprintf("Value %q is not snowflake.", v))
	}
	return id, nil
}

func (s *Server) adminOK(r *http.Request) bool {
	if len(s.cfg.AdminKey) == 0 {
		return false
	}
	v, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Admin ")
	if !ok {
		return false
	}
	k, err := hex.DecodeString(v)
	return err == nil && subtle.ConstantTimeCompare(k, s.cfg.AdminKey) == 1
}
