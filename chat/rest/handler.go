package rest

import (
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/parleyhq/parley/chat/model"
	"github.com/parleyhq/parley/chat/service"
	"github.com/parleyhq/parley/internal/connlimit"
)

// call is one request and its caller.
type call struct {
	w    http.ResponseWriter
	r    *http.Request
	addr netip.Addr // the caller's address as the limits see it (connlimit.ClientIP)
	// auth and user are the authenticated caller (routes with auth).
	auth model.Auth
	user model.User
	// invalid counts the request against the invalid-request limit
	// whatever its status (a failed login answers 400).
	invalid bool
}

type handler func(c *call) (int, any, error)

// handle registers a route with auth and rate limiting. Every limit is
// keyed on parsed values (limKey): the caller (user id, or address when
// unauthenticated), the route, and the route's major parameter parsed as a
// canonical id; a major parameter that is not one answers 404 before any
// route window exists for it.
func (s *Server) handle(pattern string, auth bool, major string, h handler) {
	bucket := bucketHash(pattern)
	s.routeCount++
	route := s.routeCount
	lim, ok := s.cfg.Routes[pattern]
	if !ok {
		lim = s.cfg.Default
	}
	s.mux.HandleFunc(pattern, func(w0 http.ResponseWriter, r *http.Request) {
		// The per-address limits key on the client as the connection caps
		// count it: IPv4, or an IPv6 /64 (one host usually holds a whole
		// /64, so one address each would be no limit).
		addr := connlimit.ClientIP(r.RemoteAddr)
		now := time.Now()
		byAddr := limKey{addr: addr}
		if reset, banned := s.invalid.exhausted(byAddr, s.cfg.Invalid, now); banned {
			tooMany(w0, reset, now, true)
			return
		}
		w := &statusWriter{ResponseWriter: w0}
		c := &call{w: w, r: r, addr: addr}
		defer func() {
			if c.invalid || w.status == http.StatusUnauthorized || w.status == http.StatusForbidden || w.status == http.StatusTooManyRequests {
				s.invalid.take(byAddr, s.cfg.Invalid, now)
			}
		}()
		caller := byAddr
		if auth {
			a, err := s.cfg.Service.Authenticate(r.Context(), r.Header.Get("Authorization"))
			if err != nil {
				s.fail(w, err)
				return
			}
			c.auth, c.user, caller = a, a.User, limKey{user: a.User.ID}
		}
		if _, reset, ok := s.global.take(caller, s.cfg.Global, now); !ok {
			tooMany(w, reset, now, true)
			return
		}
		key := caller
		key.route = route
		if major != "" {
			id, err := model.ParseSnowflake(r.PathValue(major))
			if err != nil {
				writeError(w, unknownParam(major))
				return
			}
			key.major = id
		}
		remaining, reset, ok := s.perRoute.take(key, lim, now)
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

// Unwrap lets http.ResponseController reach the connection (upload
// deadlines).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (s *Server) fail(w http.ResponseWriter, err error) {
	var ae apiError
	if errors.As(err, &ae) {
		writeError(w, ae)
		return
	}
	var lim limited
	if errors.As(err, &lim) {
		tooMany(w, lim.reset, time.Now(), false)
		return
	}
	if errors.Is(err, service.ErrBusy) {
		w.Header()[hdrRetryAfter] = []string{"1"}
	}
	e, known := toAPIError(err)
	if !known {
		s.cfg.Logger.Error("rest", "err", err)
	}
	writeError(w, e)
}

func (e apiError) Error() string { return e.Message }

// decode reads a JSON body into v.
func decode(c *call, v any) error {
	b, err := readBody(c)
	if err != nil {
		return err
	}
	return unmarshalBody(b, v)
}

// decodeFields is decode for a PATCH-style body whose fields tell null
// from absent: it also returns the top-level keys present.
func decodeFields(c *call, v any) (map[string]json.RawMessage, error) {
	b, err := readBody(c)
	if err != nil {
		return nil, err
	}
	var present map[string]json.RawMessage
	if err := json.Unmarshal(b, &present); err != nil {
		return nil, errBadJSON // not an object
	}
	return present, unmarshalBody(b, v)
}

// readBody reads the request body (an empty one is {}).
func readBody(c *call) ([]byte, error) {
	b, err := io.ReadAll(c.r.Body)
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil, errTooLarge
	}
	if err != nil {
		return nil, errBadJSON
	}
	if len(b) == 0 {
		b = []byte("{}")
	}
	return b, nil
}

// unmarshalBody decodes b into v: a field of the wrong type is Discord's
// BASE_TYPE_BAD_TYPE form error on that field, anything else 50109.
func unmarshalBody(b []byte, v any) error {
	if err := json.Unmarshal(b, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return formError(te.Field, "BASE_TYPE_BAD_TYPE", "Invalid type.")
		}
		return errBadJSON
	}
	return nil
}

// pathID parses a path id ("@me" is the caller). Anything but a
// canonical id names nothing: 404 with the parameter's unknown-entity code.
func pathID(c *call, name string) (model.Snowflake, error) {
	v := c.r.PathValue(name)
	if v == "@me" {
		return c.user.ID, nil
	}
	id, err := model.ParseSnowflake(v)
	if err != nil {
		return 0, unknownParam(name)
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

// authAttempt counts one attempt to log in, register or change a password
// against the caller address's Config.AuthPerIP; over it, the error is a
// 429.
func (s *Server) authAttempt(c *call) error {
	now := time.Now()
	if _, reset, ok := s.auth.take(limKey{addr: c.addr}, s.cfg.AuthPerIP, now); !ok {
		return limited{reset}
	}
	return nil
}

// checkPassword runs a password check (login, password change) under the
// failed-check limit of the account name login: refused while the limit
// is used up, and a failure (bad is the service's error for it) counts
// against it and against the address's invalid requests.
func (s *Server) checkPassword(c *call, login string, bad error, check func() error) error {
	key, now := accountKey(login), time.Now()
	if reset, locked := s.failures.exhausted(key, s.cfg.LoginFailures, now); locked {
		return limited{reset}
	}
	err := check()
	if errors.Is(err, bad) {
		s.failures.take(key, s.cfg.LoginFailures, now)
		c.invalid = true
	}
	return err
}
