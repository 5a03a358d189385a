package mls

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
)

// CommitSummary describes the effect of a processed commit.
type CommitSummary struct {
	Epoch     uint64   // the new epoch
	Committer uint32   // committer's leaf index
	Added     []Member // members added, with their new leaf indices
	Removed   []Member // members removed (as they were before the commit)
	Inline    int      // number of proposals sent inline rather than by reference
}

// ProcessProposal verifies a proposal MLSMessage for the current epoch
// (from an external sender or a member) and caches it so a later commit can
// reference it. It returns the proposal and its ProposalRef.
func (g *Group) ProcessProposal(msg []byte) (*Proposal, ProposalRef, error) {
	m, err := ParseMLSMessage(msg)
	if err != nil {
		return nil, nil, err
	}
	if m.WireFormat != WireFormatPublicMessage {
		return nil, nil, fmt.Errorf("%w: proposal wire format %d", ErrUnsupported, m.WireFormat)
	}
	pm := m.Public
	c := &pm.Content
	if c.ContentType != ContentProposal {
		return nil, nil, fmt.Errorf("%w: content type %d, want proposal", ErrMalformed, c.ContentType)
	}
	if !bytes.Equal(c.GroupID, g.groupID) {
		return nil, nil, ErrWrongGroup
	}
	if c.Epoch != g.st.epoch {
		return nil, nil, fmt.Errorf("%w: proposal for epoch %d, group at %d", ErrWrongEpoch, c.Epoch, g.st.epoch)
	}
	switch c.Sender.Type {
	case SenderExternal:
		if c.Sender.Index >= uint32(len(g.st.external)) {
			return nil, nil, fmt.Errorf("%w: external sender %d", ErrUnknownMember, c.Sender.Index)
		}
		if c.Proposal.Type != ProposalAdd && c.Proposal.Type != ProposalRemove && c.Proposal.Type != ProposalPSK &&
			c.Proposal.Type != ProposalReInit && c.Proposal.Type != ProposalGroupContextExtensions {
			return nil, nil, fmt.Errorf("%w: external %d proposal", ErrInvalidProposal, c.Proposal.Type)
		}
		if err := pm.verify(g.st.external[c.Sender.Index].SignatureKey, nil); err != nil {
			return nil, nil, err
		}
	case SenderMember:
		if err := g.verifyMember(pm); err != nil {
			return nil, nil, err
		}
	default:
		return nil, nil, fmt.Errorf("%w: proposal sender type %d", ErrUnsupported, c.Sender.Type)
	}
	if err := g.checkProposal(c.Proposal, c.Sender); err != nil {
		return nil, nil, err
	}
	ref := proposalRef(pm.authenticatedContent())
	for _, p := range g.proposals {
		if bytes.Equal(p.ref, ref) {
			return p.proposal, ref, nil
		}
	}
	if len(g.proposals) >= maxCachedProposals {
		return nil, nil, fmt.Errorf("%w: more than %d proposals cached in one epoch", ErrInvalidProposal, maxCachedProposals)
	}
	g.proposals = append(g.proposals, cachedProposal{ref: ref, proposal: c.Proposal, sender: c.Sender})
	return c.Proposal, ref, nil
}

// maxCachedProposals bounds the proposal cache of one epoch.
const maxCachedProposals = 4096

// verifyMember checks the membership tag and signature of a member's
// PublicMessage against the current epoch.
func (g *Group) verifyMember(pm *PublicMessage) error {
	sender := g.st.tree.leaf(pm.Content.Sender.Index)
	if sender == nil {
		return fmt.Errorf("%w: sender leaf %d", ErrUnknownMember, pm.Content.Sender.Index)
	}
	ctx := g.contextOf(&g.st)
	if !macEqual(pm.membershipTag(g.st.secrets.membershipKey, ctx), pm.MembershipTag) {
		return fmt.Errorf("%w: membership tag", ErrInvalidTag)
	}
	return pm.verify(sender.SignatureKey, ctx)
}

