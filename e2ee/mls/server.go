package mls

import (
	"bytes"
	"fmt"
	"slices"
)

// ServerGroupView is the delivery service's view of one DAVE group
// (dave.md §4-§5). It holds no group secrets: it signs external proposals
// through an ExternalSender, tracks which proposals are live in the current
// epoch, validates commits structurally ("Commit validity") and keeps the
// roster (leaf index, credential, signature key per member) by replaying
// winning commits (RFC 9420 §12.1: removes blank, adds take the leftmost
// blank leaf). It is not safe for concurrent use.
//
// Before the first commit the group is "unestablished": every pending
// member has its own one-member group at epoch 0 and the first valid commit
// (from leaf 0 of its creator's group) establishes the shared group at
// epoch 1.
type ServerGroupView struct {
	groupID     []byte
	sender      *ExternalSender
	epoch       uint64
	established bool
	leaves      []*LeafNode // by leaf index; nil = blank; no trailing blanks
	proposals   []serverProposal
}

type serverProposal struct {
	ref      ProposalRef
	msg      []byte
	proposal *Proposal
	kpRef    KeyPackageRef // Add only
}

// PendingProposal is a live proposal of the current epoch.
type PendingProposal struct {
	Ref      ProposalRef
	Message  []byte // the proposal MLSMessage (what op 27 carries)
	Type     ProposalType
	Identity []byte // Add: the key package's identity; Remove: the removed member's
	Leaf     uint32 // Remove: the removed leaf
}

// AddedMember is a member added by a checked commit.
type AddedMember struct {
	Member
	KeyPackageRef KeyPackageRef
	// Welcome is a bare Welcome holding only this member's secrets (op 30).
	Welcome []byte
}

// CheckedCommit is a commit that passed ServerGroupView.CheckCommit.
type CheckedCommit struct {
	Epoch     uint64 // the epoch the commit was made in
	Committer uint32
	Commit    []byte // the commit MLSMessage alone (op 29)
	Welcome   []byte // the full bare Welcome, nil if nothing was added
	Added     []AddedMember
	Removed   []Member
	leaves    []*LeafNode
}

// NewServerGroupView returns an unestablished view of groupID whose
// proposals are signed by sender.
func NewServerGroupView(groupID []byte, sender *ExternalSender) *ServerGroupView {
	return &ServerGroupView{groupID: cloneBytes(groupID), sender: sender}
}

// GroupID returns the group ID.
func (v *ServerGroupView) GroupID() []byte { return v.groupID }

// Epoch is the epoch members are in (0 while unestablished).
func (v *ServerGroupView) Epoch() uint64 { return v.epoch }

// Established reports whether a first commit has been accepted.
func (v *ServerGroupView) Established() bool { return v.established }

// Reset returns the view to the unestablished state (sole-member reset,
// protocol upgrade).
func (v *ServerGroupView) Reset() {
	v.epoch, v.established, v.leaves, v.proposals = 0, false, nil, nil
}

// Members lists the roster in leaf order.
func (v *ServerGroupView) Members() []Member {
	var out []Member
	for i, l := range v.leaves {
		if l != nil {
			out = append(out, Member{LeafIndex: uint32(i), Identity: l.Identity(), SignatureKey: l.SignatureKey})
		}
	}
	return out
}

// LeafOf returns the leaf index of the member with a basic identity.
func (v *ServerGroupView) LeafOf(identity []byte) (uint32, bool) {
	for i, l := range v.leaves {
		if l != nil && bytes.Equal(l.Identity(), identity) {
			return uint32(i), true
		}
	}
	return 0, false
}

// ProposeAdd verifies keyPackage (bare or MLSMessage), signs an external
// Add for the current epoch and records it as live.
func (v *ServerGroupView) ProposeAdd(keyPackage []byte) ([]byte, ProposalRef, error) {
	kp, err := ParseKeyPackage(keyPackage)
	if err != nil {
		return nil, nil, err
	}
	if err := kp.Verify(); err != nil {
		return nil, nil, err
	}
	msg, ref, err := v.sender.sign(v.groupID, v.epoch, &Proposal{Type: ProposalAdd, KeyPackage: kp})
	if err != nil {
		return nil, nil, err
	}
	v.proposals = append(v.proposals, serverProposal{ref: ref, msg: msg, proposal: &Proposal{Type: ProposalAdd, KeyPackage: kp}, kpRef: kp.Ref()})
	return msg, ref, nil
}

