package simulcast

import "errors"

// ErrConfig wraps every Config.Validate failure.
var ErrConfig = errors.New("simulcast: invalid config")

// Per-packet drop reasons returned by Forwarder.Push, besides the
// rtpmunger ones (rtpmunger.ErrDuplicate, ErrTooOld, ErrCacheMiss). They
// are expected: count them (Stats does), do not log them.
var (
	// ErrPaused: the receiver's target is no layer (it wants no video of
	// this sender, or its link cannot carry even the lowest layer).
	ErrPaused = errors.New("simulcast: video paused")
	// ErrWaitingKeyframe: nothing is forwarded yet (start or resume) and
	// no switch point of the target layer has arrived.
	ErrWaitingKeyframe = errors.New("simulcast: waiting for a key frame of the target layer")
	// ErrOtherLayer: the packet belongs to a layer that is not the one
	// being forwarded (including the old layer after a switch).
	ErrOtherLayer = errors.New("simulcast: packet of another layer")
	// ErrPadding: a padding-only packet of the current layer, swallowed
	// so the outgoing sequence numbers stay contiguous.
	ErrPadding = errors.New("simulcast: padding-only packet")
	// ErrBadLayer: a layer index outside [0, MaxLayers).
	ErrBadLayer = errors.New("simulcast: layer index out of range")
)
