//go:build js && wasm

package main

// A stand-in for dave.FrameSession (e2ee/dave, being written beside this
// module) over dave.Encryptor/Decryptor, with the same method set, so the
// exports switch to the real one by changing newFrames. It holds no
// frames: every Decrypt emits exactly once.

import (
	"time"

	"github.com/parleyhq/parley/e2ee/dave"
)

// transitionExpiry is how long a fresh group's receivers accept
// transport-only frames (voiceclient daveTransitionExpiry).
const transitionExpiry = 10 * time.Second

type sendStatus uint8

const (
	sendPlain sendStatus = iota
	sendEncrypted
	sendWait
)

type frameSession struct {
	version     uint16
	enc         *dave.Encryptor
	sendKey     bool
	decs        map[uint64]*dave.Decryptor
	passthrough bool
	buf         []byte
	noKey       uint64
	silence     uint64
}

func newFrames() *frameSession {
	return &frameSession{enc: dave.NewEncryptor(), decs: map[uint64]*dave.Decryptor{}}
}

func (s *frameSession) SetProtocolVersion(v uint16) { s.version = v }

func (s *frameSession) SetSenderKey(base []byte) {
	if base == nil {
		s.enc.SetKeyRatchet(nil)
		s.sendKey = false
		return
	}
	r, err := dave.NewKeyRatchet(base)
	if err != nil {
		return
	}
	s.enc.SetKeyRatchet(r)
	s.sendKey = true
}

func (s *frameSession) SetReceiverKey(user uint64, base []byte, fresh bool) {
	r, err := dave.NewKeyRatchet(base)
	if err != nil {
		return
	}
	d := s.decs[user]
	if d == nil {
		d = dave.NewDecryptor()
		switch {
		case s.passthrough || s.version == 0:
			d.SetPassthrough(true, 0)
		case fresh:
			d.SetPassthrough(true, 0)
			d.SetPassthrough(false, transitionExpiry)
		}
		s.decs[user] = d
	}
	d.TransitionToKeyRatchet(r)
}

func (s *frameSession) SetMembers(users []uint64) {
	live := map[uint64]bool{}
	for _, u := range users {
		live[u] = true
	}
	for u := range s.decs {
		if !live[u] {
			delete(s.decs, u)
		}
	}
}

func (s *frameSession) SetPassthrough(on bool, expiry time.Duration) {
	s.passthrough = on
	for _, d := range s.decs {
		d.SetPassthrough(on, expiry)
	}
}

func (s *frameSession) Encrypt(dst []byte, codec dave.Codec, frame []byte, alone bool) ([]byte, sendStatus, error) {
	switch {
	case s.version == 0 || dave.IsOpusSilence(frame) || !s.sendKey && alone:
		return frame, sendPlain, nil
	case !s.sendKey:
		return nil, sendWait, nil
	}
	out, err := s.enc.EncryptCodec(dst, codec, frame)
	if err != nil {
		return nil, sendPlain, err
	}
	return out, sendEncrypted, nil
}

func (s *frameSession) Decrypt(user uint64, frame []byte, emit func([]byte, bool)) {
	if dave.IsOpusSilence(frame) {
		s.silence++
		emit(frame, true)
		return
	}
	d := s.decs[user]
	if d == nil {
		if dave.IsProtocolFrame(frame) {
			s.noKey++
			emit(nil, false)
			return
		}
		emit(frame, true)
		return
	}
	out, err := d.Decrypt(s.buf[:0], frame)
	if err != nil {
		emit(nil, false)
		return
	}
	s.buf = out[:0]
	emit(out, true)
}

func (s *frameSession) Flush(uint64, func([]byte, bool)) {}

// frameStats is the JSON shape of the media side's counters (davejs.md
// dave.state().frames).
type frameStats struct {
	Encrypted   uint64            `json:"encrypted"`
	Decrypted   uint64            `json:"decrypted"`
	Passthrough uint64            `json:"passthrough"`
	Silence     uint64            `json:"silence"`
	Held        uint64            `json:"held"`
	Released    uint64            `json:"released"`
	Dropped     map[string]uint64 `json:"dropped"`
	NotReady    uint64            `json:"not_ready"`
}

func (s *frameSession) stats() frameStats {
	e := s.enc.Stats()
	st := frameStats{Encrypted: e.Encrypted, Passthrough: e.Passthrough, Silence: e.Silence + s.silence, Dropped: map[string]uint64{}}
	if e.Failures > 0 {
		st.Dropped["encrypt"] = e.Failures
	}
	add := func(k string, n uint64) {
		if n > 0 {
			st.Dropped[k] += n
		}
	}
	add("no_key", s.noKey)
	for _, d := range s.decs {
		x := d.Stats()
		st.Decrypted += x.Decrypted
		st.Passthrough += x.Passthrough
		st.Silence += x.Silence
		add("unencrypted", x.Unencrypted)
		add("no_key", x.NoKey)
		add("auth", x.AuthFailures)
		add("replay", x.Replays)
		add("generation", x.Generation)
	}
	return st
}
