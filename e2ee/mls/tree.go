package mls

import (
	"bytes"
	"fmt"
	"slices"
)

// parentNode is a non-blank inner node of the ratchet tree (RFC 9420 §7.1).
type parentNode struct {
	EncryptionKey  []byte
	ParentHash     []byte
	UnmergedLeaves []uint32
}

func (p *parentNode) marshal(w *writer) {
	w.bytes(p.EncryptionKey)
	w.bytes(p.ParentHash)
	w.u32s(p.UnmergedLeaves)
}

func (p *parentNode) unmarshal(r *reader) {
	p.EncryptionKey = r.bytes()
	p.ParentHash = r.bytes()
	p.UnmergedLeaves = r.u32s()
}

// node is one slot of the array tree; leaf and parent both nil means
// blank. The LeafNode and parentNode values are immutable once in a tree:
// clones share them, and every change replaces the pointer through
// setLeaf, setParent or blankNode, which also drop the node's cached
// encoding and the cached hashes of the node and its ancestors.
type node struct {
	leaf   *LeafNode
	parent *parentNode
	hash   []byte // cached tree hash of the subtree rooted here; nil = stale
	enc    []byte // cached encoding of leaf or parent; nil = not computed
}

func (n *node) blank() bool { return n.leaf == nil && n.parent == nil }

func (n *node) encryptionKey() []byte {
	if n.leaf != nil {
		return n.leaf.EncryptionKey
	}
	if n.parent != nil {
		return n.parent.EncryptionKey
	}
	return nil
}

// ratchetTree is the public state of the tree (RFC 9420 §7). len(nodes) is
// always nodeWidth(n) for a power of two n.
type ratchetTree struct {
	nodes []node
}

const (
	nodeTypeLeaf   uint8 = 1
	nodeTypeParent uint8 = 2
)

func (t *ratchetTree) leafCount() uint32 { return (uint32(len(t.nodes)) + 1) / 2 }

func (t *ratchetTree) leaf(i uint32) *LeafNode {
	if i >= t.leafCount() {
		return nil
	}
	return t.nodes[leafNode(i)].leaf
}

// clone returns a copy of t that can be changed independently. Nodes'
// values and cached hashes are shared (they are immutable), so this is one
// allocation and a copy of the node array.
func (t *ratchetTree) clone() *ratchetTree {
	return &ratchetTree{nodes: slices.Clone(t.nodes)}
}

// invalidate drops the cached hashes of x and its ancestors.
func (t *ratchetTree) invalidate(x uint32) {
	r := root(t.leafCount())
	for {
		t.nodes[x].hash = nil
		if x == r {
			return
		}
		x = parent(x)
	}
}

// setLeaf installs ln at leaf i.
func (t *ratchetTree) setLeaf(i uint32, ln *LeafNode) {
	x := leafNode(i)
	t.nodes[x].leaf, t.nodes[x].enc = ln, nil
	t.invalidate(x)
}

// setParent installs p at parent node x.
func (t *ratchetTree) setParent(x uint32, p *parentNode) {
	t.nodes[x].parent, t.nodes[x].enc = p, nil
	t.invalidate(x)
}

// blankNode blanks node x.
func (t *ratchetTree) blankNode(x uint32) {
	t.nodes[x] = node{}
	t.invalidate(x)
}

// encoding returns the encoding of node x's LeafNode or ParentNode (nil if
// blank), cached: tree hashes and every Welcome's ratchet_tree need it.
func (t *ratchetTree) encoding(x uint32) []byte {
	n := &t.nodes[x]
	if n.enc != nil || n.blank() {
		return n.enc
	}
	var w writer
	if n.leaf != nil {
		n.leaf.marshal(&w)
	} else {
		n.parent.marshal(&w)
	}
	n.enc = w.b
	return n.enc
}

// marshal writes the ratchet_tree extension content: optional<Node><V>
// with trailing blank nodes omitted (RFC 9420 §12.4.3.3).
func (t *ratchetTree) marshal(w *writer) {
	end := len(t.nodes)
	for end > 0 && t.nodes[end-1].blank() {
		end--
	}
	size := 4
	for x := range t.nodes[:end] {
		size += 2 + len(t.encoding(uint32(x)))
	}
	w.b = slices.Grow(w.b, size)
	w.vec(func(w *writer) {
		for x := range t.nodes[:end] {
			n := &t.nodes[x]
			switch {
			case n.leaf != nil:
				w.u8(1)
				w.u8(nodeTypeLeaf)
				w.raw(n.enc)
			case n.parent != nil:
				w.u8(1)
				w.u8(nodeTypeParent)
				w.raw(n.enc)
			default:
				w.u8(0)
			}
		}
	})
}

