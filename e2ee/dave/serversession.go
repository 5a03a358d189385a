package dave

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/parleyhq/parley/e2ee/mls"
)

// Server-session errors.
var (
	// ErrNotMember: a message from a user the session does not know.
	ErrNotMember = errors.New("dave: user is not in the session")
	// ErrInactive: an MLS message while the room is not at DAVE v1 (or the
	// user did not negotiate DAVE).
	ErrInactive = errors.New("dave: DAVE is not active for this user")
	// ErrKeyPackage: an invalid key package (parse, signatures, identity or
	// lifetime, dave.md §5).
	ErrKeyPackage = errors.New("dave: invalid key package")
	// ErrCommit: a commit the gateway does not accept (dave.md §5 "Commit
	// validity"; a later commit for an epoch already committed is also
	// this: the first valid commit wins).
	ErrCommit = errors.New("dave: commit rejected")
)

// DefaultTransitionTimeout is how long the gateway waits for op 23 before
// executing a transition anyway (about 2 s, implied by protocol.md).
const DefaultTransitionTimeout = 2 * time.Second

// ServerSessionConfig configures a ServerSession.
type ServerSessionConfig struct {
	// ChannelID is the voice channel; the MLS group ID is its 8-byte
	// big-endian form (dave.md §1).
	ChannelID uint64
	// Sender is the gateway's external sender (op 25 and proposal
	// signatures).
	Sender *mls.ExternalSender
	// MaxProtocolVersion is the highest DAVE version offered: 0 disables
	// DAVE, 1 enables DAVE v1.
	MaxProtocolVersion uint16
	// TransitionTimeout bounds the wait for op 23; 0 means
	// DefaultTransitionTimeout.
	TransitionTimeout time.Duration
}

// Validate checks the configuration.
func (c ServerSessionConfig) Validate() error {
	if c.MaxProtocolVersion > 1 {
		return fmt.Errorf("dave: unsupported protocol version %d", c.MaxProtocolVersion)
	}
	if c.MaxProtocolVersion > 0 && c.Sender == nil {
		return errors.New("dave: ServerSessionConfig.Sender is required when DAVE is enabled")
	}
	if c.TransitionTimeout < 0 {
		return errors.New("dave: negative TransitionTimeout")
	}
	return nil
}

// Send is one outgoing message: Msg (a JSON payload struct for ops 21, 22,
// 24, or a BinaryMessage for ops 25, 27, 29, 30) to User. The caller sends
// a session's Sends in order, binary ones with AppendServerFrame and that
// connection's sequence number.
type Send struct {
	User uint64
	Msg  Message
}

// serverMember is one connected user.
type serverMember struct {
	user   uint64
	dave   bool            // negotiated DAVE (max version >= 1)
	kp     *mls.KeyPackage // latest valid key package, nil if none
	kpRaw  []byte
	addRef mls.ProposalRef // live Add of kp, nil if none
	sent   map[string]bool // live proposal refs already sent to this user
}

// transition is a prepared protocol or epoch transition awaiting op 23.
type transition struct {
	id       uint16
	version  uint16
	deadline time.Time
	members  []uint64        // who gets op 22
	waiting  map[uint64]bool // who has not sent op 23
}

// ServerSession is the voice gateway's DAVE state for one voice room
// (dave.md §4-§5; protocol.md "Voice Gateway Opcodes" and "Transitions"):
// protocol version, members and their key packages, the MLS delivery
// service view (e2ee/mls ServerGroupView: external proposals, commit
// validity, first valid commit wins, Welcome splitting), and transitions
// with transition IDs, including downgrade to passthrough when a member
// without DAVE joins, upgrade when the last one leaves, and the sole-member
// reset.
//
// It is pure: no I/O, no clock (every input takes now), no goroutines. Each
// input returns the messages to send as values. Not safe for concurrent
// use; the room's owner serialises calls.
//
// The caller must announce users with op 11 (clients connect) before
// delivering Sends that follow their key package: members refuse Adds for
// users not announced (dave.md §3).
type ServerSession struct {
	cfg     ServerSessionConfig
	view    *mls.ServerGroupView
	extPkg  ExternalSenderPackage
	version uint16 // version new joiners get, and the room's target
	members map[uint64]*serverMember
	trans   *transition
	nextID  uint16
}

