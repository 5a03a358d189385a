package dave

import (
	"bytes"
	"crypto/ecdsa"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/parleyhq/parley/e2ee/mls"
)

// TransitionExpiry is how long receivers accept transport-only frames
// after an upgrade executes or a group is created, and previous keys stay
// usable (dave.md §4).
const TransitionExpiry = 10 * time.Second

// ParticipantConfig configures a [Participant].
type ParticipantConfig struct {
	// UserID is this client's user, ChannelID the call's channel (the MLS
	// group id).
	UserID, ChannelID uint64
	// Keys receives key changes (the media side). Required.
	Keys KeySink
	// Logger; nil discards. A *slog.Logger (not a nil one) serves.
	Logger Logger
	// Announced reports whether the voice server has announced user as a
	// member of the call (ops 11/13, or this client); proposals adding an
	// unannounced user are refused (dave.md §3). nil: everyone.
	Announced func(user uint64) bool
}

// Logger is what a Participant logs through: a *slog.Logger serves. It is
// an interface so that a program that logs nothing (the browser's
// WebAssembly module) does not carry log/slog's handlers.
type Logger interface {
	Debug(msg string, args ...any)
	Warn(msg string, args ...any)
}

// discard is the Logger of a Participant configured without one.
type discard struct{}

func (discard) Debug(string, ...any) {}
func (discard) Warn(string, ...any)  {}

// Outgoing is one message a Participant asks its caller to send to the
// voice gateway: a JSON opcode (23 or 31) with its payload, or a binary
// one (26 or 28) when Binary is set.
type Outgoing struct {
	JSON    Opcode
	Payload any
	Binary  BinaryMessage
}

// ParticipantState is a snapshot of a Participant.
type ParticipantState struct {
	// ProtocolVersion in effect: 1 encrypts media, 0 is transport-only.
	ProtocolVersion uint16 `json:"protocol_version"`
	// Ready: the client is in the room's MLS group.
	Ready bool `json:"ready"`
	// Epoch is the MLS epoch, PrivacyCode its 30-digit voice privacy code
	// (dave.md §8).
	Epoch       uint64 `json:"epoch"`
	PrivacyCode string `json:"privacy_code,omitempty"`
	// Members are the group's users, this one included, as decimal
	// strings (JSON numbers lose precision above 2^53 in JavaScript).
	Members []string `json:"members,omitempty"`
	// Transitions counts executed transitions; Pending the prepared ones
	// awaiting their op 22; Recoveries the op 31s sent.
	Transitions int `json:"transitions"`
	Pending     int `json:"pending"`
	Recoveries  int `json:"recoveries"`
}

// Participant is the MLS side of a DAVE client (dave.md §4; modelled on
// @discordjs/voice DAVESession.ts over davey): it turns the voice
// gateway's DAVE opcodes into the messages to send back and into key
// changes for its [KeySink].
//
// It is a pure state machine: no I/O, no goroutines, no locks. The caller
// serialises calls (the voice gateway reader in Go, the MLS worker in a
// browser) and sends the returned messages in order. MLS work
// (ProcessCommit, CreateCommit, JoinFromWelcome) takes milliseconds; the
// media side (FrameSession) never waits for it.
type Participant struct {
	self, chID uint64
	keys       KeySink
	log        Logger
	announced  func(uint64) bool

	version     uint16
	pending     map[uint16]uint16 // prepared transition id -> version
	downgraded  bool
	sig         *ecdsa.PrivateKey
	bundle      *mls.KeyPackageBundle
	spareSig    *ecdsa.PrivateKey     // made by Prepare, used by the next reinit
	spare       *mls.KeyPackageBundle // with spareSig
	ext         []byte                // op 25 payload
	group       *mls.Group
	joined      bool
	sendNext    map[uint16][]byte // own base secret per prepared commit transition
	code        string
	transitions int
	recoveries  int

	out []Outgoing // messages of the input being handled
}

