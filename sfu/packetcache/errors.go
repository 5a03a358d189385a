package packetcache

import "errors"

// ErrConfig wraps every Validate failure.
var ErrConfig = errors.New("packetcache: invalid config")

// Per-packet outcomes; count them, do not log them.
var (
	// ErrTooLarge: Insert of a payload above MaxPayload (not cached).
	ErrTooLarge = errors.New("packetcache: payload too large to cache")
	// ErrTooOld: Insert of a packet older than the cache window.
	ErrTooOld = errors.New("packetcache: packet older than the cache window")
	// ErrMiss: the NACKed packet is not (or no longer) cached.
	ErrMiss = errors.New("packetcache: packet not cached")
	// ErrThrottled: the packet was resent less than an interval ago.
	ErrThrottled = errors.New("packetcache: packet resent too recently")
	// ErrExhausted: the packet was resent MaxResends times already.
	ErrExhausted = errors.New("packetcache: packet resent too often")
	// ErrShortBuffer: the destination cannot hold the RTX payload.
	ErrShortBuffer = errors.New("packetcache: destination buffer too small")
)