// NewServerSession validates cfg and returns an empty session.
func NewServerSession(cfg ServerSessionConfig) (*ServerSession, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.TransitionTimeout == 0 {
		cfg.TransitionTimeout = DefaultTransitionTimeout
	}
	s := &ServerSession{cfg: cfg, members: make(map[uint64]*serverMember), version: cfg.MaxProtocolVersion}
	if cfg.Sender != nil {
		s.view = mls.NewServerGroupView(binary.BigEndian.AppendUint64(nil, cfg.ChannelID), cfg.Sender)
		e := cfg.Sender.Entry()
		s.extPkg = ExternalSenderPackage{SignatureKey: e.SignatureKey, CredentialType: e.Credential.Type, Identity: e.Credential.Identity}
	}
	return s, nil
}

// ProtocolVersion is the DAVE version the room is at or moving to: what a
// joining DAVE-capable user gets in op 4.
func (s *ServerSession) ProtocolVersion() uint16 { return s.version }

// Epoch is the MLS epoch of the room's group (0 while unestablished).
func (s *ServerSession) Epoch() uint64 {
	if s.view == nil {
		return 0
	}
	return s.view.Epoch()
}

// Join adds user, who offered maxVersion in op 0 (0: no DAVE). It returns
// the dave_protocol_version for the user's op 4, which the caller sends
// before the returned messages.
func (s *ServerSession) Join(now time.Time, user uint64, maxVersion uint16) (uint16, []Send) {
	var out []Send
	if old, ok := s.members[user]; ok { // reconnect: drop the old state
		out = append(out, s.Leave(now, old.user)...)
	}
	m := &serverMember{user: user, dave: maxVersion >= 1 && s.cfg.MaxProtocolVersion >= 1, sent: map[string]bool{}}
	s.members[user] = m
	if len(s.members) == 1 {
		s.version = 0
		if m.dave {
			s.version = 1
		}
	}
	switch {
	case s.version == 1 && m.dave:
		out = append(out, Send{user, s.extPkg})
		return 1, out
	case s.version == 1: // downgrade everyone else to passthrough
		out = append(out, s.downgrade(now)...)
	}
	return 0, out
}

// Leave removes user (disconnect, op 13).
func (s *ServerSession) Leave(now time.Time, user uint64) []Send {
	m, ok := s.members[user]
	if !ok {
		return nil
	}
	delete(s.members, user)
	var out []Send
	if s.trans != nil {
		delete(s.trans.waiting, user)
		s.trans.members = slices.DeleteFunc(s.trans.members, func(u uint64) bool { return u == user })
		if len(s.trans.waiting) == 0 {
			out = append(out, s.execute()...)
		}
	}
	if len(s.members) == 0 {
		s.resetGroup()
		s.version = s.cfg.MaxProtocolVersion
		return out
	}
	if s.version == 0 {
		return append(out, s.maybeUpgrade(now)...)
	}
	if m.addRef != nil {
		out = append(out, s.revoke(m.addRef)...)
	}
	if s.daveCount() == 1 && s.view.Established() {
		return append(out, s.soleMemberReset()...)
	}
	if leaf, ok := s.view.LeafOf(identity(user)); ok && s.view.Established() {
		_, _, _ = s.view.ProposeRemove(leaf)
	}
	return append(out, s.distribute()...) // the Remove, and proposals a revoke re-issued
}

// Handle dispatches a client message: ReadyForTransition (23),
// KeyPackageMessage (26), CommitWelcome (28) or InvalidCommitWelcome (31).
func (s *ServerSession) Handle(now time.Time, user uint64, msg Message) ([]Send, error) {
	switch m := msg.(type) {
	case ReadyForTransition:
		return s.ReadyForTransition(now, user, m.TransitionID), nil
	case KeyPackageMessage:
		return s.KeyPackage(now, user, m.KeyPackage)
	case CommitWelcome:
		return s.CommitWelcome(now, user, m.Data)
	case InvalidCommitWelcome:
		return s.InvalidCommitWelcome(now, user, m.TransitionID), nil
	}
	return nil, fmt.Errorf("%w: %v from a client", ErrWrongDirection, msg.Opcode())
}

// KeyPackage handles op 26: validate the key package (dave.md §5: version,
// suite, signatures, lifetime, identity = user), replace any earlier one,
// and propose the user's Add once there is a group (or another pending
// member) to add it to. A user already in the group is removed and re-added
// (recovery after op 31).
func (s *ServerSession) KeyPackage(now time.Time, user uint64, kpRaw []byte) ([]Send, error) {
	m, err := s.daveMember(user)
	if err != nil {
		return nil, err
	}
	kp, err := mls.ParseKeyPackage(kpRaw)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKeyPackage, err)
	}
	if err := kp.Verify(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKeyPackage, err)
	}
	if err := kp.CheckDAVELifetime(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKeyPackage, err)
	}
	if id := kp.Identity(); len(id) != 8 || binary.BigEndian.Uint64(id) != user {
		return nil, fmt.Errorf("%w: identity %x is not user %d", ErrKeyPackage, id, user)
	}
	var out []Send
	if m.addRef != nil {
		out = append(out, s.revoke(m.addRef)...)
		m.addRef = nil
	}
	m.kp, m.kpRaw = kp, kpRaw
	if leaf, ok := s.view.LeafOf(identity(user)); ok && s.view.Established() && !s.removing(leaf) {
		if _, _, err := s.view.ProposeRemove(leaf); err != nil {
			return out, err
		}
	}
	return append(out, s.distribute()...), nil
}

