package voiceclient

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/parleyhq/parley/e2ee/dave"
	"github.com/parleyhq/parley/e2ee/mls"
	"github.com/parleyhq/parley/voiceproto"
)

// EventDAVE is reported through Config.OnEvent when the DAVE state changes
// (a new epoch, a transition executed, a downgrade); read Conn.DAVE.
const EventDAVE = "dave"

// DAVEState is a snapshot of the connection's DAVE (E2EE) participant.
type DAVEState struct {
	// Enabled: the client offered DAVE (Config.DisableDAVE unset).
	Enabled bool `json:"enabled"`
	// ProtocolVersion in effect: 1 encrypts media, 0 is transport-only
	// (the server said so, or a downgrade executed).
	ProtocolVersion uint16 `json:"protocol_version"`
	// Ready: the client is in the room's MLS group; its Opus is encrypted
	// while ProtocolVersion is 1.
	Ready bool `json:"ready"`
	// Epoch is the MLS epoch, PrivacyCode the 30-digit voice privacy code
	// every member shows for it (dave.md §8).
	Epoch       uint64 `json:"epoch"`
	PrivacyCode string `json:"privacy_code,omitempty"`
	// Members are the users of the group, this one included.
	Members []string `json:"members,omitempty"`
	// Transitions counts executed transitions; Recoveries the op 31s sent.
	// Pending counts prepared transitions awaiting their op 22 (this
	// client still sends with the previous epoch's key meanwhile).
	Transitions int `json:"transitions"`
	Pending     int `json:"pending"`
	Recoveries  int `json:"recoveries"`
	// Encrypt and Decrypt are the frame counters.
	Encrypt dave.EncryptorStats `json:"encrypt"`
	Decrypt dave.DecryptorStats `json:"decrypt"`
	// Undecryptable counts DAVE frames received before the client had keys.
	Undecryptable uint64 `json:"undecryptable"`
}

// daveTransitionExpiry is how long receivers accept transport-only frames
// after an upgrade executes, and previous keys stay usable (dave.md §4).
const daveTransitionExpiry = 10 * time.Second

// daveSendWait bounds how long a send waits for DAVE to settle (see
// daveSession.encrypt) before it fails with ErrDAVENotReady. Settling takes
// a few gateway round trips, or the gateway's transition timeout (2 s)
// when a member does not answer.
const daveSendWait = 5 * time.Second

// daveSession is the client's DAVE participant (dave.md §4; modelled on
// @discordjs/voice DAVESession.ts over davey). The WebSocket reader drives
// it; the sender encrypts and the UDP reader decrypts through it.
type daveSession struct {
	c    *Conn
	self uint64
	chID uint64

	mu          sync.Mutex // guards all following fields
	version     uint16
	pending     map[uint16]uint16 // prepared transition id -> version
	downgraded  bool
	passthrough bool // new decryptors accept transport-only frames
	sig         *ecdsa.PrivateKey
	bundle      *mls.KeyPackageBundle
	ext         []byte // op 25 payload
	group       *mls.Group
	joined      bool
	enc         *dave.Encryptor
	sendKey     bool                        // enc holds this group's key
	sendNext    map[uint16]*dave.KeyRatchet // own ratchet per prepared commit transition
	encBuf      []byte
	decs        map[uint64]*dave.Decryptor
	code        string
	transitions int
	recoveries  int
	undecrypt   uint64
	// changed is closed and replaced whenever the state that decides how
	// frames are sent may have changed (notifyLocked); senders wait on it.
	changed chan struct{}
}

