package mls

import (
	"fmt"
	"slices"
)

// CreateCommit builds a commit of the cached proposals named by refs plus
// the inline proposals own (sent as this member), always with an
// UpdatePath (RFC 9420 §12.4.1). It returns the commit MLSMessage and, if
// members are added, a bare Welcome for all of them (with the ratchet_tree
// extension in its GroupInfo). The group does not change until the commit
// comes back through ProcessCommit (or MergePendingCommit). Several own
// commits may be pending in one epoch (the last few are kept); whichever
// the delivery service confirms is merged.
func (g *Group) CreateCommit(refs []ProposalRef, own []Proposal) (commit, welcome []byte, err error) {
	por := make([]ProposalOrRef, 0, len(refs)+len(own))
	for _, r := range refs {
		por = append(por, ProposalOrRef{Reference: r})
	}
	for i := range own {
		p := own[i]
		if p.Type == ProposalUpdate {
			return nil, nil, fmt.Errorf("%w: committer cannot include its own update", ErrInvalidProposal)
		}
		por = append(por, ProposalOrRef{Proposal: &p})
	}
	me := g.st.ownLeaf
	list, _, err := g.resolve(por, me)
	if err != nil {
		return nil, nil, err
	}
	tree := g.st.tree.clone()
	a, err := g.applyProposals(tree, list, me)
	if err != nil {
		return nil, nil, err
	}
	exts := g.st.extensions
	if a.extensions != nil {
		exts = a.extensions
	}
	pk, err := tree.createPath(me, g.st.tree.leaf(me), g.groupID, g.sig)
	if err != nil {
		return nil, nil, err
	}
	if err := tree.encryptPath(pk, g.provisionalContext(tree, exts), a.added); err != nil {
		return nil, nil, err
	}
	privs := keepPrivs(tree, g.st.privs)
	for x, k := range pk.privs {
		privs[x] = k
	}

	pm := &PublicMessage{Content: FramedContent{
		GroupID:           g.groupID,
		Epoch:             g.st.epoch,
		Sender:            Sender{Type: SenderMember, Index: me},
		AuthenticatedData: []byte{},
		ContentType:       ContentCommit,
		Commit:            &Commit{Proposals: por, Path: pk.path},
	}}
	oldCtx := g.contextOf(&g.st)
	if err := pm.sign(g.sig, oldCtx); err != nil {
		return nil, nil, err
	}
	st, err := g.nextState(tree, exts, privs, pm, pk.commitSecret, a.psks)
	if err != nil {
		return nil, nil, err
	}
	pm.ConfirmationTag = mac(st.secrets.confirmationKey, st.confirmedTH)
	pm.MembershipTag = pm.membershipTag(g.st.secrets.membershipKey, oldCtx)
	st.interimTH = interimTranscriptHash(st.confirmedTH, pm.ConfirmationTag)
	commit = (&MLSMessage{WireFormat: WireFormatPublicMessage, Public: pm}).Marshal()

	if len(a.added) > 0 {
		welcome, err = g.buildWelcome(st, pm.ConfirmationTag, pk, a)
		if err != nil {
			return nil, nil, err
		}
	}
	if len(g.pending) >= maxPending {
		g.pending = g.pending[1:]
	}
	g.pending = append(g.pending, &pendingCommit{msg: commit, st: *st})
	return commit, welcome, nil
}

// maxPending bounds the own commits kept per epoch.
const maxPending = 4

// MergePendingCommit installs the most recent pending own commit without
// receiving it back (for delivery services that do not echo commits).
func (g *Group) MergePendingCommit() error {
	if len(g.pending) == 0 {
		return ErrNoPendingCommit
	}
	g.advance(g.pending[len(g.pending)-1].st)
	return nil
}

// ClearPendingCommit drops the pending own commits (another commit won).
func (g *Group) ClearPendingCommit() { g.pending = nil }

// HasPendingCommit reports whether an own commit awaits confirmation.
func (g *Group) HasPendingCommit() bool { return len(g.pending) > 0 }

// buildWelcome creates the Welcome for the members added by a commit.
func (g *Group) buildWelcome(st *groupState, confirmationTag []byte, pk *pathKeys, a *applied) ([]byte, error) {
	gc := GroupContext{
		Version: ProtocolVersion, CipherSuite: CipherSuite, GroupID: g.groupID,
		Epoch: st.epoch, TreeHash: st.treeHash,
		ConfirmedTranscriptHash: st.confirmedTH, Extensions: st.extensions,
	}
	tree := st.tree.Marshal()
	gi := &GroupInfo{
		GroupContext:    gc,
		Extensions:      []Extension{{Type: ExtensionRatchetTree, Data: tree}},
		ConfirmationTag: confirmationTag,
		Signer:          st.ownLeaf,
	}
	giBytes, err := gi.signedEncoding(g.sig, len(tree))
	if err != nil {
		return nil, err
	}
	aead, nonce, err := welcomeAEAD(st.secrets.welcomeSecret)
	if err != nil {
		return nil, err
	}
	// Seal in place: giBytes is ours.
	wl := &Welcome{CipherSuite: CipherSuite, EncryptedGroupInfo: aead.Seal(giBytes[:0], nonce, giBytes, nil)}
	wl.Secrets = make([]EncryptedGroupSecrets, len(a.added))
	err = parallel(len(a.added), 1, func(i int) error {
		gs := groupSecrets{JoinerSecret: st.secrets.joinerSecret, PSKs: a.psks}
		lca := commonAncestor(leafNode(a.added[i]), leafNode(st.ownLeaf))
		if j := slices.Index(pk.fdp, lca); j >= 0 {
			gs.PathSecret = pk.pathSecrets[j+1]
		}
		var sw writer
		gs.marshal(&sw)
		kp := a.addedKPs[i]
		ct, err := encryptWithLabel(kp.InitKey, "Welcome", wl.EncryptedGroupInfo, sw.b)
		wl.Secrets[i] = EncryptedGroupSecrets{NewMember: kp.Ref(), EncryptedGroupSecrets: ct}
		return err
	})
	if err != nil {
		return nil, err
	}
	return wl.Marshal(), nil
}