// ProposeRemove signs an external Remove of leaf for the current epoch and
// records it as live. The group must be established and leaf occupied.
func (v *ServerGroupView) ProposeRemove(leaf uint32) ([]byte, ProposalRef, error) {
	if !v.established || leaf >= uint32(len(v.leaves)) || v.leaves[leaf] == nil {
		return nil, nil, fmt.Errorf("%w: leaf %d", ErrUnknownMember, leaf)
	}
	msg, ref, err := v.sender.sign(v.groupID, v.epoch, &Proposal{Type: ProposalRemove, Removed: leaf})
	if err != nil {
		return nil, nil, err
	}
	v.proposals = append(v.proposals, serverProposal{ref: ref, msg: msg, proposal: &Proposal{Type: ProposalRemove, Removed: leaf}})
	return msg, ref, nil
}

// Revoke drops a live proposal (op 27 revoke); it reports whether it was live.
func (v *ServerGroupView) Revoke(ref ProposalRef) bool {
	n := len(v.proposals)
	v.proposals = slices.DeleteFunc(v.proposals, func(p serverProposal) bool { return bytes.Equal(p.ref, ref) })
	return len(v.proposals) != n
}

// Proposals lists the live proposals of the current epoch.
func (v *ServerGroupView) Proposals() []PendingProposal {
	out := make([]PendingProposal, 0, len(v.proposals))
	for _, p := range v.proposals {
		pp := PendingProposal{Ref: p.ref, Message: p.msg, Type: p.proposal.Type}
		switch p.proposal.Type {
		case ProposalAdd:
			pp.Identity = p.proposal.KeyPackage.Identity()
		case ProposalRemove:
			pp.Leaf = p.proposal.Removed
			if pp.Leaf < uint32(len(v.leaves)) && v.leaves[pp.Leaf] != nil {
				l := v.leaves[pp.Leaf]
				pp.Identity = l.Identity()
			}
		}
		out = append(out, pp)
	}
	return out
}