func newDAVESession(c *Conn) (*daveSession, error) {
	self, err := strconv.ParseUint(c.cfg.UserID, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("%w: DAVE needs a numeric user id (got %q)", ErrConfig, c.cfg.UserID)
	}
	ch, err := strconv.ParseUint(c.cfg.ChannelID, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("%w: DAVE needs a numeric channel id (got %q)", ErrConfig, c.cfg.ChannelID)
	}
	return &daveSession{c: c, self: self, chID: ch, pending: map[uint16]uint16{}, sendNext: map[uint16]*dave.KeyRatchet{},
		enc: dave.NewEncryptor(), encBuf: make([]byte, 0, MaxOpusSize+dave.MaxOverhead+16),
		decs: map[uint64]*dave.Decryptor{}, changed: make(chan struct{})}, nil
}

// DAVE returns the connection's DAVE state.
func (c *Conn) DAVE() DAVEState {
	d := c.dave
	if d == nil {
		return DAVEState{}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	st := DAVEState{Enabled: true, ProtocolVersion: d.version, Ready: d.joined, PrivacyCode: d.code,
		Transitions: d.transitions, Pending: len(d.pending), Recoveries: d.recoveries, Encrypt: d.enc.Stats(), Undecryptable: d.undecrypt}
	if d.joined {
		st.Epoch = d.group.Epoch()
		for _, m := range d.group.Members() {
			if len(m.Identity) == 8 {
				st.Members = append(st.Members, strconv.FormatUint(binary.BigEndian.Uint64(m.Identity), 10))
			}
		}
	}
	for _, dec := range d.decs {
		s := dec.Stats()
		st.Decrypt.Decrypted += s.Decrypted
		st.Decrypt.Passthrough += s.Passthrough
		st.Decrypt.Silence += s.Silence
		st.Decrypt.Attempts += s.Attempts
		st.Decrypt.Unencrypted += s.Unencrypted
		st.Decrypt.NoKey += s.NoKey
		st.Decrypt.AuthFailures += s.AuthFailures
		st.Decrypt.Replays += s.Replays
		st.Decrypt.Generation += s.Generation
	}
	return st
}

// PairwiseCode returns the 45-digit verification code this client and
// user compare out of band (dave.md §8; davey getVerificationCode). It
// runs scrypt (tens of milliseconds).
func (c *Conn) PairwiseCode(user string) (string, error) {
	d := c.dave
	if d == nil {
		return "", ErrNoDAVE
	}
	uid, err := strconv.ParseUint(user, 10, 64)
	if err != nil {
		return "", fmt.Errorf("%w: user %q", ErrNoDAVE, user)
	}
	d.mu.Lock()
	var mine, theirs []byte
	if d.joined {
		for _, m := range d.group.Members() {
			if len(m.Identity) != 8 {
				continue
			}
			switch binary.BigEndian.Uint64(m.Identity) {
			case d.self:
				mine = m.SignatureKey
			case uid:
				theirs = m.SignatureKey
			}
		}
	}
	d.mu.Unlock()
	if mine == nil || theirs == nil {
		return "", fmt.Errorf("%w: %s is not in the group", ErrNoDAVE, user)
	}
	return dave.PairwiseVerificationCode(mine, d.self, theirs, uid)
}

// sessionDescription starts the participant at op 4's version.
func (d *daveSession) sessionDescription(version uint16) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.version = version
	if version >= 1 {
		d.reinitLocked()
	}
	d.notifyLocked()
}

// notifyLocked wakes senders waiting for the DAVE state to settle.
func (d *daveSession) notifyLocked() {
	close(d.changed)
	d.changed = make(chan struct{})
}

// notify is notifyLocked for callers outside the lock (a member left, so
// this client may now be alone in the room).
func (d *daveSession) notify() {
	d.mu.Lock()
	d.notifyLocked()
	d.mu.Unlock()
}

// reinitLocked starts afresh with a new key package (op 26).
func (d *daveSession) reinitLocked() {
	sig, err := mls.GenerateSignatureKey()
	if err != nil {
		d.c.log.Warn("dave: key", "err", err)
		return
	}
	b, err := mls.NewKeyPackage(sig, mls.BasicCredential(binary.BigEndian.AppendUint64(nil, d.self)))
	if err != nil {
		d.c.log.Warn("dave: key package", "err", err)
		return
	}
	d.sig, d.bundle, d.group, d.joined = sig, b, nil, false
	d.sendKey = false
	clear(d.sendNext)
	d.pendingGroupLocked()
	d.writeBinary(dave.KeyPackageMessage{KeyPackage: b.KeyPackage.Marshal()})
}