func (t *ratchetTree) Marshal() []byte {
	var w writer
	t.marshal(&w)
	return w.b
}

// parseRatchetTree decodes the ratchet_tree extension content and checks
// its shape (leaves at even, parents at odd indices, last node non-blank).
func parseRatchetTree(b []byte) (*ratchetTree, error) {
	r := newReader(b)
	var nodes []node
	r.each(func(r *reader) {
		var n node
		if r.optional() {
			x := uint32(len(nodes))
			switch typ := r.u8(); typ {
			case nodeTypeLeaf:
				if !isLeaf(x) {
					r.failf("leaf node at parent index %d", x)
					return
				}
				n.leaf = new(LeafNode)
				n.leaf.unmarshal(r)
			case nodeTypeParent:
				if isLeaf(x) {
					r.failf("parent node at leaf index %d", x)
					return
				}
				n.parent = new(parentNode)
				n.parent.unmarshal(r)
			default:
				r.failf("node type %d", typ)
				return
			}
		}
		nodes = append(nodes, n)
		if len(nodes) > 1<<20 {
			r.failf("tree too large")
		}
	})
	if err := r.finish(); err != nil {
		return nil, fmt.Errorf("ratchet tree: %w", err)
	}
	if len(nodes) == 0 || nodes[len(nodes)-1].blank() || len(nodes)%2 == 0 {
		return nil, fmt.Errorf("%w: ratchet tree shape (%d nodes)", ErrInvalidTree, len(nodes))
	}
	leaves := uint32(1)
	for nodeWidth(leaves) < uint32(len(nodes)) {
		leaves *= 2
	}
	t := &ratchetTree{nodes: make([]node, nodeWidth(leaves))}
	copy(t.nodes, nodes)
	return t, nil
}

// resolution of node x (RFC 9420 §4.1.1), as node indices.
func (t *ratchetTree) resolution(x uint32) []uint32 {
	return t.appendResolution(nil, x)
}

func (t *ratchetTree) appendResolution(out []uint32, x uint32) []uint32 {
	n := &t.nodes[x]
	switch {
	case n.leaf != nil:
		return append(out, x)
	case n.parent != nil:
		out = append(out, x)
		for _, l := range n.parent.UnmergedLeaves {
			out = append(out, leafNode(l))
		}
		return out
	case isLeaf(x):
		return out
	default:
		out = t.appendResolution(out, left(x))
		return t.appendResolution(out, right(x))
	}
}

// filteredDirectPath returns the direct path of leaf with nodes whose
// copath child has an empty resolution removed, and the matching copath
// children (RFC 9420 §4.1.2).
func (t *ratchetTree) filteredDirectPath(leaf uint32) (path, cop []uint32) {
	n := t.leafCount()
	dp := directPath(leafNode(leaf), n)
	cp := copath(leafNode(leaf), n)
	for i := range dp {
		if t.hasNonBlank(cp[i]) {
			path = append(path, dp[i])
			cop = append(cop, cp[i])
		}
	}
	return path, cop
}

// hasNonBlank reports whether the subtree at x has a non-empty resolution.
func (t *ratchetTree) hasNonBlank(x uint32) bool {
	if !t.nodes[x].blank() {
		return true
	}
	if isLeaf(x) {
		return false
	}
	return t.hasNonBlank(left(x)) || t.hasNonBlank(right(x))
}

// addLeaf inserts ln at the leftmost blank leaf, extending the tree if
// none is free, and records it as unmerged in its non-blank ancestors
// (RFC 9420 §12.1.1).
func (t *ratchetTree) addLeaf(ln *LeafNode) uint32 {
	n := t.leafCount()
	i := uint32(0)
	for ; i < n; i++ {
		if t.nodes[leafNode(i)].blank() {
			break
		}
	}
	if len(t.nodes) == 0 {
		t.nodes = make([]node, 1)
		i, n = 0, 1
	} else if i == n {
		grown := make([]node, nodeWidth(2*n))
		copy(grown, t.nodes)
		t.nodes = grown
		n *= 2
	}
	x := leafNode(i)
	t.setLeaf(i, ln)
	for _, p := range directPath(x, n) {
		if pn := t.nodes[p].parent; pn != nil {
			c := *pn
			c.UnmergedLeaves = append(slices.Clip(pn.UnmergedLeaves), i)
			t.setParent(p, &c)
		}
	}
	return i
}

