//go:build js && wasm

package main

import (
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/parleyhq/parley/e2ee/dave"
)

// errNoParticipant: a participant input before mls_new.
var errNoParticipant = errors.New("dave: no participant (mls_new first)")

// The MLS worker's side: one dave.Participant, whose KeySink records the
// key changes of the call in progress for JS to post to the media worker.
var (
	part      *dave.Participant
	self      uint64
	announced map[uint64]bool // nil until mls_announced: everyone
	keys      keyRecorder
)

// keyChange is one KeySink call as plain JSON values (module.js applyKey;
// user ids are decimal strings, secrets base64).
type keyChange struct {
	K        string   `json:"k"` // version, sender, receiver, members, passthrough
	V        uint16   `json:"v"`
	Base     []byte   `json:"base,omitempty"` // absent for sender: no key
	User     string   `json:"user,omitempty"`
	Fresh    bool     `json:"fresh,omitempty"`
	Users    []string `json:"users,omitempty"` // members: [] is sent as absent
	On       bool     `json:"on"`
	ExpiryMs int64    `json:"expiry_ms,omitempty"`
}

// keyRecorder is the Participant's KeySink.
type keyRecorder struct{ calls []keyChange }

func (k *keyRecorder) SetProtocolVersion(v uint16) {
	k.calls = append(k.calls, keyChange{K: "version", V: v})
}

func (k *keyRecorder) SetSenderKey(base []byte) {
	k.calls = append(k.calls, keyChange{K: "sender", Base: clone(base)})
}

func (k *keyRecorder) SetReceiverKey(user uint64, base []byte, fresh bool) {
	k.calls = append(k.calls, keyChange{K: "receiver", User: strconv.FormatUint(user, 10), Base: clone(base), Fresh: fresh})
}

func (k *keyRecorder) SetMembers(users []uint64) {
	c := keyChange{K: "members", Users: make([]string, 0, len(users))}
	for _, u := range users {
		c.Users = append(c.Users, strconv.FormatUint(u, 10))
	}
	k.calls = append(k.calls, c)
}

func (k *keyRecorder) SetPassthrough(on bool, expiry time.Duration) {
	k.calls = append(k.calls, keyChange{K: "passthrough", On: on, ExpiryMs: expiry.Milliseconds()})
}

// outMsg is one message for the voice gateway: a JSON op with its
// payload, or a client binary frame (u8 op, payload) in Bin.
type outMsg struct {
	Op  dave.Opcode `json:"op,omitempty"`
	D   any         `json:"d,omitempty"`
	Bin []byte      `json:"bin,omitempty"`
}

// result is what every participant input writes to the output.
type result struct {
	Out     []outMsg    `json:"out"`
	Keys    []keyChange `json:"keys"`
	Changed bool        `json:"changed"`
	Error   string      `json:"error,omitempty"`
}

// finish writes the input's result: its messages, the key changes
// recorded meanwhile, and err.
func finish(out []dave.Outgoing, changed bool, err error) {
	r := result{Out: make([]outMsg, 0, len(out)), Keys: keys.calls, Changed: changed}
	keys.calls = nil
	for _, o := range out {
		if o.Binary != nil {
			b, berr := dave.AppendClientFrame(nil, o.Binary)
			if berr != nil {
				err = berr
				continue
			}
			r.Out = append(r.Out, outMsg{Bin: b})
			continue
		}
		r.Out = append(r.Out, outMsg{Op: o.JSON, D: o.Payload})
	}
	if err != nil {
		r.Error = err.Error()
	}
	b, merr := json.Marshal(r)
	if merr != nil {
		b = []byte(`{"out":[],"keys":[],"error":` + strconv.Quote(merr.Error()) + `}`)
	}
	setOut(b)
}

// mlsNew starts the participant for user in channel; -1 with the error
// as the output.
//
//go:wasmexport mls_new
func mlsNew(user, channel uint64) int32 {
	p, err := dave.NewParticipant(dave.ParticipantConfig{UserID: user, ChannelID: channel, Keys: &keys,
		Announced: func(u uint64) bool { return announced == nil || announced[u] }})
	if err != nil {
		setOut([]byte(err.Error()))
		return -1
	}
	part, self = p, user
	return 0
}

// mlsPrepare makes the key package the next op 4 sends, ahead of it
// (dave.Participant.Prepare); -1 with the error as the output.
//
//go:wasmexport mls_prepare
func mlsPrepare() int32 {
	if part == nil {
		setOut([]byte(errNoParticipant.Error()))
		return -1
	}
	if err := part.Prepare(); err != nil {
		setOut([]byte(err.Error()))
		return -1
	}
	return 0
}

// mlsAnnounced sets who the server announced: n user ids, u64 LE each, in
// the input buffer.
//
//go:wasmexport mls_announced
func mlsAnnounced(n uint32) {
	users := readUsers(n)
	announced = make(map[uint64]bool, len(users)+1)
	announced[self] = true
	for _, u := range users {
		announced[u] = true
	}
}

//go:wasmexport mls_session_description
func mlsSessionDescription(version uint32) {
	if part == nil {
		finish(nil, false, errNoParticipant)
		return
	}
	out, changed := part.SessionDescription(uint16(version))
	finish(out, changed, nil)
}

// mlsHandleJSON handles JSON op with the n-byte d in the input buffer.
//
//go:wasmexport mls_handle_json
func mlsHandleJSON(op, n uint32) {
	if part == nil {
		finish(nil, false, errNoParticipant)
		return
	}
	out, changed, err := part.HandleJSON(dave.Opcode(op), json.RawMessage(clone(input(n))))
	finish(out, changed, err)
}

// mlsHandleBinary handles the n-byte server binary frame (u16 seq, u8 op,
// payload) in the input buffer.
//
//go:wasmexport mls_handle_binary
func mlsHandleBinary(n uint32) {
	if part == nil {
		finish(nil, false, errNoParticipant)
		return
	}
	_, m, err := dave.DecodeServerFrame(clone(input(n)))
	if err != nil {
		finish(nil, false, err)
		return
	}
	out, changed := part.HandleBinary(m)
	finish(out, changed, nil)
}

// mlsState writes the participant's state as JSON.
//
//go:wasmexport mls_state
func mlsState() {
	if part == nil {
		setOut([]byte("{}"))
		return
	}
	b, err := json.Marshal(part.State())
	if err != nil {
		b = []byte("{}")
	}
	setOut(b)
}

// mlsPairwise writes the 45-digit pairwise verification code with user
// (scrypt: tens of milliseconds); -1 with the error as the output.
//
//go:wasmexport mls_pairwise
func mlsPairwise(user uint64) int32 {
	if part == nil {
		setOut([]byte(errNoParticipant.Error()))
		return -1
	}
	mine, theirs, ok := part.MemberKeys(user)
	if !ok {
		setOut([]byte("dave: user " + strconv.FormatUint(user, 10) + " is not in the group"))
		return -1
	}
	code, err := dave.PairwiseVerificationCode(mine, self, theirs, user)
	if err != nil {
		setOut([]byte(err.Error()))
		return -1
	}
	setOut([]byte(code))
	return 0
}