// CommitWelcome handles op 28. The first valid commit of an epoch wins: it
// is applied, gets a transition ID, and is announced with op 29 to the
// members already in the group (committer included) and op 30, with a
// Welcome split to each one, to every added member. Later or invalid
// commits are ErrCommit and change nothing.
func (s *ServerSession) CommitWelcome(now time.Time, user uint64, data []byte) ([]Send, error) {
	m, err := s.daveMember(user)
	if err != nil {
		return nil, err
	}
	cc, err := s.view.CheckCommit(data, m.kp)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCommit, err)
	}
	if s.view.Established() { // before the first commit the committer is leaf 0 of its own group
		if leaf, ok := s.view.LeafOf(identity(user)); !ok || leaf != cc.Committer {
			return nil, fmt.Errorf("%w: user %d is not leaf %d", ErrCommit, user, cc.Committer)
		}
	}
	if err := s.view.ApplyCommit(cc); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCommit, err)
	}
	var out []Send
	if s.trans != nil { // a newer commit supersedes the pending transition
		out = append(out, s.execute()...)
	}
	for _, mm := range s.members {
		mm.addRef = nil
		clear(mm.sent)
	}
	for _, u := range s.groupUsers() { // their key packages are used up
		s.members[u].kp, s.members[u].kpRaw = nil, nil
	}
	t := &transition{id: s.newID(), version: 1, deadline: now.Add(s.cfg.TransitionTimeout), waiting: map[uint64]bool{}}
	added := map[uint64]bool{}
	for _, a := range cc.Added {
		u := binary.BigEndian.Uint64(a.Identity)
		added[u] = true
		if _, ok := s.members[u]; ok {
			out = append(out, Send{u, WelcomeMessage{TransitionID: t.id, Welcome: a.Welcome}})
			t.members = append(t.members, u)
		}
	}
	for _, u := range s.groupUsers() {
		if !added[u] {
			out = append(out, Send{u, AnnounceCommitTransition{TransitionID: t.id, Commit: cc.Commit}})
			t.members = append(t.members, u)
		}
	}
	for _, u := range t.members {
		t.waiting[u] = true
	}
	s.trans = t
	return append(out, s.distribute()...), nil
}

// ReadyForTransition handles op 23; when every member of the transition is
// ready, op 22 executes it.
func (s *ServerSession) ReadyForTransition(now time.Time, user uint64, id uint16) []Send {
	if s.trans == nil || s.trans.id != id {
		return nil
	}
	delete(s.trans.waiting, user)
	if len(s.trans.waiting) == 0 {
		return s.execute()
	}
	return nil
}

// InvalidCommitWelcome handles op 31: the user could not process a commit
// or Welcome and resets. It no longer blocks the transition, and its leaf
// is removed; its next key package re-adds it.
func (s *ServerSession) InvalidCommitWelcome(now time.Time, user uint64, id uint16) []Send {
	m, ok := s.members[user]
	if !ok || !m.dave || s.version != 1 {
		return nil
	}
	var out []Send
	if s.trans != nil && s.trans.waiting[user] {
		delete(s.trans.waiting, user)
		if len(s.trans.waiting) == 0 {
			out = append(out, s.execute()...)
		}
	}
	if m.addRef != nil {
		out = append(out, s.revoke(m.addRef)...)
		m.addRef = nil
	}
	m.kp, m.kpRaw = nil, nil
	if leaf, ok := s.view.LeafOf(identity(user)); ok && s.view.Established() && !s.removing(leaf) {
		if _, _, err := s.view.ProposeRemove(leaf); err == nil {
			out = append(out, s.distribute()...)
		}
	}
	return out
}

// Tick executes a transition whose op 23 wait has timed out. Call it
// periodically (e.g. every 250 ms) or at NextDeadline.
func (s *ServerSession) Tick(now time.Time) []Send {
	if s.trans != nil && !now.Before(s.trans.deadline) {
		return s.execute()
	}
	return nil
}