// NewParticipant returns a Participant before op 4. Errors: ErrConfig
// without Keys.
func NewParticipant(cfg ParticipantConfig) (*Participant, error) {
	if cfg.Keys == nil {
		return nil, fmt.Errorf("%w: ParticipantConfig.Keys is nil", ErrConfig)
	}
	var log Logger = discard{}
	if cfg.Logger != nil {
		log = cfg.Logger
	}
	return &Participant{self: cfg.UserID, chID: cfg.ChannelID, keys: cfg.Keys, log: log, announced: cfg.Announced,
		pending: map[uint16]uint16{}, sendNext: map[uint16][]byte{}}, nil
}

// take returns the messages gathered for the current input.
func (p *Participant) take() []Outgoing {
	out := p.out
	p.out = nil
	return out
}

// SessionDescription starts the participant at op 4's
// dave_protocol_version: with 1 it sends its key package (op 26).
func (p *Participant) SessionDescription(version uint16) (out []Outgoing, changed bool) {
	p.setVersion(version)
	if version >= 1 {
		p.reinit()
	}
	return p.take(), true
}

func (p *Participant) setVersion(v uint16) {
	p.version = v
	p.keys.SetProtocolVersion(v)
}

// HandleJSON processes ops 21, 22 and 24 (raw is the "d" payload).
// Errors: the payload does not decode (the caller counts a bad message).
func (p *Participant) HandleJSON(op Opcode, raw json.RawMessage) (out []Outgoing, changed bool, err error) {
	msg, err := DecodeJSON(op, raw)
	if err != nil {
		return nil, false, err
	}
	out, changed = p.Handle(msg)
	return out, changed, nil
}

// Handle processes a decoded JSON op: PrepareTransition (21),
// ExecuteTransition (22) or PrepareEpoch (24); others are ignored. It is
// HandleJSON for a caller that decodes the JSON itself (the browser's
// module, which thus carries no encoding/json).
func (p *Participant) Handle(msg Message) (out []Outgoing, changed bool) {
	switch m := msg.(type) {
	case PrepareTransition:
		p.pending[m.TransitionID] = m.ProtocolVersion
		if m.TransitionID == 0 {
			changed = p.execute(0)
		} else {
			if m.ProtocolVersion == 0 { // downgrade pending: accept transport-only frames
				p.keys.SetPassthrough(true, 0)
			}
			p.out = append(p.out, Outgoing{JSON: OpReadyForTransition, Payload: ReadyForTransition{TransitionID: m.TransitionID}})
		}
	case ExecuteTransition:
		changed = p.execute(m.TransitionID)
	case PrepareEpoch:
		if m.Epoch == 1 {
			p.setVersion(m.ProtocolVersion)
			if p.downgraded { // upgrade: members still send transport-only Opus
				p.keys.SetPassthrough(true, 0)
			}
			p.reinit()
			changed = true
		}
	}
	return p.take(), changed
}

// HandleBinary processes ops 25, 27, 29 and 30.
func (p *Participant) HandleBinary(msg BinaryMessage) (out []Outgoing, changed bool) {
	switch m := msg.(type) {
	case ExternalSenderPackage:
		p.ext, _ = m.AppendPayload(nil)
		p.pendingGroup()
	case ProposalsMessage:
		p.proposals(m)
	case AnnounceCommitTransition:
		changed = p.commit(m)
	case WelcomeMessage:
		changed = p.welcome(m)
	}
	return p.take(), changed
}

// State returns a snapshot.
func (p *Participant) State() ParticipantState {
	st := ParticipantState{ProtocolVersion: p.version, Ready: p.joined, PrivacyCode: p.code,
		Transitions: p.transitions, Pending: len(p.pending), Recoveries: p.recoveries}
	if p.joined {
		st.Epoch = p.group.Epoch()
		for _, m := range p.group.Members() {
			if len(m.Identity) == 8 {
				st.Members = append(st.Members, strconv.FormatUint(binary.BigEndian.Uint64(m.Identity), 10))
			}
		}
	}
	return st
}

// MemberKeys returns this client's and user's MLS signature keys for the
// pairwise verification code (PairwiseVerificationCode, which runs scrypt:
// call it outside any lock that serialises the Participant); ok is false
// when either is not in the group.
func (p *Participant) MemberKeys(user uint64) (mine, theirs []byte, ok bool) {
	if !p.joined {
		return nil, nil, false
	}
	for _, m := range p.group.Members() {
		if len(m.Identity) != 8 {
			continue
		}
		switch binary.BigEndian.Uint64(m.Identity) {
		case p.self:
			mine = bytes.Clone(m.SignatureKey)
		case user:
			theirs = bytes.Clone(m.SignatureKey)
		}
	}
	return mine, theirs, mine != nil && theirs != nil
}

