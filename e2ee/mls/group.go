package mls

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rand"
	"fmt"
	"slices"
)

// Member is one occupied leaf of the group.
type Member struct {
	LeafIndex    uint32
	Identity     []byte // basic credential identity (DAVE: user ID, 8 bytes big-endian)
	SignatureKey []byte // 65-byte uncompressed P-256 point
}

// Option configures a Group.
type Option func(*options)

type options struct {
	psks             PSKStore
	ratchetTree      []byte
	uniqueIdentities bool
}

// WithPSKs supplies external pre-shared keys (RFC 9420 §8.4).
func WithPSKs(s PSKStore) Option { return func(o *options) { o.psks = s } }

// WithRatchetTree supplies the ratchet tree out of band when a Welcome's
// GroupInfo carries no ratchet_tree extension.
func WithRatchetTree(tree []byte) Option { return func(o *options) { o.ratchetTree = tree } }

// WithUniqueIdentities makes the group refuse Welcomes and commits that
// leave two leaves with the same basic credential identity (dave.md §5).
func WithUniqueIdentities() Option { return func(o *options) { o.uniqueIdentities = true } }

// cachedProposal is a proposal received in the current epoch.
type cachedProposal struct {
	ref      ProposalRef
	proposal *Proposal
	sender   Sender
}

// groupState is everything that changes with an epoch; a pending commit
// holds a complete next state.
type groupState struct {
	epoch       uint64
	tree        *ratchetTree
	extensions  []Extension
	confirmedTH []byte
	interimTH   []byte
	secrets     *epochSecrets
	privs       map[uint32]*hpkeKey // node index -> HPKE private key
	ownLeaf     uint32
	external    []ExternalSenderEntry
	treeHash    []byte // cached tree hash of tree; nil = not computed
}

// Group is one participant's MLS group state (RFC 9420 §8-§12). It is not
// safe for concurrent use; the DAVE session serialises calls.
type Group struct {
	groupID    []byte
	sig        *ecdsa.PrivateKey
	opts       options
	st         groupState
	proposals  []cachedProposal
	pending    []*pendingCommit  // own commits of this epoch awaiting confirmation
	resumption map[uint64][]byte // epoch -> resumption_psk
}

// pendingCommit is an own commit awaiting confirmation by the delivery
// service (DAVE op 29 echoes it back).
type pendingCommit struct {
	msg []byte
	st  groupState
}

// NewGroup creates a one-member group at epoch 0 with the bundle's leaf
// (RFC 9420 §11). extensions become the group context extensions (DAVE:
// external_senders naming the gateway).
func NewGroup(groupID []byte, kp *KeyPackageBundle, extensions []Extension, opts ...Option) (*Group, error) {
	if kp == nil || kp.sigKey == nil {
		return nil, fmt.Errorf("%w: key package bundle without signature key", ErrInvalidKey)
	}
	if err := kp.KeyPackage.Verify(); err != nil {
		return nil, err
	}
	g := &Group{groupID: cloneBytes(groupID), sig: kp.sigKey, resumption: make(map[uint64][]byte)}
	for _, o := range opts {
		o(&g.opts)
	}
	ext, err := externalSendersOf(extensions)
	if err != nil {
		return nil, err
	}
	leaf := kp.KeyPackage.LeafNode
	tree := &ratchetTree{}
	tree.addLeaf(&leaf)
	st := groupState{
		tree:        tree,
		extensions:  slices.Clone(extensions),
		confirmedTH: []byte{},
		privs:       map[uint32]*hpkeKey{0: kp.encKey},
		external:    ext,
	}
	joiner := make([]byte, hashLen)
	if _, err := rand.Read(joiner); err != nil {
		return nil, err
	}
	st.secrets = deriveEpoch(joiner, nil, g.contextOf(&st))
	st.interimTH = interimTranscriptHash(st.confirmedTH, mac(st.secrets.confirmationKey, st.confirmedTH))
	g.st = st
	g.resumption[0] = st.secrets.resumptionPSK
	return g, nil
}

func externalSendersOf(exts []Extension) ([]ExternalSenderEntry, error) {
	e := findExtension(exts, ExtensionExternalSenders)
	if e == nil {
		return nil, nil
	}
	return parseExternalSenders(e.Data)
}

