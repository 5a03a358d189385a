package voiceproto

import "strconv"

// Dialect is the protocol variant selected by the ?v= query parameter
// (voice-protocol.md §2.1).
type Dialect int

// Dialects.
const (
	// DialectLegacy: no v, or v1-v3 (discordgo). Integer heartbeats, bool
	// Speaking, heartbeat interval read from Ready only.
	DialectLegacy Dialect = iota
	// DialectV4: v4..v7. Integer heartbeat nonce echoed, bitmask Speaking.
	DialectV4
	// DialectV8: v8. Heartbeat {t, seq_ack}, numbered messages, buffered
	// re-delivery on resume; DAVE is only negotiated here.
	DialectV8
)

// String returns a stable name, suitable as a log value.
func (d Dialect) String() string {
	switch d {
	case DialectLegacy:
		return "legacy"
	case DialectV4:
		return "v4"
	case DialectV8:
		return "v8"
	}
	return "dialect_" + strconv.Itoa(int(d))
}

// ParseDialect maps the v query parameter to a dialect; an unknown
// version is ErrBadVersion.
func ParseDialect(v string) (Dialect, error) {
	if v == "" {
		return DialectLegacy, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, ErrBadVersion
	}
	switch {
	case n >= 1 && n <= 3:
		return DialectLegacy, nil
	case n >= 4 && n <= 7:
		return DialectV4, nil
	case n == 8:
		return DialectV8, nil
	}
	return 0, ErrBadVersion
}
