package signaling

import (
	"fmt"
	"strings"
)

// DAVEPolicy is a deployment's end-to-end encryption policy (DAVE,
// shared/docs/dave.md). The zero value is DAVEPreferred.
type DAVEPolicy int

// DAVE policies.
const (
	// DAVEPreferred runs DAVE v1 whenever every member of a room supports
	// it; a client without DAVE downgrades its room to transport
	// encryption only until it leaves (dave.md §4).
	DAVEPreferred DAVEPolicy = iota
	// DAVERequired refuses clients that cannot do DAVE with close 4017.
	DAVERequired
	// DAVEOff always answers dave_protocol_version 0.
	DAVEOff
)

func (p DAVEPolicy) String() string {
	switch p {
	case DAVEPreferred:
		return "preferred"
	case DAVERequired:
		return "required"
	case DAVEOff:
		return "off"
	}
	return fmt.Sprintf("dave_policy_%d", int(p))
}

// ParseDAVEPolicy parses "required", "preferred" or "off" (the
// --voice-dave flag); "" is preferred.
func ParseDAVEPolicy(s string) (DAVEPolicy, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "preferred":
		return DAVEPreferred, nil
	case "required":
		return DAVERequired, nil
	case "off":
		return DAVEOff, nil
	}
	return 0, fmt.Errorf("%w: DAVE policy %q is not required, preferred or off", ErrConfig, s)
}