// RemoveCachedProposal drops a cached proposal (DAVE op 27 revoke). It
// reports whether the reference was cached.
func (g *Group) RemoveCachedProposal(ref ProposalRef) bool {
	n := len(g.proposals)
	g.proposals = slices.DeleteFunc(g.proposals, func(p cachedProposal) bool { return bytes.Equal(p.ref, ref) })
	return len(g.proposals) != n
}

// CachedProposalRefs lists the references of the proposals cached in this
// epoch, in arrival order.
func (g *Group) CachedProposalRefs() []ProposalRef {
	out := make([]ProposalRef, len(g.proposals))
	for i, p := range g.proposals {
		out[i] = p.ref
	}
	return out
}

// checkProposal validates one proposal against the current tree.
func (g *Group) checkProposal(p *Proposal, sender Sender) error {
	switch p.Type {
	case ProposalAdd:
		return p.KeyPackage.Verify()
	case ProposalRemove:
		if g.st.tree.leaf(p.Removed) == nil {
			return fmt.Errorf("%w: remove of blank leaf %d", ErrInvalidProposal, p.Removed)
		}
	case ProposalUpdate:
		if sender.Type != SenderMember {
			return fmt.Errorf("%w: update from non-member", ErrInvalidProposal)
		}
		if p.LeafNode.Source != LeafSourceUpdate {
			return fmt.Errorf("%w: update leaf source %d", ErrInvalidProposal, p.LeafNode.Source)
		}
		if err := p.LeafNode.validate(); err != nil {
			return err
		}
		return p.LeafNode.VerifySignature(g.groupID, sender.Index)
	case ProposalPSK, ProposalGroupContextExtensions:
	default:
		return fmt.Errorf("%w: proposal type %d", ErrUnsupported, p.Type)
	}
	return nil
}

// resolved is a proposal with its sender, in commit order.
type resolved struct {
	p      *Proposal
	sender Sender
}

// applied is the outcome of applying a commit's proposals to a tree.
type applied struct {
	added      []uint32 // new leaf indices, in Add order
	addedKPs   []*KeyPackage
	removed    []Member
	psks       []PreSharedKeyID
	extensions []Extension // nil: unchanged
	pathNeeded bool
}

// applyProposals validates the proposal list of a commit from committer
// and applies it to t in RFC 9420 §12.3 order: GroupContextExtensions,
// Update, Remove, Add, PreSharedKey.
func (g *Group) applyProposals(t *ratchetTree, list []resolved, committer uint32) (*applied, error) {
	a := &applied{pathNeeded: len(list) == 0}
	touched := make(map[uint32]bool)
	for _, r := range list {
		p := r.p
		switch p.Type {
		case ProposalGroupContextExtensions:
			if a.extensions != nil {
				return nil, fmt.Errorf("%w: two group context extensions proposals", ErrInvalidProposal)
			}
			if _, err := externalSendersOf(p.Extensions); err != nil {
				return nil, err
			}
			a.extensions = p.Extensions
			a.pathNeeded = true
		case ProposalUpdate:
			if r.sender.Index == committer {
				return nil, fmt.Errorf("%w: committer's own update", ErrInvalidProposal)
			}
			if touched[r.sender.Index] {
				return nil, fmt.Errorf("%w: leaf %d updated or removed twice", ErrInvalidProposal, r.sender.Index)
			}
			touched[r.sender.Index] = true
			a.pathNeeded = true
		case ProposalRemove:
			if p.Removed == committer {
				return nil, fmt.Errorf("%w: committer removes itself", ErrInvalidProposal)
			}
			if touched[p.Removed] {
				return nil, fmt.Errorf("%w: leaf %d updated or removed twice", ErrInvalidProposal, p.Removed)
			}
			touched[p.Removed] = true
			a.pathNeeded = true
		case ProposalAdd, ProposalPSK:
		case ProposalExternalInit, ProposalReInit:
			return nil, fmt.Errorf("%w: proposal type %d", ErrUnsupported, p.Type)
		}
	}
	var changed []uint32 // leaves with new keys or credentials
	for _, r := range list {
		if r.p.Type == ProposalUpdate {
			ln := *r.p.LeafNode
			t.updateLeaf(r.sender.Index, &ln)
			changed = append(changed, r.sender.Index)
		}
	}
	for _, r := range list {
		if r.p.Type == ProposalRemove {
			l := t.leaf(r.p.Removed)
			if l == nil {
				return nil, fmt.Errorf("%w: remove of blank leaf %d", ErrInvalidProposal, r.p.Removed)
			}
			a.removed = append(a.removed, Member{LeafIndex: r.p.Removed, Identity: l.Identity(), SignatureKey: l.SignatureKey})
			t.removeLeaf(r.p.Removed)
		}
	}
	for _, r := range list {
		if r.p.Type == ProposalAdd {
			ln := r.p.KeyPackage.LeafNode
			a.added = append(a.added, t.addLeaf(&ln))
			a.addedKPs = append(a.addedKPs, r.p.KeyPackage)
		}
	}
	for _, r := range list {
		if r.p.Type == ProposalPSK {
			a.psks = append(a.psks, *r.p.PSK)
		}
	}
	changed = append(changed, a.added...)
	if err := checkUniqueKeys(t, changed); err != nil {
		return nil, err
	}
	if err := g.checkNewIdentities(t, changed); err != nil {
		return nil, err
	}
	return a, nil
}