// JoinFromWelcome joins a group from a Welcome (bare or MLSMessage) using
// the key package bundle it was addressed to (RFC 9420 §12.4.3.1). The
// ratchet tree comes from the GroupInfo's ratchet_tree extension or
// WithRatchetTree.
func JoinFromWelcome(welcome []byte, kp *KeyPackageBundle, opts ...Option) (*Group, error) {
	if kp == nil {
		return nil, fmt.Errorf("%w: nil key package bundle", ErrInvalidKey)
	}
	g := &Group{sig: kp.sigKey, resumption: make(map[uint64][]byte)}
	for _, o := range opts {
		o(&g.opts)
	}
	wl, err := ParseWelcome(welcome)
	if err != nil {
		return nil, err
	}
	gs, gi, pskSecret, err := decryptWelcome(wl, kp, g.pskStore())
	if err != nil {
		return nil, err
	}
	gc := &gi.GroupContext
	if gc.Version != ProtocolVersion || gc.CipherSuite != CipherSuite {
		return nil, fmt.Errorf("%w: group version %d suite %d", ErrUnsupported, gc.Version, gc.CipherSuite)
	}
	treeBytes := g.opts.ratchetTree
	if e := findExtension(gi.Extensions, ExtensionRatchetTree); e != nil {
		treeBytes = e.Data
	}
	if treeBytes == nil {
		return nil, fmt.Errorf("%w: no ratchet tree in welcome", ErrInvalidTree)
	}
	tree, err := parseRatchetTree(treeBytes)
	if err != nil {
		return nil, err
	}
	if err := tree.verify(gc.GroupID, gc.TreeHash); err != nil {
		return nil, err
	}
	signer := tree.leaf(gi.Signer)
	if signer == nil {
		return nil, fmt.Errorf("%w: group info signer %d", ErrInvalidTree, gi.Signer)
	}
	if err := gi.verify(signer.SignatureKey); err != nil {
		return nil, fmt.Errorf("group info: %w", err)
	}
	own, ok := tree.findLeaf(&kp.KeyPackage.LeafNode)
	if !ok {
		return nil, fmt.Errorf("%w: own leaf not in the ratchet tree", ErrInvalidTree)
	}
	ext, err := externalSendersOf(gc.Extensions)
	if err != nil {
		return nil, err
	}
	g.groupID = cloneBytes(gc.GroupID)
	st := groupState{
		epoch:       gc.Epoch,
		tree:        tree,
		extensions:  gc.Extensions,
		confirmedTH: gc.ConfirmedTranscriptHash,
		privs:       map[uint32]*hpkeKey{leafNode(own): kp.encKey},
		ownLeaf:     own,
		external:    ext,
	}
	st.secrets = deriveEpoch(gs.JoinerSecret, pskSecret, gc.Marshal())
	if !macEqual(mac(st.secrets.confirmationKey, st.confirmedTH), gi.ConfirmationTag) {
		return nil, fmt.Errorf("%w: group info confirmation tag", ErrInvalidTag)
	}
	st.interimTH = interimTranscriptHash(st.confirmedTH, gi.ConfirmationTag)
	if gs.PathSecret != nil {
		fdp, _ := tree.filteredDirectPath(gi.Signer)
		lca := commonAncestor(leafNode(own), leafNode(gi.Signer))
		i := slices.Index(fdp, lca)
		if i < 0 {
			return nil, fmt.Errorf("%w: path secret node %d not on the signer's path", ErrInvalidTree, lca)
		}
		if err := tree.installPathSecret(gs.PathSecret, fdp, i, st.privs); err != nil {
			return nil, err
		}
	}
	if err := g.checkIdentities(tree); err != nil {
		return nil, err
	}
	g.st = st
	g.resumption[st.epoch] = st.secrets.resumptionPSK
	return g, nil
}

// contextOf serialises the GroupContext of st.
func (g *Group) contextOf(st *groupState) []byte {
	if st.treeHash == nil {
		st.treeHash = st.tree.treeHash()
	}
	gc := GroupContext{
		Version:                 ProtocolVersion,
		CipherSuite:             CipherSuite,
		GroupID:                 g.groupID,
		Epoch:                   st.epoch,
		TreeHash:                st.treeHash,
		ConfirmedTranscriptHash: st.confirmedTH,
		Extensions:              st.extensions,
	}
	return gc.Marshal()
}

