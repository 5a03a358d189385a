package mediaproxy

import (
	"errors"
	"net/http"
)

// Sentinel errors. Each maps to one HTTP status through StatusOf.
var (
	// ErrBadOptions means a query parameter is malformed or out of range (400).
	ErrBadOptions = errors.New("mediaproxy: bad options")
	// ErrBadRequest means the URL or upload is malformed (400).
	ErrBadRequest = errors.New("mediaproxy: bad request")
	// ErrBadSignature means a signature is missing, malformed or wrong (403).
	ErrBadSignature = errors.New("mediaproxy: bad signature")
	// ErrExpired means a signed URL is past its expiry (403).
	ErrExpired = errors.New("mediaproxy: signed URL expired")
	// ErrUnauthorized means an upload lacks a valid token (401).
	ErrUnauthorized = errors.New("mediaproxy: unauthorized")
	// ErrDestinationDenied means an external URL resolves or redirects to a
	// denied address (loopback, private, metadata, ...) (403).
	ErrDestinationDenied = errors.New("mediaproxy: destination address denied")
	// ErrNotFound means no such attachment or route (404).
	ErrNotFound = errors.New("mediaproxy: not found")
	// ErrTooLarge means the source exceeds the byte limit (413).
	ErrTooLarge = errors.New("mediaproxy: source too large")
	// ErrUnsupported means the content is not an image format the proxy
	// decodes (415).
	ErrUnsupported = errors.New("mediaproxy: unsupported format")
	// ErrUndecodable means the content claims a supported format but is
	// corrupt, truncated or a polyglot (415).
	ErrUndecodable = errors.New("mediaproxy: undecodable image")
	// ErrHEICUnsupported means a HEIC/HEIF photo reached a server that
	// cannot decode it: libvips here has no HEIF loader or libheif no HEVC
	// decoder (HEICSupported), or Limits.DisableHEIC is set (415). Its
	// message is the one clients show.
	ErrHEICUnsupported = errors.New("HEIC images cannot be decoded on this server")
	// ErrRangeNotSatisfiable means a Range header is malformed or starts
	// past the end of a file (416).
	ErrRangeNotSatisfiable = errors.New("mediaproxy: range not satisfiable")
	// ErrImageBomb means the header declares more pixels or frames than the
	// limits allow (422).
	ErrImageBomb = errors.New("mediaproxy: image exceeds pixel or frame limits")
	// ErrUpstream means fetching an external image failed (502).
	ErrUpstream = errors.New("mediaproxy: upstream failure")
	// ErrOverloaded means the worker queue is full (503).
	ErrOverloaded = errors.New("mediaproxy: overloaded")
	// ErrClosed means the server is closing or closed (503).
	ErrClosed = errors.New("mediaproxy: server closed")
	// ErrClientGone means the client went away (or the caller's context
	// ended) before the answer was ready. The status is nginx's 499
	// "client closed request"; nobody reads it but the metrics and logs.
	ErrClientGone = errors.New("mediaproxy: client went away")
	// ErrTimeout means the request deadline passed (504).
	ErrTimeout = errors.New("mediaproxy: timeout")
	// ErrInternal is anything else (500); details are logged, never sent.
	ErrInternal = errors.New("mediaproxy: internal error")
	// ErrStarted means Start was called on a server already started.
	ErrStarted = errors.New("mediaproxy: already started")
	// ErrConfig means a Config field is invalid.
	ErrConfig = errors.New("mediaproxy: invalid config")
)

// StatusClientClosedRequest is nginx's status for a request whose client
// went away before the answer (ErrClientGone).
const StatusClientClosedRequest = 499

// errorClass is the status and stable JSON code of a sentinel.
type errorClass struct {
	err    error
	status int
	code   string
}

var errorClasses = []errorClass{
	{ErrBadOptions, http.StatusBadRequest, "bad_options"},
	{ErrBadRequest, http.StatusBadRequest, "bad_request"},
	{ErrUnauthorized, http.StatusUnauthorized, "unauthorized"},
	{ErrBadSignature, http.StatusForbidden, "bad_signature"},
	{ErrExpired, http.StatusForbidden, "expired"},
	{ErrDestinationDenied, http.StatusForbidden, "destination_denied"},
	{ErrNotFound, http.StatusNotFound, "not_found"},
	{ErrTooLarge, http.StatusRequestEntityTooLarge, "too_large"},
	{ErrUnsupported, http.StatusUnsupportedMediaType, "unsupported_format"},
	{ErrUndecodable, http.StatusUnsupportedMediaType, "undecodable"},
	{ErrHEICUnsupported, http.StatusUnsupportedMediaType, "heic_unsupported"},
	{ErrRangeNotSatisfiable, http.StatusRequestedRangeNotSatisfiable, "range_not_satisfiable"},
	{ErrImageBomb, http.StatusUnprocessableEntity, "image_bomb"},
	{ErrUpstream, http.StatusBadGateway, "upstream_failure"},
	{ErrOverloaded, http.StatusServiceUnavailable, "overloaded"},
	{ErrClosed, http.StatusServiceUnavailable, "closed"},
	{ErrTimeout, http.StatusGatewayTimeout, "timeout"},
	{ErrClientGone, StatusClientClosedRequest, "client_closed_request"},
}

// StatusOf returns the HTTP status and JSON error code for err.
func StatusOf(err error) (int, string) {
	for _, c := range errorClasses {
		if errors.Is(err, c.err) {
			return c.status, c.code
		}
	}
	return http.StatusInternalServerError, "internal"
}
