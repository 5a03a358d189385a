package rtpmunger

import "errors"

// Per-packet drop reasons returned by Munger.Forward and Munger.Drop. They
// are expected on a lossy network: count them, do not log them.
var (
	// ErrDuplicate: the incoming SN was already forwarded or dropped.
	ErrDuplicate = errors.New("rtpmunger: duplicate sequence number")
	// ErrTooOld: the incoming SN is more than HistorySize behind the
	// highest one processed.
	ErrTooOld = errors.New("rtpmunger: sequence number too old")
	// ErrCacheMiss: an out-of-order SN for which no offset is in force: it
	// precedes the first packet or the last source switch, or its range was
	// evicted from the range map.
	ErrCacheMiss = errors.New("rtpmunger: out-of-order sequence number has no offset")
)