// pendingGroupLocked creates the one-member epoch-0 group once both the
// key package and the gateway's external sender are known.
func (d *daveSession) pendingGroupLocked() {
	if d.ext == nil || d.bundle == nil || d.group != nil {
		return
	}
	e, err := mls.ParseExternalSenderEntry(d.ext)
	if err != nil {
		d.c.log.Warn("dave: external sender", "err", err)
		return
	}
	g, err := mls.NewGroup(binary.BigEndian.AppendUint64(nil, d.chID), d.bundle,
		[]mls.Extension{mls.ExternalSendersExtension(*e)}, mls.WithUniqueIdentities())
	if err != nil {
		d.c.log.Warn("dave: group", "err", err)
		return
	}
	d.group = g
}

func (d *daveSession) writeBinary(m dave.BinaryMessage) {
	b, err := dave.AppendClientFrame(nil, m)
	if err == nil {
		err = d.c.writeMessage(websocket.BinaryMessage, b)
	}
	if err != nil {
		d.c.log.Debug("dave: write", "op", m.Opcode().String(), "err", err)
	}
}

func (d *daveSession) writeJSON(op dave.Opcode, v any) {
	if err := d.c.writeOp(voiceproto.Op(op), v); err != nil {
		d.c.log.Debug("dave: write", "op", op.String(), "err", err)
	}
}

// handleJSON processes ops 21, 22 and 24.
func (d *daveSession) handleJSON(op voiceproto.Op, raw json.RawMessage) {
	msg, err := dave.DecodeJSON(dave.Opcode(op), raw)
	if err != nil {
		d.c.stats.badMessages.Add(1)
		return
	}
	d.mu.Lock()
	changed := false
	switch m := msg.(type) {
	case dave.PrepareTransition:
		d.pending[m.TransitionID] = m.ProtocolVersion
		if m.TransitionID == 0 {
			changed = d.executeLocked(0)
		} else {
			if m.ProtocolVersion == 0 { // downgrade pending: accept transport-only frames
				d.setPassthroughLocked(true, 0)
			}
			d.writeJSON(dave.OpReadyForTransition, dave.ReadyForTransition{TransitionID: m.TransitionID})
		}
	case dave.ExecuteTransition:
		changed = d.executeLocked(m.TransitionID)
	case dave.PrepareEpoch:
		if m.Epoch == 1 {
			d.version = m.ProtocolVersion
			if d.downgraded { // upgrade: members still send transport-only Opus
				d.setPassthroughLocked(true, 0)
			}
			d.reinitLocked()
			changed = true
		}
	}
	d.notifyLocked()
	d.mu.Unlock()
	if changed {
		d.c.event(Event{Type: EventDAVE})
	}
}

// executeLocked switches to a prepared transition.
func (d *daveSession) executeLocked(id uint16) bool {
	v, ok := d.pending[id]
	if !ok {
		return false
	}
	delete(d.pending, id)
	if r := d.sendNext[id]; r != nil {
		delete(d.sendNext, id)
		d.enc.SetKeyRatchet(r)
		d.sendKey = true
	}
	old := d.version
	d.version = v
	d.transitions++
	switch {
	case old != v && v == 0:
		d.downgraded = true
		d.setPassthroughLocked(true, 0)
	case id != 0 && d.downgraded && v == 1:
		d.downgraded = false
		d.setPassthroughLocked(false, daveTransitionExpiry)
	}
	return true
}

func (d *daveSession) setPassthroughLocked(on bool, expiry time.Duration) {
	d.passthrough = on
	for _, dec := range d.decs {
		dec.SetPassthrough(on, expiry)
	}
}

