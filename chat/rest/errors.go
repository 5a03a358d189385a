package rest

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/parleyhq/parley/chat/service"
)

// Sentinel errors.
var (
	// ErrConfig means the REST configuration is invalid.
	ErrConfig = errors.New("rest: invalid configuration")
	// ErrClosed means the server is shut down.
	ErrClosed = errors.New("rest: server closed")
	// ErrStarted means Start was called twice.
	ErrStarted = errors.New("rest: server already started")
)

// apiError is Discord's error body.
type apiError struct {
	status  int
	Code    int    `json:"code"`
	Message string `json:"message"`
	Errors  any    `json:"errors,omitempty"`
}

var errorTable = []struct {
	err  error
	body apiError
}{
	{service.ErrUnauthorized, apiError{http.StatusUnauthorized, 0, "401: Unauthorized", nil}},
	{service.ErrUnknownGuild, apiError{http.StatusNotFound, 10004, "Unknown Guild", nil}},
	{service.ErrUnknownChannel, apiError{http.StatusNotFound, 10003, "Unknown Channel", nil}},
	{service.ErrUnknownMessage, apiError{http.StatusNotFound, 10008, "Unknown Message", nil}},
	{service.ErrUnknownMember, apiError{http.StatusNotFound, 10007, "Unknown Member", nil}},
	{service.ErrUnknownUser, apiError{http.StatusNotFound, 10013, "Unknown User", nil}},
	{service.ErrMissingAccess, apiError{http.StatusForbidden, 50001, "Missing Access", nil}},
	{service.ErrMissingPermissions, apiError{http.StatusForbidden, 50013, "Missing Permissions", nil}},
	{service.ErrNotAuthor, apiError{http.StatusForbidden, 50005, "Cannot edit a message authored by another user", nil}},
	{service.ErrEmptyMessage, apiError{http.StatusBadRequest, 50006, "Cannot send an empty message", nil}},
	{service.ErrBadLogin, apiError{http.StatusBadRequest, 50035, "Invalid Form Body", map[string]any{
		"login": map[string]any{"_errors": []map[string]string{{"code": "INVALID_LOGIN", "message": "Login or password is invalid."}}}}}},
	{service.ErrNoVoice, apiError{http.StatusServiceUnavailable, 0, "No voice server available", nil}},
	{service.ErrBusy, apiError{http.StatusServiceUnavailable, 0, "Too many logins in progress; retry shortly.", nil}},
}

var (
	errNotFound   = apiError{http.StatusNotFound, 0, "404: Not Found", nil}
	errBadJSON    = apiError{http.StatusBadRequest, 50109, "The request body contains invalid JSON.", nil}
	errTooLarge   = apiError{http.StatusRequestEntityTooLarge, 40005, "Request entity too large", nil}
	errInternal   = apiError{http.StatusInternalServerError, 0, "500: Internal Server Error", nil}
	errBadRequest = apiError{http.StatusBadRequest, 50035, "Invalid Form Body", nil}
)

// limited is a 429 a handler returns (an attempt limit): tooMany writes it.
type limited struct{ reset time.Time }

func (limited) Error() string { return "rest: rate limited" }

// paramErrors are the errors of the path parameters that name an entity.
var paramErrors = map[string]error{
	"guild": service.ErrUnknownGuild, "channel": service.ErrUnknownChannel,
	"message": service.ErrUnknownMessage, "user": service.ErrUnknownUser,
}

// unknownParam is the 404 for a path parameter that names nothing: the
// unknown-entity answer of errorTable, or a plain 404.
func unknownParam(name string) apiError {
	if err, ok := paramErrors[name]; ok {
		if e, ok := toAPIError(err); ok {
			return e
		}
	}
	return errNotFound
}

// formError is Discord's 50035 with its errors tree: field is a dotted
// path ("attachments.0.description" nests as Discord's does), "" the body
// as a whole.
func formError(field, code, msg string) apiError {
	e := errBadRequest
	var tree any = map[string]any{"_errors": []map[string]string{{"code": code, "message": msg}}}
	if field != "" {
		parts := strings.Split(field, ".")
		for i := len(parts) - 1; i >= 0; i-- {
			tree = map[string]any{parts[i]: tree}
		}
	}
	e.Errors = tree
	return e
}

// toAPIError maps a service error to its Discord body.
func toAPIError(err error) (apiError, bool) {
	var fe *service.FieldError
	if errors.As(err, &fe) {
		return formError(fe.Field, fe.Code, fe.Message), true
	}
	if errors.Is(err, service.ErrInvalidForm) {
		e := errBadRequest
		e.Message = err.Error()
		return e, true
	}
	for _, t := range errorTable {
		if errors.Is(err, t.err) {
			return t.body, true
		}
	}
	return errInternal, false
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"code":0,"message":"500: Internal Server Error"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func writeError(w http.ResponseWriter, e apiError) { writeJSON(w, e.status, e) }