// NextDeadline returns when Tick has work, if a transition is pending.
func (s *ServerSession) NextDeadline() (time.Time, bool) {
	if s.trans == nil {
		return time.Time{}, false
	}
	return s.trans.deadline, true
}

// DebugInfo returns a state dump.
func (s *ServerSession) DebugInfo() map[string]any {
	users := make([]uint64, 0, len(s.members))
	for u := range s.members {
		users = append(users, u)
	}
	slices.Sort(users)
	info := map[string]any{"protocol_version": s.version, "users": users, "group_users": s.groupUsers()}
	if s.view != nil {
		info["epoch"] = s.view.Epoch()
		info["established"] = s.view.Established()
		info["live_proposals"] = len(s.view.Proposals())
	}
	if s.trans != nil {
		info["transition_id"] = s.trans.id
		info["transition_waiting"] = len(s.trans.waiting)
	}
	return info
}

// identity is a user's MLS basic credential identity (dave.md §1).
func identity(user uint64) []byte { return binary.BigEndian.AppendUint64(nil, user) }

func (s *ServerSession) daveMember(user uint64) (*serverMember, error) {
	m, ok := s.members[user]
	if !ok {
		return nil, fmt.Errorf("%w: %d", ErrNotMember, user)
	}
	if !m.dave || s.version != 1 || s.view == nil {
		return nil, ErrInactive
	}
	return m, nil
}

func (s *ServerSession) daveCount() int {
	n := 0
	for _, m := range s.members {
		if m.dave {
			n++
		}
	}
	return n
}

// newID returns the next non-zero transition ID.
func (s *ServerSession) newID() uint16 {
	s.nextID++
	if s.nextID == 0 {
		s.nextID = 1
	}
	return s.nextID
}

// groupUsers lists the connected users that hold a leaf, in leaf order.
func (s *ServerSession) groupUsers() []uint64 {
	if s.view == nil || !s.view.Established() {
		return nil
	}
	var out []uint64
	for _, mem := range s.view.Members() {
		if len(mem.Identity) != 8 {
			continue
		}
		if u := binary.BigEndian.Uint64(mem.Identity); s.members[u] != nil {
			out = append(out, u)
		}
	}
	return out
}

// removing reports whether a Remove of leaf is live.
func (s *ServerSession) removing(leaf uint32) bool {
	for _, p := range s.view.Proposals() {
		if p.Type == mls.ProposalRemove && p.Leaf == leaf {
			return true
		}
	}
	return false
}

// revoke withdraws a live proposal and tells whoever received it. Every
// other live proposal is withdrawn with it and proposed afresh (a new
// signature, so a new ProposalRef) by the caller's next distribute: the
// proposals left may be exactly the set a member committed before the
// revoked one arrived, and that commit, still in flight, would then win
// although the member has since replaced it with a later one. davey
// merges its latest pending commit instead (a different epoch secret:
// it and the group stop hearing each other until it gives up with op 31),
// libdave cannot process it at all. With fresh refs, only commits made
// after the revoke can match.
func (s *ServerSession) revoke(ref mls.ProposalRef) []Send {
	if !s.view.Revoke(ref) {
		return nil
	}
	gone := []mls.ProposalRef{ref}
	for _, p := range s.view.Proposals() {
		s.view.Revoke(p.Ref)
		gone = append(gone, p.Ref)
		switch p.Type {
		case mls.ProposalAdd:
			for _, m := range s.members {
				if bytes.Equal(m.addRef, p.Ref) {
					m.addRef = nil // distribute proposes it again
				}
			}
		case mls.ProposalRemove:
			_, _, _ = s.view.ProposeRemove(p.Leaf)
		}
	}
	var out []Send
	for _, u := range s.sortedUsers() {
		m := s.members[u]
		var refs [][]byte
		for _, r := range gone {
			if m.sent[string(r)] {
				delete(m.sent, string(r))
				refs = append(refs, r)
			}
		}
		if len(refs) > 0 {
			if msg, err := RevokeProposals(refs...); err == nil {
				out = append(out, Send{u, msg})
			}
		}
	}
	return out
}

func (s *ServerSession) sortedUsers() []uint64 {
	users := make([]uint64, 0, len(s.members))
	for u := range s.members {
		users = append(users, u)
	}
	sort.Slice(users, func(i, j int) bool { return users[i] < users[j] })
	return users
}