// handleBinary processes ops 25, 27, 29 and 30.
func (d *daveSession) handleBinary(msg dave.BinaryMessage) {
	members := d.c.Members()
	d.mu.Lock()
	changed := false
	switch m := msg.(type) {
	case dave.ExternalSenderPackage:
		d.ext, _ = m.AppendPayload(nil)
		d.pendingGroupLocked()
	case dave.ProposalsMessage:
		d.proposalsLocked(m, members)
	case dave.AnnounceCommitTransition:
		changed = d.commitLocked(m)
	case dave.WelcomeMessage:
		changed = d.welcomeLocked(m)
	}
	d.notifyLocked()
	d.mu.Unlock()
	if changed {
		d.c.event(Event{Type: EventDAVE})
	}
}

// proposalsLocked caches (or revokes) the gateway's proposals and commits
// everything cached (op 28), refusing Adds of users the server has not
// announced (dave.md §3).
func (d *daveSession) proposalsLocked(m dave.ProposalsMessage, members []string) {
	if d.group == nil {
		return
	}
	if m.Op == dave.ProposalsAppend {
		for b := m.Data; len(b) > 0; {
			_, rest, err := mls.ParseMLSMessagePrefix(b)
			if err != nil {
				d.c.log.Warn("dave: proposals", "err", err)
				return
			}
			p, _, err := d.group.ProcessProposal(b[:len(b)-len(rest)])
			if err != nil {
				d.c.log.Warn("dave: proposal", "err", err)
				return
			}
			if p.Type == mls.ProposalAdd {
				id := p.KeyPackage.Identity()
				if len(id) != 8 || !slices.Contains(members, strconv.FormatUint(binary.BigEndian.Uint64(id), 10)) {
					d.c.log.Warn("dave: Add for a user the server did not announce", "identity", fmt.Sprintf("%x", id))
					return
				}
			}
			b = rest
		}
	} else {
		refs, err := m.Refs()
		if err != nil {
			d.c.log.Warn("dave: revoke", "err", err)
			return
		}
		for _, r := range refs {
			d.group.RemoveCachedProposal(r)
		}
	}
	refs := d.group.CachedProposalRefs()
	if len(refs) == 0 {
		return
	}
	// Earlier commits of this epoch stay pending: the gateway may still
	// pick one of them (the proposals it covers can become the live set
	// again after a revoke), and ProcessCommit merges whichever it
	// announces. Dropping them made this client recover (op 31) from its
	// own winning commit during churn.
	commit, welcome, err := d.group.CreateCommit(refs, nil)
	if err != nil {
		d.c.log.Warn("dave: commit", "err", err)
		return
	}
	d.writeBinary(dave.CommitWelcome{Data: append(bytes.Clone(commit), welcome...)})
}

func (d *daveSession) commitLocked(m dave.AnnounceCommitTransition) bool {
	if d.group == nil {
		d.recoverLocked(m.TransitionID, errors.New("commit without a group"))
		return false
	}
	if _, err := d.group.ProcessCommit(m.Commit); err != nil {
		d.recoverLocked(m.TransitionID, err)
		return false
	}
	d.newEpochLocked(m.TransitionID)
	return true
}

func (d *daveSession) welcomeLocked(m dave.WelcomeMessage) bool {
	if d.bundle == nil {
		d.recoverLocked(m.TransitionID, errors.New("welcome without a key package"))
		return false
	}
	g, err := mls.JoinFromWelcome(m.Welcome, d.bundle, mls.WithUniqueIdentities())
	if err != nil {
		d.recoverLocked(m.TransitionID, err)
		return false
	}
	d.group = g
	d.newEpochLocked(m.TransitionID)
	return true
}

