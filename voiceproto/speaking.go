package voiceproto

import (
	"bytes"
	"fmt"
	"strconv"
)

// SpeakingFlags is the speaking bitmask of op 5 (voice-protocol.md §3.5).
type SpeakingFlags int

// Speaking flags.
const (
	SpeakingMicrophone SpeakingFlags = 1 << 0
	SpeakingSoundshare SpeakingFlags = 1 << 1
	SpeakingPriority   SpeakingFlags = 1 << 2
)

// UnmarshalJSON accepts the bitmask (0-255) of v4 and later and the bool
// of the legacy dialect (true is SpeakingMicrophone); null is 0. Anything
// else is an error: a peer that sends it is broken.
func (f *SpeakingFlags) UnmarshalJSON(b []byte) error {
	raw := bytes.TrimSpace(b)
	switch string(raw) {
	case "true":
		*f = SpeakingMicrophone
		return nil
	case "false", "null":
		*f = 0
		return nil
	}
	n, err := strconv.Atoi(string(raw))
	if err != nil || n < 0 || n > 0xFF {
		return fmt.Errorf("%w: speaking %q is neither a bitmask nor a bool", ErrBadPayload, raw)
	}
	*f = SpeakingFlags(n)
	return nil
}