// execute switches to a prepared transition.
func (p *Participant) execute(id uint16) bool {
	v, ok := p.pending[id]
	if !ok {
		return false
	}
	delete(p.pending, id)
	if base := p.sendNext[id]; base != nil {
		delete(p.sendNext, id)
		p.keys.SetSenderKey(base)
	}
	old := p.version
	p.setVersion(v)
	p.transitions++
	switch {
	case old != v && v == 0:
		p.downgraded = true
		p.keys.SetPassthrough(true, 0)
	case id != 0 && p.downgraded && v == 1:
		p.downgraded = false
		p.keys.SetPassthrough(false, TransitionExpiry)
	}
	return true
}

// Prepare makes the signature key and key package that the next op 26
// sends (on op 4, an upgrade or a recovery) ahead of time, so that the
// client answers op 4 at once: P-256 key generation and signing take
// milliseconds natively, hundreds of them in a WebAssembly module whose
// code has not run yet. Optional; a prepared key package is used once.
func (p *Participant) Prepare() error {
	if p.spare != nil {
		return nil
	}
	sig, b, err := p.newKeyPackage()
	if err != nil {
		return err
	}
	p.spareSig, p.spare = sig, b
	return nil
}

func (p *Participant) newKeyPackage() (*ecdsa.PrivateKey, *mls.KeyPackageBundle, error) {
	sig, err := mls.GenerateSignatureKey()
	if err != nil {
		return nil, nil, fmt.Errorf("dave: signature key: %w", err)
	}
	b, err := mls.NewKeyPackage(sig, mls.BasicCredential(binary.BigEndian.AppendUint64(nil, p.self)))
	if err != nil {
		return nil, nil, fmt.Errorf("dave: key package: %w", err)
	}
	return sig, b, nil
}

// reinit starts afresh with a new key package (op 26): the prepared one,
// if any.
func (p *Participant) reinit() {
	sig, b := p.spareSig, p.spare
	p.spareSig, p.spare = nil, nil
	if b == nil {
		var err error
		if sig, b, err = p.newKeyPackage(); err != nil {
			p.log.Warn("dave: key package", "err", err)
			return
		}
	}
	p.sig, p.bundle, p.group, p.joined = sig, b, nil, false
	p.keys.SetSenderKey(nil)
	clear(p.sendNext)
	p.pendingGroup()
	p.out = append(p.out, Outgoing{Binary: KeyPackageMessage{KeyPackage: b.KeyPackage.Marshal()}})
}

// pendingGroup creates the one-member epoch-0 group once both the key
// package and the gateway's external sender are known.
func (p *Participant) pendingGroup() {
	if p.ext == nil || p.bundle == nil || p.group != nil {
		return
	}
	e, err := mls.ParseExternalSenderEntry(p.ext)
	if err != nil {
		p.log.Warn("dave: external sender", "err", err)
		return
	}
	g, err := mls.NewGroup(binary.BigEndian.AppendUint64(nil, p.chID), p.bundle,
		[]mls.Extension{mls.ExternalSendersExtension(*e)}, mls.WithUniqueIdentities())
	if err != nil {
		p.log.Warn("dave: group", "err", err)
		return
	}
	p.group = g
}

