//go:build js && wasm

package main

import (
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

// keys records the Participant's KeySink calls of the input being
// handled, as the JSON module.js applyKey replays in the media worker
// ({k: version|sender|receiver|members|passthrough, ...}; user ids are
// decimal strings, secrets base64).
type keyRecorder struct{ w jsonw }

func (k *keyRecorder) call(kind string) {
	if k.w.b == nil {
		k.w.arr()
	}
	k.w.obj()
	k.w.key("k")
	k.w.str(kind)
}

func (k *keyRecorder) SetProtocolVersion(v uint16) {
	k.call("version")
	k.w.key("v")
	k.w.uint(uint64(v))
	k.w.end('}')
}

func (k *keyRecorder) SetSenderKey(base []byte) {
	k.call("sender")
	if base != nil { // absent: no key
		k.w.key("base")
		k.w.bytes(base)
	}
	k.w.end('}')
}

func (k *keyRecorder) SetReceiverKey(user uint64, base []byte, fresh bool) {
	k.call("receiver")
	k.w.key("user")
	k.w.str(strconv.FormatUint(user, 10))
	k.w.key("base")
	k.w.bytes(base)
	k.w.key("fresh")
	k.w.bool(fresh)
	k.w.end('}')
}

func (k *keyRecorder) SetMembers(users []uint64) {
	k.call("members")
	k.w.key("users")
	k.w.arr()
	for _, u := range users {
		k.w.str(strconv.FormatUint(u, 10))
	}
	k.w.end(']')
	k.w.end('}')
}

func (k *keyRecorder) SetPassthrough(on bool, expiry time.Duration) {
	k.call("passthrough")
	k.w.key("on")
	k.w.bool(on)
	k.w.key("expiry_ms")
	k.w.uint(uint64(max(expiry.Milliseconds(), 0)))
	k.w.end('}')
}

// take returns the recorded calls as a JSON array and starts afresh.
func (k *keyRecorder) take() []byte {
	if k.w.b == nil {
		return []byte("[]")
	}
	k.w.end(']')
	b := k.w.b
	k.w = jsonw{}
	return b
}

// finish writes the input's result, the JSON module.js result() reads:
// {out: [{op, d} | {bin: base64 client frame (u8 op, payload)}], keys:
// [the KeySink calls recorded meanwhile], changed, error}.
func finish(out []dave.Outgoing, changed bool, err error) {
	var w jsonw
	w.obj()
	w.key("out")
	w.arr()
	for _, o := range out {
		if o.Binary != nil {
			b, berr := dave.AppendClientFrame(nil, o.Binary)
			if berr != nil {
				err = berr
				continue
			}
			w.obj()
			w.key("bin")
			w.bytes(b)
			w.end('}')
			continue
		}
		var id uint16
		switch m := o.Payload.(type) { // the JSON ops a Participant sends
		case dave.ReadyForTransition:
			id = m.TransitionID
		case dave.InvalidCommitWelcome:
			id = m.TransitionID
		default:
			err = errors.New("dave: no JSON for op " + strconv.Itoa(int(o.JSON)))
			continue
		}
		w.obj()
		w.key("op")
		w.uint(uint64(o.JSON))
		w.key("d")
		w.obj()
		w.key("transition_id")
		w.uint(uint64(id))
		w.end('}')
		w.end('}')
	}
	w.end(']')
	w.key("keys")
	w.raw(keys.take())
	w.key("changed")
	w.bool(changed)
	if err != nil {
		w.key("error")
		w.str(err.Error())
	}
	w.end('}')
	setOut(w.b)
}

// failResult answers an input whose handling panicked: the error, and
// the key changes recorded before it (the participant made them) unless
// the panic left their JSON unfinished.
func failResult(msg string) {
	if len(keys.w.n) > 1 || keys.w.afterKey {
		keys.w = jsonw{}
	}
	finish(nil, false, errors.New(msg))
}

// mlsNew starts the participant for user in channel; -1 with the error
// as the output.
//
//go:wasmexport mls_new
func mlsNew(user, channel uint64) (res int32) {
	defer recovered(func(msg string) { failOut(msg); res = -1 })
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
func mlsPrepare() (res int32) {
	defer recovered(func(msg string) { failOut(msg); res = -1 })
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
	defer recovered(func(string) {}) // counted; who was announced stays as before
	users := readUsers(n)
	announced = make(map[uint64]bool, len(users)+1)
	announced[self] = true
	for _, u := range users {
		announced[u] = true
	}
}

//go:wasmexport mls_session_description
func mlsSessionDescription(version uint32) {
	defer recovered(failResult)
	if part == nil {
		finish(nil, false, errNoParticipant)
		return
	}
	out, changed := part.SessionDescription(uint16(version))
	finish(out, changed, nil)
}

// mlsHandle handles JSON op 21, 22 or 24, its payload's fields passed as
// numbers (module.js decodes the JSON: the module carries no
// encoding/json): transition_id, protocol_version, epoch.
//
//go:wasmexport mls_handle
func mlsHandle(op, transition, version uint32, epoch uint64) {
	defer recovered(failResult)
	if part == nil {
		finish(nil, false, errNoParticipant)
		return
	}
	var msg dave.Message
	switch dave.Opcode(op) {
	case dave.OpPrepareTransition:
		msg = dave.PrepareTransition{ProtocolVersion: uint16(version), TransitionID: uint16(transition)}
	case dave.OpExecuteTransition:
		msg = dave.ExecuteTransition{TransitionID: uint16(transition)}
	case dave.OpPrepareEpoch:
		msg = dave.PrepareEpoch{ProtocolVersion: uint16(version), Epoch: epoch}
	default:
		finish(nil, false, errors.New("dave: "+strconv.Itoa(int(op))+" is not a JSON op the participant takes"))
		return
	}
	out, changed := part.Handle(msg)
	finish(out, changed, nil)
}

// mlsHandleBinary handles the n-byte server binary frame (u16 seq, u8 op,
// payload) in the input buffer.
//
//go:wasmexport mls_handle_binary
func mlsHandleBinary(n uint32) {
	defer recovered(failResult)
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

// mlsState writes the participant's state as JSON (dave.ParticipantState's
// fields and names).
//
//go:wasmexport mls_state
func mlsState() {
	defer recovered(func(msg string) { setOut([]byte(`{"panics":` + strconv.FormatUint(panics, 10) + `}`)) })
	if part == nil {
		setOut([]byte("{}"))
		return
	}
	st := part.State()
	var w jsonw
	w.obj()
	w.key("protocol_version")
	w.uint(uint64(st.ProtocolVersion))
	w.key("ready")
	w.bool(st.Ready)
	w.key("epoch")
	w.uint(st.Epoch)
	if st.PrivacyCode != "" {
		w.key("privacy_code")
		w.str(st.PrivacyCode)
	}
	if len(st.Members) > 0 {
		w.key("members")
		w.arr()
		for _, m := range st.Members {
			w.str(m)
		}
		w.end(']')
	}
	w.key("transitions")
	w.uint(uint64(st.Transitions))
	w.key("pending")
	w.uint(uint64(st.Pending))
	w.key("recoveries")
	w.uint(uint64(st.Recoveries))
	w.key("panics")
	w.uint(panics)
	w.end('}')
	setOut(w.b)
}

// mlsPairwise writes the 45-digit pairwise verification code with user
// (scrypt: tens of milliseconds); -1 with the error as the output.
//
//go:wasmexport mls_pairwise
func mlsPairwise(user uint64) (res int32) {
	defer recovered(func(msg string) { failOut(msg); res = -1 })
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