// distribute proposes the Adds that are due and sends every recipient the
// live proposals it has not seen (op 27 append). Recipients are the group
// members (established group, except members being removed) or, before
// the first commit, the pending members, each getting the Adds of the
// others (dave.md §4 "Initial group creation").
func (s *ServerSession) distribute() []Send {
	established := s.view.Established()
	var pending []*serverMember
	for _, u := range s.sortedUsers() {
		m := s.members[u]
		if !m.dave || m.kp == nil || m.addRef != nil {
			continue
		}
		if leaf, in := s.view.LeafOf(identity(u)); in && established && !s.removing(leaf) {
			continue
		}
		pending = append(pending, m)
	}
	if !established {
		withKP := 0
		for _, m := range s.members {
			if m.dave && m.kp != nil {
				withKP++
			}
		}
		if withKP < 2 {
			pending = nil // a lone member keeps its own epoch-0 group
		}
	}
	for _, m := range pending {
		if _, ref, err := s.view.ProposeAdd(m.kpRaw); err == nil {
			m.addRef = ref
		}
	}
	var recipients []uint64
	if established {
		for _, u := range s.groupUsers() {
			if leaf, _ := s.view.LeafOf(identity(u)); !s.removing(leaf) {
				recipients = append(recipients, u)
			}
		}
	} else {
		for _, u := range s.sortedUsers() {
			if m := s.members[u]; m.dave && m.kp != nil {
				recipients = append(recipients, u)
			}
		}
	}
	live := s.view.Proposals()
	var out []Send
	for _, u := range recipients {
		m := s.members[u]
		var msgs [][]byte
		for _, p := range live {
			if m.sent[string(p.Ref)] || p.Type == mls.ProposalAdd && string(p.Identity) == string(identity(u)) {
				continue
			}
			m.sent[string(p.Ref)] = true
			msgs = append(msgs, p.Message)
		}
		if len(msgs) > 0 {
			out = append(out, Send{u, AppendProposals(msgs...)})
		}
	}
	return out
}

// downgrade prepares the switch of every DAVE member to passthrough
// (protocol version 0) when a member without DAVE joins (dave.md §4).
func (s *ServerSession) downgrade(now time.Time) []Send {
	var out []Send
	if s.trans != nil {
		out = append(out, s.execute()...)
	}
	s.version = 0
	t := &transition{id: s.newID(), version: 0, deadline: now.Add(s.cfg.TransitionTimeout), waiting: map[uint64]bool{}}
	for _, u := range s.sortedUsers() {
		if s.members[u].dave {
			t.members = append(t.members, u)
			t.waiting[u] = true
			out = append(out, Send{u, PrepareTransition{ProtocolVersion: 0, TransitionID: t.id}})
		}
	}
	s.trans = t
	if len(t.waiting) == 0 {
		out = append(out, s.execute()...)
	}
	return out
}

// maybeUpgrade re-enables DAVE when every remaining member supports it:
// op 24 epoch 1 (clients re-initialise and send key packages), then op 25
// (dave.md §4 "Upgrade").
func (s *ServerSession) maybeUpgrade(now time.Time) []Send {
	if s.cfg.MaxProtocolVersion < 1 || s.daveCount() != len(s.members) {
		return nil
	}
	var out []Send
	if s.trans != nil {
		out = append(out, s.execute()...)
	}
	s.version = 1
	s.resetGroup()
	for _, u := range s.sortedUsers() {
		out = append(out, Send{u, PrepareEpoch{ProtocolVersion: 1, Epoch: 1}}, Send{u, s.extPkg})
	}
	return out
}

// soleMemberReset: one DAVE member is left in an established group. It
// gets op 24 epoch 1 and op 21 transition 0, and the gateway starts a
// fresh, unestablished group (dave.md §4).
func (s *ServerSession) soleMemberReset() []Send {
	var out []Send
	if s.trans != nil {
		out = append(out, s.execute()...)
	}
	s.resetGroup()
	for _, u := range s.sortedUsers() {
		if s.members[u].dave {
			out = append(out,
				Send{u, PrepareEpoch{ProtocolVersion: 1, Epoch: 1}},
				Send{u, PrepareTransition{ProtocolVersion: 1, TransitionID: 0}},
				Send{u, s.extPkg})
		}
	}
	return out
}

// resetGroup forgets the group, key packages and proposals.
func (s *ServerSession) resetGroup() {
	if s.view != nil {
		s.view.Reset()
	}
	for _, m := range s.members {
		m.kp, m.kpRaw, m.addRef = nil, nil, nil
		clear(m.sent)
	}
}

// execute sends op 22 for the pending transition and applies it.
func (s *ServerSession) execute() []Send {
	t := s.trans
	if t == nil {
		return nil
	}
	s.trans = nil
	var out []Send
	for _, u := range t.members {
		if s.members[u] != nil {
			out = append(out, Send{u, ExecuteTransition{TransitionID: t.id}})
		}
	}
	if t.version == 0 {
		s.resetGroup()
	}
	return out
}