// checkUniqueKeys enforces distinct signature and encryption keys across
// leaves (RFC 9420 §7.3) after the leaves in changed got new keys. The
// other leaves are distinct already (checked when they entered the tree),
// so each changed leaf is compared with every other one: a few hundred
// byte comparisons, no map.
func checkUniqueKeys(t *ratchetTree, changed []uint32) error {
	for _, c := range changed {
		cl := t.leaf(c)
		if cl == nil {
			continue
		}
		for i := range t.leafCount() {
			if l := t.leaf(i); l != nil && i != c &&
				(bytes.Equal(l.SignatureKey, cl.SignatureKey) || bytes.Equal(l.EncryptionKey, cl.EncryptionKey)) {
				return fmt.Errorf("%w: duplicate leaf key at leaves %d and %d", ErrInvalidProposal, i, c)
			}
		}
	}
	return nil
}

// resolve turns a commit's proposal list into proposals with senders.
func (g *Group) resolve(list []ProposalOrRef, committer uint32) ([]resolved, int, error) {
	out := make([]resolved, 0, len(list))
	inline := 0
	for _, por := range list {
		if por.Proposal != nil {
			if err := g.checkProposal(por.Proposal, Sender{Type: SenderMember, Index: committer}); err != nil {
				return nil, 0, err
			}
			if por.Proposal.Type == ProposalUpdate {
				return nil, 0, fmt.Errorf("%w: inline update", ErrInvalidProposal)
			}
			out = append(out, resolved{p: por.Proposal, sender: Sender{Type: SenderMember, Index: committer}})
			inline++
			continue
		}
		i := slices.IndexFunc(g.proposals, func(c cachedProposal) bool { return bytes.Equal(c.ref, por.Reference) })
		if i < 0 {
			return nil, 0, fmt.Errorf("%w: %x", ErrUnknownProposal, []byte(por.Reference))
		}
		out = append(out, resolved{p: g.proposals[i].proposal, sender: g.proposals[i].sender})
	}
	return out, inline, nil
}

// keepPrivs returns the private keys that still match t's public keys.
func keepPrivs(t *ratchetTree, privs map[uint32]*hpkeKey) map[uint32]*hpkeKey {
	out := make(map[uint32]*hpkeKey, len(privs))
	for x, k := range privs {
		if x < uint32(len(t.nodes)) && bytes.Equal(t.nodes[x].encryptionKey(), k.pub) {
			out[x] = k
		}
	}
	return out
}

// provisionalContext is the GroupContext used to encrypt path secrets:
// new epoch, tree and extensions, old confirmed transcript hash.
func (g *Group) provisionalContext(t *ratchetTree, exts []Extension) []byte {
	gc := GroupContext{
		Version: ProtocolVersion, CipherSuite: CipherSuite, GroupID: g.groupID,
		Epoch: g.st.epoch + 1, TreeHash: t.treeHash(),
		ConfirmedTranscriptHash: g.st.confirmedTH, Extensions: exts,
	}
	return gc.Marshal()
}