// newEpochLocked installs the keys of the group's new epoch: every other
// member's receive ratchet at once (receivers keep the previous epoch's for
// a while), this client's sender ratchet when the transition executes
// (op 22), so that no member receives frames it has no key for yet. davey
// switches its sender when it processes the commit (dave.md §4).
func (d *daveSession) newEpochLocked(transition uint16) {
	first := !d.joined
	d.joined = true
	exp := dave.ExporterFunc(d.group.Exporter)
	if r, err := dave.NewSenderKeyRatchet(exp, d.self); err != nil {
		d.c.log.Warn("dave: sender key", "err", err)
	} else if transition == 0 {
		d.enc.SetKeyRatchet(r)
		d.sendKey = true
	} else {
		d.sendNext[transition] = r
	}
	live := map[uint64]bool{}
	for _, m := range d.group.Members() {
		if len(m.Identity) != 8 {
			continue
		}
		u := binary.BigEndian.Uint64(m.Identity)
		if u == d.self {
			continue
		}
		live[u] = true
		r, err := dave.NewSenderKeyRatchet(exp, u)
		if err != nil {
			continue
		}
		dec := d.decs[u]
		if dec == nil {
			dec = d.newDecryptorLocked(first)
			d.decs[u] = dec
		}
		dec.TransitionToKeyRatchet(r)
	}
	for u := range d.decs {
		if !live[u] {
			delete(d.decs, u)
		}
	}
	d.code, _ = dave.VoicePrivacyCode(d.group.EpochAuthenticator())
	if transition == 0 {
		d.transitions++
	} else {
		d.pending[transition] = d.version
		d.writeJSON(dave.OpReadyForTransition, dave.ReadyForTransition{TransitionID: transition})
	}
	d.c.log.Debug("dave: epoch", "epoch", d.group.Epoch(), "transition_id", transition, "code", d.code)
}

// newDecryptorLocked returns a receiver for a sender. While the group is
// being (re-)created members may still send transport-only frames for a
// moment, so a fresh group's receivers accept them for
// daveTransitionExpiry.
func (d *daveSession) newDecryptorLocked(fresh bool) *dave.Decryptor {
	dec := dave.NewDecryptor()
	switch {
	case d.passthrough || d.version == 0:
		dec.SetPassthrough(true, 0)
	case fresh:
		dec.SetPassthrough(true, 0)
		dec.SetPassthrough(false, daveTransitionExpiry)
	}
	return dec
}

// recoverLocked: a commit or Welcome this client cannot use; it sends op 31
// and a fresh key package, and the gateway removes and re-adds it.
func (d *daveSession) recoverLocked(id uint16, why error) {
	d.c.log.Warn("dave: invalid transition; recovering", "transition_id", id, "err", why)
	d.recoveries++
	d.writeJSON(dave.OpInvalidCommitWelcome, dave.InvalidCommitWelcome{TransitionID: id})
	d.reinitLocked()
}

// encrypt returns frame as it goes into RTP: DAVE-encrypted with this
// client's sender key, or as is when the protocol version is 0, for the
// Opus silence frame, and while no one else is in the room. The result is
// valid until the next call; the sender serialises calls.
//
// In between (protocol version 1 without a sender key: joining or
// re-creating a group, recovering after op 31, or between this client's
// op 23 and the op 22 that installs its key) it waits, up to daveSendWait,
// rather than send a frame no receiver could use: the SFU drops
// transport-only frames once the room's group is established, and a
// receiver cannot decrypt a key it has not been given. libdave fails such
// frames (no key ratchet: encryption failure) and D++ reports voice ready
// only once its first transition is ready; waiting keeps every frame.
func (d *daveSession) encrypt(frame []byte) ([]byte, error) {
	if dave.IsOpusSilence(frame) {
		return frame, nil
	}
	var timer *time.Timer
	for {
		alone := !d.c.hasMembers()
		d.mu.Lock()
		switch {
		case d.version == 0 || !d.sendKey && alone:
			d.mu.Unlock()
			return frame, nil
		case d.sendKey:
			out, err := d.enc.Encrypt(d.encBuf[:0], frame)
			if err == nil {
				d.encBuf = out[:0]
			}
			d.mu.Unlock()
			return out, err
		}
		wait := d.changed
		d.mu.Unlock()
		if timer == nil {
			d.c.stats.daveWaits.Add(1)
			timer = time.NewTimer(daveSendWait)
			defer timer.Stop()
		}
		select {
		case <-wait:
		case <-d.c.closing:
			return nil, ErrClosed
		case <-timer.C:
			d.c.stats.daveNotReady.Add(1)
			return nil, fmt.Errorf("%w after %v", ErrDAVENotReady, daveSendWait)
		}
	}
}