// CheckCommit validates op 28's payload, a commit MLSMessage optionally
// followed by a bare Welcome, against dave.md §5 "Commit validity": current
// epoch, at least one proposal, references only, exactly the live
// proposals, committer's credential and signature key unchanged, and a
// Welcome with one entry per added member iff members are added. creator
// is the key package the committing member sent; it is required while the
// group is unestablished (the committer is then leaf 0 of its own group and
// its own Add is not expected) and ignored afterwards. The view is not
// changed; call ApplyCommit if the commit wins. Signatures and tags cannot
// be checked without group secrets.
func (v *ServerGroupView) CheckCommit(data []byte, creator *KeyPackage) (*CheckedCommit, error) {
	m, rest, err := ParseMLSMessagePrefix(data)
	if err != nil {
		return nil, err
	}
	if m.WireFormat != WireFormatPublicMessage || m.Public.Content.ContentType != ContentCommit {
		return nil, fmt.Errorf("%w: not a public commit", ErrRejected)
	}
	c := &m.Public.Content
	if !bytes.Equal(c.GroupID, v.groupID) {
		return nil, fmt.Errorf("%w: %w", ErrRejected, ErrWrongGroup)
	}
	if c.Epoch != v.epoch {
		return nil, fmt.Errorf("%w: %w: commit epoch %d, group at %d", ErrRejected, ErrWrongEpoch, c.Epoch, v.epoch)
	}
	if c.Sender.Type != SenderMember {
		return nil, fmt.Errorf("%w: sender type %d", ErrRejected, c.Sender.Type)
	}
	cc := &CheckedCommit{Epoch: v.epoch, Committer: c.Sender.Index, Commit: data[:len(data)-len(rest)]}

	leaves := slices.Clone(v.leaves)
	var skipKP KeyPackageRef
	if !v.established {
		if creator == nil {
			return nil, fmt.Errorf("%w: creator key package required before the group is established", ErrRejected)
		}
		if cc.Committer != 0 {
			return nil, fmt.Errorf("%w: initial commit from leaf %d", ErrRejected, cc.Committer)
		}
		ln := creator.LeafNode
		leaves = []*LeafNode{&ln}
		skipKP = creator.Ref()
	}
	if cc.Committer >= uint32(len(leaves)) || leaves[cc.Committer] == nil {
		return nil, fmt.Errorf("%w: committer leaf %d not in the roster", ErrRejected, cc.Committer)
	}
	if p := c.Commit.Path; p != nil {
		old := leaves[cc.Committer]
		if !old.Credential.equal(&p.LeafNode.Credential) || !bytes.Equal(old.SignatureKey, p.LeafNode.SignatureKey) {
			return nil, fmt.Errorf("%w: committer changed credential or signature key", ErrRejected)
		}
	}

	// The commit must reference exactly the live proposals (as a set).
	props := c.Commit.Proposals
	if len(props) == 0 {
		return nil, fmt.Errorf("%w: empty commit", ErrRejected)
	}
	var want []serverProposal
	for _, p := range v.proposals {
		if skipKP != nil && p.kpRef != nil && bytes.Equal(p.kpRef, skipKP) {
			continue
		}
		want = append(want, p)
	}
	if len(props) != len(want) {
		return nil, fmt.Errorf("%w: commit has %d proposals, %d are live", ErrRejected, len(props), len(want))
	}
	used := make([]bool, len(want))
	var list []*serverProposal
	for _, por := range props {
		if por.Proposal != nil {
			return nil, fmt.Errorf("%w: inline proposal", ErrRejected)
		}
		i := slices.IndexFunc(want, func(p serverProposal) bool { return bytes.Equal(p.ref, por.Reference) })
		if i < 0 || used[i] {
			return nil, fmt.Errorf("%w: unknown or repeated proposal %x", ErrRejected, []byte(por.Reference))
		}
		used[i] = true
		list = append(list, &want[i])
	}

	// Replay in RFC 9420 §12.3 order: removes, then adds.
	for _, p := range list {
		if p.proposal.Type != ProposalRemove {
			continue
		}
		l := p.proposal.Removed
		if l == cc.Committer || l >= uint32(len(leaves)) || leaves[l] == nil {
			return nil, fmt.Errorf("%w: remove of leaf %d", ErrRejected, l)
		}
		cc.Removed = append(cc.Removed, Member{LeafIndex: l, Identity: leaves[l].Identity(), SignatureKey: leaves[l].SignatureKey})
		leaves[l] = nil
		for len(leaves) > 0 && leaves[len(leaves)-1] == nil {
			leaves = leaves[:len(leaves)-1]
		}
	}
	for _, p := range list {
		if p.proposal.Type != ProposalAdd {
			continue
		}
		ln := p.proposal.KeyPackage.LeafNode
		i := slices.Index(leaves, nil)
		if i < 0 {
			i = len(leaves)
			leaves = append(leaves, nil)
		}
		leaves[i] = &ln
		cc.Added = append(cc.Added, AddedMember{
			Member:        Member{LeafIndex: uint32(i), Identity: ln.Identity(), SignatureKey: ln.SignatureKey},
			KeyPackageRef: p.kpRef,
		})
	}
	if c.Commit.Path != nil {
		ln := c.Commit.Path.LeafNode
		leaves[cc.Committer] = &ln
	}
	cc.leaves = leaves

	if len(cc.Added) == 0 {
		if len(rest) != 0 {
			return nil, fmt.Errorf("%w: %d bytes after a commit that adds nobody", ErrRejected, len(rest))
		}
		return cc, nil
	}
	if len(rest) == 0 {
		return nil, fmt.Errorf("%w: commit adds members but no Welcome follows", ErrRejected)
	}
	wl, err := ParseWelcome(rest)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRejected, err)
	}
	if wl.CipherSuite != CipherSuite || len(wl.Secrets) != len(cc.Added) {
		return nil, fmt.Errorf("%w: welcome has %d secrets for %d added members", ErrRejected, len(wl.Secrets), len(cc.Added))
	}
	cc.Welcome = rest
	for i := range cc.Added {
		one, err := wl.ForMember(cc.Added[i].KeyPackageRef)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrRejected, err)
		}
		cc.Added[i].Welcome = one
	}
	return cc, nil
}

// ApplyCommit advances the view with a commit checked in the current
// epoch: the roster becomes the replayed one, the epoch increments and the
// live proposals are cleared.
func (v *ServerGroupView) ApplyCommit(cc *CheckedCommit) error {
	if cc == nil || cc.Epoch != v.epoch || cc.leaves == nil {
		return fmt.Errorf("%w: commit was not checked in epoch %d", ErrWrongEpoch, v.epoch)
	}
	v.leaves = cc.leaves
	v.epoch++
	v.established = true
	v.proposals = nil
	return nil
}
