package mls

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rand"
	"fmt"
	"slices"
)

// TreeKEM (RFC 9420 §7.4-§7.6): creating, merging and decrypting an
// UpdatePath.

// pathKeys holds what a committer derived for its new path.
type pathKeys struct {
	path         *UpdatePath
	fdp, cop     []uint32
	pathSecrets  [][]byte // [0] leaf, [i+1] for fdp[i]
	privs        map[uint32]*hpkeKey
	commitSecret []byte
}

// nodeKeyFromPathSecret derives the node key pair for a path secret.
func nodeKeyFromPathSecret(ps []byte) (*hpkeKey, error) {
	return deriveHPKEKey(deriveSecret(ps, "node"))
}

// createPath replaces leaf's path with fresh keys, merges it into t and
// returns the (not yet encrypted) UpdatePath. base is the committer's
// current leaf; the new leaf keeps its credential, capabilities and
// extensions (RFC 9420 §7.5).
func (t *ratchetTree) createPath(leaf uint32, base *LeafNode, groupID []byte, sig *ecdsa.PrivateKey) (*pathKeys, error) {
	fdp, cop := t.filteredDirectPath(leaf)
	pk := &pathKeys{fdp: fdp, cop: cop, privs: make(map[uint32]*hpkeKey)}
	ps := make([]byte, hashLen)
	if _, err := rand.Read(ps); err != nil {
		return nil, err
	}
	pk.pathSecrets = append(pk.pathSecrets, ps)
	for range fdp {
		ps = deriveSecret(ps, "path")
		pk.pathSecrets = append(pk.pathSecrets, ps)
	}
	pk.commitSecret = deriveSecret(ps, "path")
	keys := make([]*hpkeKey, len(pk.pathSecrets))
	if err := parallel(len(keys), 1, func(i int) (err error) {
		keys[i], err = nodeKeyFromPathSecret(pk.pathSecrets[i])
		return err
	}); err != nil {
		return nil, err
	}
	leafKey := keys[0]
	pk.privs[leafNode(leaf)] = leafKey
	nodes := make([]UpdatePathNode, len(fdp))
	for i, x := range fdp {
		pk.privs[x] = keys[i+1]
		nodes[i].EncryptionKey = keys[i+1].pub
	}

	t.blankPath(leaf)
	ln := &LeafNode{
		EncryptionKey: leafKey.pub,
		SignatureKey:  base.SignatureKey,
		Credential:    base.Credential,
		Capabilities:  base.Capabilities,
		Source:        LeafSourceCommit,
		ParentHash:    t.installPath(fdp, cop, nodes),
		Extensions:    base.Extensions,
	}
	if err := ln.sign(sig, groupID, leaf); err != nil {
		return nil, err
	}
	t.setLeaf(leaf, ln)
	pk.path = &UpdatePath{LeafNode: *ln, Nodes: nodes}
	return pk, nil
}

// installPath sets the filtered direct path nodes fdp to fresh parents
// with the keys of nodes (no unmerged leaves), computing their parent_hash
// top down, and returns the parent hash the leaf must carry (RFC 9420
// §7.9). The copath subtrees are untouched by the path, so their cached
// hashes serve as the original sibling hashes.
func (t *ratchetTree) installPath(fdp, cop []uint32, nodes []UpdatePathNode) []byte {
	ph := []byte{}
	for i := len(fdp) - 1; i >= 0; i-- {
		p := &parentNode{EncryptionKey: nodes[i].EncryptionKey, ParentHash: ph, UnmergedLeaves: []uint32{}}
		ph = parentHashOf(p, t.nodeHash(cop[i]))
		t.setParent(fdp[i], p)
	}
	return ph
}

// encryptPath encrypts each path secret to the resolution of the matching
// copath node, excluding leaves in exclude (new members of this commit).
// The encryptions run in parallel: right after a mass Add every resolution
// is made of single leaves, so a commit costs one HPKE encryption per
// member; in a full tree it is one per copath level.
func (t *ratchetTree) encryptPath(pk *pathKeys, ctx []byte, exclude []uint32) error {
	type job struct {
		node, slot int
		pub        []byte
	}
	var jobs []job
	for i, c := range pk.cop {
		res := t.resolution(c)
		pk.path.Nodes[i].EncryptedPathSecret = make([]HPKECiphertext, 0, len(res))
		for _, x := range res {
			if isLeaf(x) && slices.Contains(exclude, nodeLeaf(x)) {
				continue
			}
			jobs = append(jobs, job{node: i, slot: len(pk.path.Nodes[i].EncryptedPathSecret), pub: t.nodes[x].encryptionKey()})
			pk.path.Nodes[i].EncryptedPathSecret = append(pk.path.Nodes[i].EncryptedPathSecret, HPKECiphertext{})
		}
	}
	return parallel(len(jobs), 1, func(k int) error {
		j := jobs[k]
		ct, err := encryptWithLabel(j.pub, "UpdatePathNode", ctx, pk.pathSecrets[j.node+1])
		pk.path.Nodes[j.node].EncryptedPathSecret[j.slot] = ct
		return err
	})
}

