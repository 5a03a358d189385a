package rest

import (
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/parleyhq/parley/chat/model"
)

// call is one request and its authenticated caller.
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
		s.cfg.Logger.Error("rest", "err", err)
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
