package gateway

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/gobwas/ws"
)

// Payload is a decoded client envelope. D is left raw for the op handler.
type Payload struct {
	Op Opcode          `json:"op"`
	D  json.RawMessage `json:"d"`
}

// DecodePayload parses one client text frame. It accepts exactly one JSON
// object with an integer "op"; anything else is ErrDecode.
func DecodePayload(b []byte) (Payload, error) {
	// json.Unmarshal rejects trailing data (a Decoder's More does not see a
	// stray "}" or "]"), and a json.Number field is filled without UseNumber.
	var raw struct {
		Op *json.Number    `json:"op"`
		D  json.RawMessage `json:"d"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return Payload{}, fmt.Errorf("%w: %v", ErrDecode, err)
	}
	if raw.Op == nil {
		return Payload{}, fmt.Errorf("%w: missing op", ErrDecode)
	}
	op, err := strconv.ParseInt(raw.Op.String(), 10, 32)
	if err != nil {
		return Payload{}, fmt.Errorf("%w: op %q", ErrDecode, raw.Op.String())
	}
	return Payload{Op: Opcode(op), D: raw.D}, nil
}

// Identify is op 2's d.
type Identify struct {
	Token      string          `json:"token"`
	Intents    *json.Number    `json:"intents"`
	Shard      []int           `json:"shard"`
	Compress   bool            `json:"compress"`
	Properties json.RawMessage `json:"properties"`
	Presence   json.RawMessage `json:"presence"`
}

// Resume is op 6's d.
type Resume struct {
	Token     string `json:"token"`
	SessionID string `json:"session_id"`
	Seq       int64  `json:"seq"`
}

// appendFrameHeader appends an unmasked server frame header for a payload
// of n bytes.
func appendFrameHeader(b []byte, op ws.OpCode, n int) []byte {
	b = append(b, 0x80|byte(op))
	switch {
	case n < 126:
		return append(b, byte(n))
	case n < 1<<16:
		return append(b, 126, byte(n>>8), byte(n))
	default:
		return append(b, 127, 0, 0, 0, 0, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
}

// appendDispatch appends one complete text frame carrying
// {"t":name,"s":seq,"op":0,"d":data}.
func appendDispatch(b []byte, name string, seq int64, data []byte) []byte {
	var pre [64]byte
	p := append(pre[:0], `{"t":"`...)
	p = append(p, name...)
	p = append(p, `","s":`...)
	p = strconv.AppendInt(p, seq, 10)
	p = append(p, `,"op":0,"d":`...)
	b = appendFrameHeader(b, ws.OpText, len(p)+len(data)+1)
	b = append(b, p...)
	b = append(b, data...)
	return append(b, '}')
}

// controlFrame returns a text frame {"t":null,"s":null,"op":op,"d":d}.
func controlFrame(op Opcode, d any) []byte {
	db, _ := json.Marshal(d)
	body := []byte(`{"t":null,"s":null,"op":` + strconv.Itoa(int(op)) + `,"d":`)
	body = append(append(body, db...), '}')
	return append(appendFrameHeader(make([]byte, 0, len(body)+4), ws.OpText, len(body)), body...)
}

// closeFrame returns a close frame with code and its reason.
func closeFrame(code CloseCode) []byte {
	body := ws.NewCloseFrameBody(ws.StatusCode(code), code.String())
	return append(appendFrameHeader(nil, ws.OpClose, len(body)), body...)
}