// mergePath applies a received UpdatePath from sender to t (proposals
// already applied): it blanks the sender's direct path, installs the new
// public keys, recomputes parent hashes and checks the leaf's parent hash
// and signature (RFC 9420 §7.5, §12.4.2). It returns the filtered direct
// path and copath used.
func (t *ratchetTree) mergePath(sender uint32, path *UpdatePath, groupID []byte) (fdp, cop []uint32, err error) {
	if err := path.LeafNode.VerifySignature(groupID, sender); err != nil {
		return nil, nil, err
	}
	return t.mergePathUnsigned(sender, path)
}

// mergePathUnsigned is mergePath without the leaf signature check, for
// callers that verify it concurrently.
func (t *ratchetTree) mergePathUnsigned(sender uint32, path *UpdatePath) (fdp, cop []uint32, err error) {
	fdp, cop = t.filteredDirectPath(sender)
	if len(path.Nodes) != len(fdp) {
		return nil, nil, fmt.Errorf("%w: update path has %d nodes, filtered direct path %d", ErrInvalidCommit, len(path.Nodes), len(fdp))
	}
	ln := path.LeafNode
	if ln.Source != LeafSourceCommit {
		return nil, nil, fmt.Errorf("%w: path leaf source %d", ErrInvalidCommit, ln.Source)
	}
	if err := ln.validate(); err != nil {
		return nil, nil, err
	}
	old := t.leaf(sender)
	if old != nil && bytes.Equal(old.EncryptionKey, ln.EncryptionKey) {
		return nil, nil, fmt.Errorf("%w: path leaf reuses encryption key", ErrInvalidCommit)
	}
	for _, n := range path.Nodes {
		if !validPublicKey(n.EncryptionKey) {
			return nil, nil, fmt.Errorf("%w: update path node key", ErrInvalidKey)
		}
	}
	t.blankPath(sender)
	t.setLeaf(sender, &ln)
	if ph := t.installPath(fdp, cop, path.Nodes); !bytes.Equal(ph, ln.ParentHash) {
		return nil, nil, fmt.Errorf("%w: update path parent hash mismatch", ErrInvalidCommit)
	}
	return fdp, cop, nil
}

// decryptPath finds the path node whose copath resolution holds a key in
// privs, decrypts its path secret and derives the rest of the path up to
// the root, checking every derived public key against the path. It adds the
// new private keys to privs and returns the decrypted path secret and the
// commit secret.
func (t *ratchetTree) decryptPath(own uint32, path *UpdatePath, fdp, cop []uint32, ctx []byte, privs map[uint32]*hpkeKey, exclude []uint32) (pathSecret, commitSecret []byte, err error) {
	ownX := leafNode(own)
	i := slices.IndexFunc(cop, func(c uint32) bool { return isAncestor(c, ownX) })
	if i < 0 {
		return nil, nil, fmt.Errorf("%w: own leaf not under the committer's copath", ErrInvalidCommit)
	}
	var res []uint32
	for _, x := range t.resolution(cop[i]) {
		if isLeaf(x) && slices.Contains(exclude, nodeLeaf(x)) {
			continue
		}
		res = append(res, x)
	}
	cts := path.Nodes[i].EncryptedPathSecret
	if len(cts) != len(res) {
		return nil, nil, fmt.Errorf("%w: %d path ciphertexts for resolution of %d", ErrInvalidCommit, len(cts), len(res))
	}
	j := slices.IndexFunc(res, func(x uint32) bool { return privs[x] != nil })
	if j < 0 {
		return nil, nil, fmt.Errorf("%w: no private key for the copath resolution", ErrInvalidCommit)
	}
	ps, err := decryptWithLabel(privs[res[j]], "UpdatePathNode", ctx, cts[j])
	if err != nil {
		return nil, nil, fmt.Errorf("path secret: %w", err)
	}
	pathSecret = ps
	secrets := make([][]byte, len(fdp)-i)
	for k := range secrets {
		if k > 0 {
			ps = deriveSecret(ps, "path")
		}
		secrets[k] = ps
	}
	keys := make([]*hpkeKey, len(secrets))
	if err := parallel(len(keys), 1, func(k int) (err error) {
		keys[k], err = nodeKeyFromPathSecret(secrets[k])
		return err
	}); err != nil {
		return nil, nil, err
	}
	for k, key := range keys {
		if !bytes.Equal(key.pub, path.Nodes[i+k].EncryptionKey) {
			return nil, nil, fmt.Errorf("%w: derived key of node %d does not match the path", ErrInvalidCommit, fdp[i+k])
		}
		privs[fdp[i+k]] = key
	}
	return pathSecret, deriveSecret(ps, "path"), nil
}

// installPathSecret derives the keys for the nodes from start upward along
// fdp from ps (used by joiners with GroupSecrets.path_secret), checking
// them against the tree's public keys.
func (t *ratchetTree) installPathSecret(ps []byte, fdp []uint32, start int, privs map[uint32]*hpkeKey) error {
	for k := start; k < len(fdp); k++ {
		if k > start {
			ps = deriveSecret(ps, "path")
		}
		key, err := nodeKeyFromPathSecret(ps)
		if err != nil {
			return err
		}
		if !bytes.Equal(key.pub, t.nodes[fdp[k]].encryptionKey()) {
			return fmt.Errorf("%w: path secret does not match node %d", ErrInvalidTree, fdp[k])
		}
		privs[fdp[k]] = key
	}
	return nil
}