// proposals caches (or revokes) the gateway's proposals and commits
// everything cached (op 28), refusing Adds of users the server has not
// announced (dave.md §3).
func (p *Participant) proposals(m ProposalsMessage) {
	if p.group == nil {
		return
	}
	if m.Op == ProposalsAppend {
		for b := m.Data; len(b) > 0; {
			_, rest, err := mls.ParseMLSMessagePrefix(b)
			if err != nil {
				p.log.Warn("dave: proposals", "err", err)
				return
			}
			prop, _, err := p.group.ProcessProposal(b[:len(b)-len(rest)])
			if err != nil {
				p.log.Warn("dave: proposal", "err", err)
				return
			}
			if prop.Type == mls.ProposalAdd {
				id := prop.KeyPackage.Identity()
				if len(id) != 8 || p.announced != nil && !p.announced(binary.BigEndian.Uint64(id)) {
					p.log.Warn("dave: Add for a user the server did not announce", "identity", hex.EncodeToString(id))
					return
				}
			}
			b = rest
		}
	} else {
		refs, err := m.Refs()
		if err != nil {
			p.log.Warn("dave: revoke", "err", err)
			return
		}
		for _, r := range refs {
			p.group.RemoveCachedProposal(r)
		}
	}
	refs := p.group.CachedProposalRefs()
	if len(refs) == 0 {
		return
	}
	// Earlier commits of this epoch stay pending: the gateway may still
	// pick one of them (the proposals it covers can become the live set
	// again after a revoke), and ProcessCommit merges whichever it
	// announces. Dropping them made this client recover (op 31) from its
	// own winning commit during churn.
	commit, welcome, err := p.group.CreateCommit(refs, nil)
	if err != nil {
		p.log.Warn("dave: commit", "err", err)
		return
	}
	p.out = append(p.out, Outgoing{Binary: CommitWelcome{Data: append(bytes.Clone(commit), welcome...)}})
}

func (p *Participant) commit(m AnnounceCommitTransition) bool {
	if p.group == nil {
		p.recover(m.TransitionID, errors.New("commit without a group"))
		return false
	}
	if _, err := p.group.ProcessCommit(m.Commit); err != nil {
		p.recover(m.TransitionID, err)
		return false
	}
	p.newEpoch(m.TransitionID)
	return true
}

func (p *Participant) welcome(m WelcomeMessage) bool {
	if p.bundle == nil {
		p.recover(m.TransitionID, errors.New("welcome without a key package"))
		return false
	}
	g, err := mls.JoinFromWelcome(m.Welcome, p.bundle, mls.WithUniqueIdentities())
	if err != nil {
		p.recover(m.TransitionID, err)
		return false
	}
	p.group = g
	p.newEpoch(m.TransitionID)
	return true
}

// newEpoch installs the keys of the group's new epoch: every other
// member's receive key at once (receivers keep the previous epoch's for a
// while), this client's sender key when the transition executes (op 22),
// so that no member receives frames it has no key for yet. davey switches
// its sender when it processes the commit (dave.md §4); the FrameSession
// holds such frames until their key is installed.
func (p *Participant) newEpoch(transition uint16) {
	fresh := !p.joined
	p.joined = true
	exp := ExporterFunc(p.group.Exporter)
	if base, err := SenderBaseSecret(exp, p.self); err != nil {
		p.log.Warn("dave: sender key", "err", err)
	} else if transition == 0 {
		p.keys.SetSenderKey(base)
	} else {
		p.sendNext[transition] = base
	}
	var users []uint64
	for _, m := range p.group.Members() {
		if len(m.Identity) != 8 {
			continue
		}
		u := binary.BigEndian.Uint64(m.Identity)
		users = append(users, u)
		if u == p.self {
			continue
		}
		base, err := SenderBaseSecret(exp, u)
		if err != nil {
			continue
		}
		p.keys.SetReceiverKey(u, base, fresh)
	}
	p.keys.SetMembers(users)
	p.code, _ = VoicePrivacyCode(p.group.EpochAuthenticator())
	if transition == 0 {
		p.transitions++
	} else {
		p.pending[transition] = p.version
		p.out = append(p.out, Outgoing{JSON: OpReadyForTransition, Payload: ReadyForTransition{TransitionID: transition}})
	}
	p.log.Debug("dave: epoch", "epoch", p.group.Epoch(), "transition_id", transition, "code", p.code)
}

// recover: a commit or Welcome this client cannot use; it sends op 31 and
// a fresh key package, and the gateway removes and re-adds it.
func (p *Participant) recover(id uint16, why error) {
	p.log.Warn("dave: invalid transition; recovering", "transition_id", id, "err", why)
	p.recoveries++
	p.out = append(p.out, Outgoing{JSON: OpInvalidCommitWelcome, Payload: InvalidCommitWelcome{TransitionID: id}})
	p.reinit()
}
