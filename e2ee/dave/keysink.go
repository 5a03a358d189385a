package dave

import "time"

// KeySink receives everything a [Participant] tells the media side, as
// plain values, so that a browser can post them from its MLS worker to its
// media worker. [FrameSession] implements it.
//
// The Participant calls it from inside its own inputs (SessionDescription,
// HandleJSON, HandleBinary), in order; the calls must not call back into
// the Participant.
type KeySink interface {
	// SetProtocolVersion: the DAVE protocol version in effect (0
	// transport-only, 1 end-to-end encrypted).
	SetProtocolVersion(v uint16)
	// SetSenderKey installs this client's sender base secret (16 bytes,
	// [SenderBaseSecret]) for the epoch now in force; nil removes it (the
	// client re-initialises and has no key until its next group).
	SetSenderKey(base []byte)
	// SetReceiverKey installs user's base secret for a new epoch; the
	// previous epochs' keys stay usable for [RatchetExpiry]. fresh: the
	// group was just (re)created, so a receiver made now accepts
	// transport-only frames for a while (members may still send them).
	SetReceiverKey(user uint64, base []byte, fresh bool)
	// SetMembers gives the group's members (this client included); the
	// receivers of other users are dropped.
	SetMembers(users []uint64)
	// SetPassthrough allows transport-only frames from every sender (on),
	// or stops allowing them after expiry (see Decryptor.SetPassthrough).
	SetPassthrough(on bool, expiry time.Duration)
}