// blankPath blanks leaf's direct path (not the leaf).
func (t *ratchetTree) blankPath(leaf uint32) {
	for _, p := range directPath(leafNode(leaf), t.leafCount()) {
		t.blankNode(p)
	}
}

// removeLeaf blanks a leaf and its direct path, then truncates the tree
// while its right half is blank (RFC 9420 §12.1.3).
func (t *ratchetTree) removeLeaf(leaf uint32) {
	t.blankNode(leafNode(leaf))
	t.blankPath(leaf)
	for n := t.leafCount(); n > 1; n /= 2 {
		half := nodeWidth(n / 2)
		allBlank := true
		for x := half; x < uint32(len(t.nodes)); x++ {
			if !t.nodes[x].blank() {
				allBlank = false
				break
			}
		}
		if !allBlank {
			break
		}
		t.nodes = t.nodes[:half]
	}
}

// updateLeaf replaces a leaf and blanks its direct path (RFC 9420 §12.1.2).
func (t *ratchetTree) updateLeaf(leaf uint32, ln *LeafNode) {
	t.setLeaf(leaf, ln)
	t.blankPath(leaf)
}

// hashes returns the tree hash of every node (RFC 9420 §7.8).
func (t *ratchetTree) hashes() [][]byte {
	out := make([][]byte, len(t.nodes))
	if len(t.nodes) > 0 {
		t.nodeHash(root(t.leafCount()))
		for x := range t.nodes {
			out[x] = t.nodes[x].hash
		}
	}
	return out
}

// treeHash is the root tree hash.
func (t *ratchetTree) treeHash() []byte {
	if len(t.nodes) == 0 {
		return nil
	}
	return t.nodeHash(root(t.leafCount()))
}

// nodeHash returns the tree hash of the subtree at x (RFC 9420 §7.8),
// computing and caching what is stale. After a commit only the changed
// paths are rehashed.
func (t *ratchetTree) nodeHash(x uint32) []byte {
	if h := t.nodes[x].hash; h != nil {
		return h
	}
	var h []byte
	if isLeaf(x) {
		h = leafHash(x, t.encoding(x))
	} else {
		lh := t.nodeHash(left(x))
		rh := t.nodeHash(right(x))
		h = parentTreeHash(t.encoding(x), lh, rh)
	}
	t.nodes[x].hash = h
	return h
}

// leafHash is the tree hash of leaf node x whose LeafNode encodes as enc
// (nil: blank).
func leafHash(x uint32, enc []byte) []byte {
	w := writer{b: make([]byte, 0, 6+len(enc))}
	w.u8(nodeTypeLeaf)
	w.u32(nodeLeaf(x))
	w.optional(enc != nil, func(w *writer) { w.raw(enc) })
	return hash(w.b)
}

// parentTreeHash is the tree hash of a parent node whose ParentNode
// encodes as enc (nil: blank), with child hashes lh and rh.
func parentTreeHash(enc, lh, rh []byte) []byte {
	w := writer{b: make([]byte, 0, 4+len(enc)+len(lh)+len(rh))}
	w.u8(nodeTypeParent)
	w.optional(enc != nil, func(w *writer) { w.raw(enc) })
	w.bytes(lh)
	w.bytes(rh)
	return hash(w.b)
}

// hashExcluding is the tree hash of the subtree at x with the leaves in
// exclude treated as blank and dropped from unmerged lists (RFC 9420
// §7.9.1). It is not cached, but subtrees without an excluded leaf use the
// cache: unmerged leaves are descendants of their parent (verify checks
// this before parent hashes), so such a subtree has no excluded leaf in
// its unmerged lists either.
func (t *ratchetTree) hashExcluding(x uint32, exclude []uint32) []byte {
	if !slices.ContainsFunc(exclude, func(l uint32) bool { return isAncestor(x, leafNode(l)) }) {
		return t.nodeHash(x)
	}
	if isLeaf(x) {
		return leafHash(x, nil) // x is excluded
	}
	lh := t.hashExcluding(left(x), exclude)
	rh := t.hashExcluding(right(x), exclude)
	var enc []byte
	if p := t.nodes[x].parent; p != nil {
		c := *p
		c.UnmergedLeaves = slices.DeleteFunc(slices.Clone(p.UnmergedLeaves), func(l uint32) bool { return slices.Contains(exclude, l) })
		var w writer
		c.marshal(&w)
		enc = w.b
	}
	return parentTreeHash(enc, lh, rh)
}

// parentHash is the parent hash of p given the original sibling tree hash
// (RFC 9420 §7.9).
func parentHashOf(p *parentNode, siblingHash []byte) []byte {
	var w writer
	w.bytes(p.EncryptionKey)
	w.bytes(p.ParentHash)
	w.bytes(siblingHash)
	return hash(w.b)
}

