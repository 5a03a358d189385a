package signaling

import (
	"strconv"

	"github.com/parleyhq/parley/voiceproto"
)

// appendSpeaking appends op 5 for p as encoding/json would write
// voiceproto.Message (numbered with seq when seq > 0) without its
// reflection: a room's introduction writes one per member and receiver.
// It reports false for a user id it would have to escape; the caller then
// uses encoding/json.
func appendSpeaking(b []byte, p voiceproto.PeerSpeaking, seq int64) ([]byte, bool) {
	for i := 0; i < len(p.UserID); i++ {
		if c := p.UserID[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return b, false
		}
	}
	b = append(b, `{"op":`...)
	b = strconv.AppendInt(b, int64(voiceproto.OpSpeaking), 10)
	b = append(b, `,"d":{"user_id":"`...)
	b = append(b, p.UserID...)
	b = append(b, `","ssrc":`...)
	b = strconv.AppendUint(b, uint64(p.SSRC), 10)
	b = append(b, `,"speaking":`...)
	if p.Legacy {
		b = strconv.AppendBool(b, p.Speaking != 0)
	} else {
		b = strconv.AppendInt(b, int64(p.Speaking), 10)
	}
	b = append(b, '}')
	if seq > 0 {
		b = append(b, `,"seq":`...)
		b = strconv.AppendInt(b, seq, 10)
		b = append(b, `,"s":`...)
		b = strconv.AppendInt(b, seq, 10)
	}
	return append(b, '}'), true
}