// checkNewIdentities is checkIdentities after the leaves in changed got
// new credentials, the others being distinct already.
func (g *Group) checkNewIdentities(t *ratchetTree, changed []uint32) error {
	if !g.opts.uniqueIdentities {
		return nil
	}
	for _, c := range changed {
		cl := t.leaf(c)
		if cl == nil {
			continue
		}
		for i := range t.leafCount() {
			if l := t.leaf(i); l != nil && i != c && bytes.Equal(l.Identity(), cl.Identity()) {
				return fmt.Errorf("%w: two leaves with identity %x", ErrInvalidProposal, cl.Identity())
			}
		}
	}
	return nil
}

// checkIdentities enforces WithUniqueIdentities over the whole tree.
func (g *Group) checkIdentities(t *ratchetTree) error {
	if !g.opts.uniqueIdentities {
		return nil
	}
	seen := make(map[string]bool)
	for i := uint32(0); i < t.leafCount(); i++ {
		if l := t.leaf(i); l != nil {
			id := string(l.Identity())
			if seen[id] {
				return fmt.Errorf("%w: two leaves with identity %x", ErrInvalidProposal, id)
			}
			seen[id] = true
		}
	}
	return nil
}

// pskStore resolves external PSKs from options and resumption PSKs of this
// group's past epochs.
func (g *Group) pskStore() PSKStore { return groupPSKs{g} }

type groupPSKs struct{ g *Group }

func (s groupPSKs) PSK(id *PreSharedKeyID) ([]byte, bool) {
	if id.Type == PSKResumption && bytes.Equal(id.GroupID, s.g.groupID) {
		v, ok := s.g.resumption[id.Epoch]
		return v, ok
	}
	if s.g.opts.psks == nil {
		return nil, false
	}
	return s.g.opts.psks.PSK(id)
}

// GroupID returns the group ID.
func (g *Group) GroupID() []byte { return g.groupID }

// Epoch returns the current epoch.
func (g *Group) Epoch() uint64 { return g.st.epoch }

// OwnLeafIndex returns this member's leaf index.
func (g *Group) OwnLeafIndex() uint32 { return g.st.ownLeaf }

// Exporter is MLS-Exporter(label, context, length) for the current epoch
// (RFC 9420 §8.5). DAVE derives per-sender media keys from it.
func (g *Group) Exporter(label string, context []byte, length int) ([]byte, error) {
	if length < 0 || length > 255*hashLen {
		return nil, fmt.Errorf("%w: exporter length %d", ErrUnsupported, length)
	}
	return exporter(g.st.secrets.exporterSecret, label, context, length), nil
}

// EpochAuthenticator returns the epoch_authenticator (RFC 9420 §8.7);
// DAVE shows it as the voice privacy code.
func (g *Group) EpochAuthenticator() []byte { return cloneBytes(g.st.secrets.epochAuthenticator) }

// Members lists the occupied leaves in leaf order.
func (g *Group) Members() []Member { return membersOf(g.st.tree) }

func membersOf(t *ratchetTree) []Member {
	var out []Member
	for i := uint32(0); i < t.leafCount(); i++ {
		if l := t.leaf(i); l != nil {
			out = append(out, Member{LeafIndex: i, Identity: l.Identity(), SignatureKey: l.SignatureKey})
		}
	}
	return out
}

// Member returns the member at leaf.
func (g *Group) Member(leaf uint32) (Member, bool) {
	l := g.st.tree.leaf(leaf)
	if l == nil {
		return Member{}, false
	}
	return Member{LeafIndex: leaf, Identity: l.Identity(), SignatureKey: l.SignatureKey}, true
}

// RatchetTree returns the ratchet_tree extension content for the current
// epoch.
func (g *Group) RatchetTree() []byte { return g.st.tree.Marshal() }

// ExternalSenders returns the group's external_senders entries.
func (g *Group) ExternalSenders() []ExternalSenderEntry { return g.st.external }
