package dave

import "strconv"

// SendStatus says what FrameSession.Encrypt did with a frame.
type SendStatus uint8

// Send statuses.
const (
	// SendPlain: send the frame as it is (protocol version 0, the Opus
	// silence frame, or alone in the room without a key).
	SendPlain SendStatus = iota
	// SendEncrypted: send the returned DAVE frame.
	SendEncrypted
	// SendWait: protocol version 1 but no sender key yet; the caller
	// decides (wait for the next key change, or drop and count).
	SendWait
)

// String returns the status name.
func (s SendStatus) String() string {
	switch s {
	case SendPlain:
		return "plain"
	case SendEncrypted:
		return "encrypted"
	case SendWait:
		return "wait"
	}
	return "send_status(" + strconv.Itoa(int(s)) + ")"
}