// ProcessCommit applies a commit MLSMessage for the current epoch (RFC
// 9420 §12.4.2). If it is this member's own pending commit, the pending
// state is merged. On success the group moves to the next epoch and the
// proposal cache is cleared. If the commit removes this member, it returns
// ErrRemoved and the group must be discarded.
func (g *Group) ProcessCommit(msg []byte) (*CommitSummary, error) {
	m, err := ParseMLSMessage(msg)
	if err != nil {
		return nil, err
	}
	if m.WireFormat != WireFormatPublicMessage {
		return nil, fmt.Errorf("%w: commit wire format %d", ErrUnsupported, m.WireFormat)
	}
	pm := m.Public
	c := &pm.Content
	if c.ContentType != ContentCommit {
		return nil, fmt.Errorf("%w: content type %d, want commit", ErrMalformed, c.ContentType)
	}
	if !bytes.Equal(c.GroupID, g.groupID) {
		return nil, ErrWrongGroup
	}
	if c.Epoch != g.st.epoch {
		return nil, fmt.Errorf("%w: commit for epoch %d, group at %d", ErrWrongEpoch, c.Epoch, g.st.epoch)
	}
	if c.Sender.Type != SenderMember {
		return nil, fmt.Errorf("%w: commit sender type %d", ErrUnsupported, c.Sender.Type)
	}
	committer := c.Sender.Index
	for _, p := range g.pending {
		if bytes.Equal(p.msg, msg) {
			sum, err := g.summarize(c.Commit, committer)
			if err != nil {
				return nil, err
			}
			g.advance(p.st)
			return sum, nil
		}
	}
	if committer == g.st.ownLeaf {
		return nil, fmt.Errorf("%w: commit from own leaf is not the pending commit", ErrInvalidCommit)
	}
	sender := g.st.tree.leaf(committer)
	if sender == nil {
		return nil, fmt.Errorf("%w: sender leaf %d", ErrUnknownMember, committer)
	}
	ctx := g.contextOf(&g.st) // also caches g.st.treeHash before the goroutines read g.st
	// membershipTag also caches pm's content encoding, which both
	// goroutines below read.
	if !macEqual(pm.membershipTag(g.st.secrets.membershipKey, ctx), pm.MembershipTag) {
		return nil, fmt.Errorf("%w: membership tag", ErrInvalidTag)
	}
	// The two signatures (FramedContent, and the UpdatePath's LeafNode) are
	// checked on one goroutine while the commit is applied and the path
	// decrypted on another; nothing is installed unless both succeed, and
	// a signature failure is the error reported.
	var (
		sum *CommitSummary
		st  *groupState
	)
	err = parallel(2, 1, func(i int) (err error) {
		if i == 0 {
			if err := pm.verify(sender.SignatureKey, ctx); err != nil {
				return err
			}
			if path := c.Commit.Path; path != nil {
				return path.LeafNode.VerifySignature(g.groupID, committer)
			}
			return nil
		}
		sum, st, err = g.applyCommit(pm, committer)
		return err
	})
	if errors.Is(err, ErrRemoved) {
		return sum, err
	}
	if err != nil {
		return nil, err
	}
	g.advance(*st)
	return sum, nil
}