// settled reports whether a frame sent now goes out without waiting (see
// encrypt), and otherwise returns the channel that closes on the next
// state change.
func (d *daveSession) settled() (bool, <-chan struct{}) {
	alone := !d.c.hasMembers()
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.version == 0 || d.sendKey || alone {
		return true, nil
	}
	return false, d.changed
}

// WaitDAVE waits until media sent now goes out without waiting for DAVE:
// the protocol version is 0, or this client holds its sender key for the
// room's group, or no one else is in the room. It returns at once when
// DAVE is off; ErrClosed if the connection ends first. Dial waits for it
// (up to 5 s), and SendOpus waits the same way on its own.
func (c *Conn) WaitDAVE(ctx context.Context) error {
	if c.dave == nil {
		return nil
	}
	for {
		ok, wait := c.dave.settled()
		if ok {
			return nil
		}
		select {
		case <-wait:
		case <-c.closing:
			return ErrClosed
		case <-ctx.Done():
			return fmt.Errorf("%w: %w", ErrDAVENotReady, ctx.Err())
		}
	}
}

// decrypt returns the Opus of a frame from user, appended to dst, or
// false to drop it: frames the client cannot decrypt never reach OnFrame.
func (d *daveSession) decrypt(dst []byte, user string, frame []byte) ([]byte, bool) {
	if dave.IsOpusSilence(frame) {
		return append(dst, frame...), true
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	uid, err := strconv.ParseUint(user, 10, 64)
	dec := d.decs[uid]
	if err != nil || dec == nil {
		if dave.IsProtocolFrame(frame) {
			d.undecrypt++
			return dst, false
		}
		return append(dst, frame...), true // no DAVE from this sender (yet)
	}
	out, err := dec.Decrypt(dst, frame)
	if err != nil {
		return dst, false
	}
	return out, true
}

// daveMax is the max_dave_protocol_version this client identifies with.
func (c *Conn) daveMax() int {
	if c.dave == nil {
		return 0
	}
	return 1
}

// handleBinary processes a server binary frame (DAVE ops 25, 27, 29, 30).
// Its u16 sequence number counts in the v8 sequence, so seq_ack follows it
// (widened against the last JSON seq).
func (c *Conn) handleBinary(data []byte) {
	seq, msg, err := dave.DecodeServerFrame(data)
	if err != nil {
		c.stats.badMessages.Add(1)
		c.log.Debug("voice gateway: bad binary frame", "err", err)
		return
	}
	last := c.seq.Load()
	s := max(last, 0)&^0xFFFF | int64(seq)
	if s < last-1<<15 {
		s += 1 << 16
	}
	c.seq.Store(s)
	if c.dave == nil {
		c.log.Debug("voice gateway: DAVE frame while DAVE is off", "op", msg.Opcode().String())
		return
	}
	c.dave.handleBinary(msg)
}

// writeMessage sends one raw WebSocket message on the current connection.
func (c *Conn) writeMessage(typ int, b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	select {
	case <-c.closing:
		return ErrClosed
	default:
	}
	if c.ws == nil {
		return ErrClosed
	}
	_ = c.ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
	return c.ws.WriteMessage(typ, b)
}
