package store

import "errors"

// Sentinel errors, checked with errors.Is.
var (
	// ErrNotFound means the row does not exist.
	ErrNotFound = errors.New("store: not found")
	// ErrConflict means a unique key (e.g. a username) is taken.
	ErrConflict = errors.New("store: already exists")
	// ErrBadPage means a page query combines around/before/after.
	ErrBadPage = errors.New("store: before, after and around are mutually exclusive")
	// ErrSchema means the database's schema version is unknown or newer
	// than this binary's.
	ErrSchema = errors.New("store: unsupported schema version")
	// ErrConfig means the store configuration is invalid.
	ErrConfig = errors.New("store: invalid configuration")
)
