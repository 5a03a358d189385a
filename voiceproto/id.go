package voiceproto

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// ID is a snowflake or session id. It is a JSON string, but some clients
// send numbers, so it decodes from either; null (or an absent field)
// leaves it empty, and whoever needs the id says that it is missing. It
// encodes as a string.
type ID string

// UnmarshalJSON accepts a string, an integer or null.
func (id *ID) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*id = ID(s)
		return nil
	case string(b) == "null":
		*id = ""
		return nil
	}
	for i, c := range b {
		if (c < '0' || c > '9') && !(i == 0 && c == '-' && len(b) > 1) {
			return fmt.Errorf("%w: id %.40s is neither a string nor an integer", ErrBadPayload, b)
		}
	}
	if len(b) == 0 {
		return fmt.Errorf("%w: empty id", ErrBadPayload)
	}
	*id = ID(b)
	return nil
}

// IDs converts a list of ids to strings.
func IDs(ids []ID) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = string(id)
	}
	return out
}
