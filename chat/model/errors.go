package model

import "errors"

// Sentinel errors.
var (
	// ErrBadSnowflake means a string is not a valid non-zero decimal id.
	ErrBadSnowflake = errors.New("model: invalid snowflake")
	// ErrUnauthorized means a token authenticates no one. The chat
	// service's errors for it wrap this one, so every transport can tell
	// a bad token from a failure without importing the service.
	ErrUnauthorized = errors.New("invalid token")
)