// applyCommit computes the state after another member's commit whose
// signatures are checked separately: proposals, UpdatePath merge and
// decryption, key schedule and confirmation tag. It does not change g. If
// the commit removes this member it returns the summary and ErrRemoved.
func (g *Group) applyCommit(pm *PublicMessage, committer uint32) (*CommitSummary, *groupState, error) {
	c := &pm.Content
	list, inline, err := g.resolve(c.Commit.Proposals, committer)
	if err != nil {
		return nil, nil, err
	}
	tree := g.st.tree.clone()
	a, err := g.applyProposals(tree, list, committer)
	if err != nil {
		return nil, nil, err
	}
	sum := &CommitSummary{Epoch: g.st.epoch + 1, Committer: committer, Removed: a.removed, Inline: inline}
	for i, leaf := range a.added {
		sum.Added = append(sum.Added, Member{LeafIndex: leaf, Identity: a.addedKPs[i].Identity(), SignatureKey: a.addedKPs[i].LeafNode.SignatureKey})
	}
	if slices.ContainsFunc(a.removed, func(mb Member) bool { return mb.LeafIndex == g.st.ownLeaf }) {
		return sum, nil, ErrRemoved
	}
	exts := g.st.extensions
	if a.extensions != nil {
		exts = a.extensions
	}
	privs := g.st.privs
	var commitSecret []byte
	if path := c.Commit.Path; path != nil {
		fdp, cop, err := tree.mergePathUnsigned(committer, path)
		if err != nil {
			return nil, nil, err
		}
		if old := g.st.tree.leaf(committer); !old.Credential.equal(&path.LeafNode.Credential) || !bytes.Equal(old.SignatureKey, path.LeafNode.SignatureKey) {
			// RFC 9420 allows a credential change; DAVE never does it and
			// the gateway rejects it, so refuse it here too.
			return nil, nil, fmt.Errorf("%w: committer changed credential or signature key", ErrInvalidCommit)
		}
		privs = keepPrivs(tree, privs)
		_, commitSecret, err = tree.decryptPath(g.st.ownLeaf, path, fdp, cop, g.provisionalContext(tree, exts), privs, a.added)
		if err != nil {
			return nil, nil, err
		}
		if err := checkUniqueKeys(tree, []uint32{committer}); err != nil {
			return nil, nil, err
		}
	} else if a.pathNeeded {
		return nil, nil, fmt.Errorf("%w: path required", ErrInvalidCommit)
	} else {
		privs = keepPrivs(tree, privs)
	}
	st, err := g.nextState(tree, exts, privs, pm, commitSecret, a.psks)
	if err != nil {
		return nil, nil, err
	}
	if !macEqual(mac(st.secrets.confirmationKey, st.confirmedTH), pm.ConfirmationTag) {
		return nil, nil, fmt.Errorf("%w: confirmation tag", ErrInvalidTag)
	}
	st.interimTH = interimTranscriptHash(st.confirmedTH, pm.ConfirmationTag)
	return sum, st, nil
}

// nextState derives the next epoch's state after a commit (without the
// interim transcript hash, which needs the confirmation tag).
func (g *Group) nextState(tree *ratchetTree, exts []Extension, privs map[uint32]*hpkeKey, pm *PublicMessage, commitSecret []byte, psks []PreSharedKeyID) (*groupState, error) {
	pskSecret, err := computePSKSecret(psks, g.pskStore())
	if err != nil {
		return nil, err
	}
	st := &groupState{
		epoch:       g.st.epoch + 1,
		tree:        tree,
		extensions:  exts,
		confirmedTH: confirmedTranscriptHash(g.st.interimTH, pm),
		privs:       privs,
		ownLeaf:     g.st.ownLeaf,
	}
	if st.external, err = externalSendersOf(exts); err != nil {
		return nil, err
	}
	ctx := g.contextOf(st)
	st.secrets = deriveEpoch(deriveJoiner(g.st.secrets.initSecret, commitSecret, ctx), pskSecret, ctx)
	return st, nil
}

// advance installs st as the current epoch.
func (g *Group) advance(st groupState) {
	g.st = st
	g.proposals = nil
	g.pending = nil
	g.resumption[st.epoch] = st.secrets.resumptionPSK
}

// summarize builds the CommitSummary of an own pending commit.
func (g *Group) summarize(c *Commit, committer uint32) (*CommitSummary, error) {
	list, inline, err := g.resolve(c.Proposals, committer)
	if err != nil {
		return nil, err
	}
	tree := g.st.tree.clone()
	a, err := g.applyProposals(tree, list, committer)
	if err != nil {
		return nil, err
	}
	sum := &CommitSummary{Epoch: g.st.epoch + 1, Committer: committer, Removed: a.removed, Inline: inline}
	for i, leaf := range a.added {
		sum.Added = append(sum.Added, Member{LeafIndex: leaf, Identity: a.addedKPs[i].Identity(), SignatureKey: a.addedKPs[i].LeafNode.SignatureKey})
	}
	return sum, nil
}
