package voiceproto

import "encoding/json"

// RawMessage is a received voice gateway message: the opcode and the
// still-encoded payload, decoded by op (voice-protocol.md §2.2). In the v8
// dialect the server numbers its messages in "seq"; disgo reads "s", so a
// server writes both and a client reads either.
type RawMessage struct {
	Op  Op              `json:"op"`
	D   json.RawMessage `json:"d"`
	Seq *int64          `json:"seq,omitempty"`
	S   *int64          `json:"s,omitempty"`
}

// Sequence returns the message's v8 sequence number, from "seq" or "s".
func (m *RawMessage) Sequence() (int64, bool) {
	switch {
	case m.Seq != nil:
		return *m.Seq, true
	case m.S != nil:
		return *m.S, true
	}
	return 0, false
}

// Message is a voice gateway message to send. Use NumberedMessage for the
// server's numbered v8 messages.
type Message struct {
	Op  Op     `json:"op"`
	D   any    `json:"d"`
	Seq *int64 `json:"seq,omitempty"`
	S   *int64 `json:"s,omitempty"`
}

// NumberedMessage returns a server message carrying sequence number seq in
// both "seq" and "s".
func NumberedMessage(op Op, d any, seq int64) Message {
	return Message{Op: op, D: d, Seq: &seq, S: &seq}
}