// originalSiblingHash is the tree hash of s with p's unmerged leaves
// removed (RFC 9420 §7.9.1).
func (t *ratchetTree) originalSiblingHash(p *parentNode, s uint32) []byte {
	if len(p.UnmergedLeaves) == 0 {
		return t.nodeHash(s)
	}
	return t.hashExcluding(s, p.UnmergedLeaves)
}

// verifyParentHashes checks that every non-blank parent node is
// parent-hash valid (RFC 9420 §7.9.2) by walking up from each leaf.
func (t *ratchetTree) verifyParentHashes() error {
	n := t.leafCount()
	covered := make([]bool, len(t.nodes))
	sibHashes := make(map[uint32][]byte) // sibling node -> original sibling tree hash under its parent
	for i := uint32(0); i < n; i++ {
		x := leafNode(i)
		ln := t.nodes[x].leaf
		if ln == nil {
			continue
		}
		cur := ln.ParentHash
		child := x
		for _, p := range directPath(x, n) {
			pn := t.nodes[p].parent
			if pn == nil {
				child = p
				continue
			}
			// The sibling of the path child under p.
			s := left(p)
			if isAncestor(s, child) {
				s = right(p)
			}
			sh, ok := sibHashes[s]
			if !ok {
				sh = t.originalSiblingHash(pn, s)
				sibHashes[s] = sh
			}
			if cur == nil || !bytes.Equal(cur, parentHashOf(pn, sh)) {
				break
			}
			covered[p] = true
			cur = pn.ParentHash
			child = p
		}
	}
	for x := range t.nodes {
		if t.nodes[x].parent != nil && !covered[x] {
			return fmt.Errorf("%w: parent hash of node %d", ErrInvalidTree, x)
		}
	}
	return nil
}

// verify checks a tree received from others (RFC 9420 §12.4.3.1): tree
// hash, parent hashes, leaf signatures and validity, unmerged leaves and
// unique encryption keys.
func (t *ratchetTree) verify(groupID, treeHash []byte) error {
	if len(t.nodes) == 0 || !bytes.Equal(t.treeHash(), treeHash) {
		return fmt.Errorf("%w: tree hash mismatch", ErrInvalidTree)
	}
	for x := range t.nodes {
		if p := t.nodes[x].parent; p != nil {
			for _, l := range p.UnmergedLeaves {
				lx := leafNode(l)
				if lx >= uint32(len(t.nodes)) || t.nodes[lx].leaf == nil || !isAncestor(uint32(x), lx) {
					return fmt.Errorf("%w: unmerged leaf %d at node %d", ErrInvalidTree, l, x)
				}
			}
		}
	}
	if err := t.verifyParentHashes(); err != nil {
		return err
	}
	keys := make(map[string]bool, len(t.nodes))
	sigKeys := make(map[string]bool, t.leafCount())
	var leaves []uint32
	for x := range t.nodes {
		n := &t.nodes[x]
		if k := n.encryptionKey(); k != nil {
			if keys[string(k)] {
				return fmt.Errorf("%w: duplicate encryption key at node %d", ErrInvalidTree, x)
			}
			keys[string(k)] = true
		}
		if n.leaf != nil {
			if sigKeys[string(n.leaf.SignatureKey)] {
				return fmt.Errorf("%w: duplicate signature key at node %d", ErrInvalidTree, x)
			}
			sigKeys[string(n.leaf.SignatureKey)] = true
			leaves = append(leaves, uint32(x/2))
		}
	}
	// Leaf checks dominate joining (one ECDSA verification per member) and
	// are independent: run them in parallel.
	return parallel(len(leaves), 1, func(i int) error {
		l := leaves[i]
		ln := t.nodes[leafNode(l)].leaf
		if err := ln.validate(); err != nil {
			return fmt.Errorf("%w: leaf %d: %w", ErrInvalidTree, l, err)
		}
		if err := ln.VerifySignature(groupID, l); err != nil {
			return fmt.Errorf("%w: leaf %d: %w", ErrInvalidTree, l, err)
		}
		return nil
	})
}

// findLeaf returns the index of the leaf equal to ln.
func (t *ratchetTree) findLeaf(ln *LeafNode) (uint32, bool) {
	enc := ln.Marshal()
	for i := uint32(0); i < t.leafCount(); i++ {
		if l := t.leaf(i); l != nil && bytes.Equal(l.EncryptionKey, ln.EncryptionKey) && bytes.Equal(l.Marshal(), enc) {
			return i, true
		}
	}
	return 0, false
}
