package mls

import (
	"math/rand/v2"
	"slices"
	"testing"
)

func TestTreeValidationVectors(t *testing.T) {
	var cases []struct {
		CipherSuite uint16     `json:"cipher_suite"`
		Tree        hexBytes   `json:"tree"`
		GroupID     hexBytes   `json:"group_id"`
		TreeHashes  []hexBytes `json:"tree_hashes"`
		Resolutions [][]uint32 `json:"resolutions"`
	}
	loadVectors(t, "tree-validation.json", &cases)
	for i, c := range cases {
		tr, err := parseRatchetTree(c.Tree)
		mustNoErr(t, err)
		if len(tr.nodes) != len(c.TreeHashes) {
			t.Fatalf("case %d: %d nodes, want %d", i, len(tr.nodes), len(c.TreeHashes))
		}
		hashes := tr.hashes()
		for x := range tr.nodes {
			eq(t, "tree hash", hashes[x], c.TreeHashes[x])
			got := tr.resolution(uint32(x))
			if !slices.Equal(got, c.Resolutions[x]) && !(len(got) == 0 && len(c.Resolutions[x]) == 0) {
				t.Fatalf("case %d: resolution(%d) = %v, want %v", i, x, got, c.Resolutions[x])
			}
		}
		if err := tr.verify(c.GroupID, hashes[root(tr.leafCount())]); err != nil {
			t.Fatalf("case %d: verify: %v", i, err)
		}
		eq(t, "re-encode", tr.Marshal(), c.Tree)
	}
}

func TestTreeKEMVectors(t *testing.T) {
	var cases []struct {
		CipherSuite             uint16   `json:"cipher_suite"`
		GroupID                 hexBytes `json:"group_id"`
		Epoch                   uint64   `json:"epoch"`
		ConfirmedTranscriptHash hexBytes `json:"confirmed_transcript_hash"`
		RatchetTree             hexBytes `json:"ratchet_tree"`
		LeavesPrivate           []struct {
			Index          uint32   `json:"index"`
			EncryptionPriv hexBytes `json:"encryption_priv"`
			SignaturePriv  hexBytes `json:"signature_priv"`
			PathSecrets    []struct {
				Node       uint32   `json:"node"`
				PathSecret hexBytes `json:"path_secret"`
			} `json:"path_secrets"`
		} `json:"leaves_private"`
		UpdatePaths []struct {
			Sender        uint32     `json:"sender"`
			UpdatePath    hexBytes   `json:"update_path"`
			PathSecrets   []hexBytes `json:"path_secrets"`
			CommitSecret  hexBytes   `json:"commit_secret"`
			TreeHashAfter hexBytes   `json:"tree_hash_after"`
		} `json:"update_paths"`
	}
	loadVectors(t, "treekem.json", &cases)
	for ci, c := range cases {
		base, err := parseRatchetTree(c.RatchetTree)
		mustNoErr(t, err)
		privs := make(map[uint32]map[uint32]*hpkeKey)
		for _, lp := range c.LeavesPrivate {
			m := make(map[uint32]*hpkeKey)
			k, err := parseHPKEPrivate(lp.EncryptionPriv)
			mustNoErr(t, err)
			eq(t, "leaf key", k.pub, base.nodes[leafNode(lp.Index)].encryptionKey())
			m[leafNode(lp.Index)] = k
			for _, ps := range lp.PathSecrets {
				k, err := nodeKeyFromPathSecret(ps.PathSecret)
				mustNoErr(t, err)
				eq(t, "node key", k.pub, base.nodes[ps.Node].encryptionKey())
				m[ps.Node] = k
			}
			privs[lp.Index] = m
		}
		for _, up := range c.UpdatePaths {
			r := newReader(up.UpdatePath)
			var path UpdatePath
			path.unmarshal(r)
			mustNoErr(t, r.finish())
			tr := base.clone()
			fdp, cop, err := tr.mergePath(up.Sender, &path, c.GroupID)
			if err != nil {
				t.Fatalf("case %d sender %d: merge: %v", ci, up.Sender, err)
			}
			th := tr.treeHash()
			eq(t, "tree_hash_after", th, up.TreeHashAfter)
			gc := GroupContext{Version: 1, CipherSuite: CipherSuite, GroupID: c.GroupID, Epoch: c.Epoch, TreeHash: th, ConfirmedTranscriptHash: c.ConfirmedTranscriptHash}
			ctx := gc.Marshal()
			for _, lp := range c.LeavesPrivate {
				if lp.Index == up.Sender {
					continue
				}
				m := make(map[uint32]*hpkeKey)
				for k, v := range privs[lp.Index] {
					if !slices.Contains(directPath(leafNode(up.Sender), tr.leafCount()), k) {
						m[k] = v
					}
				}
				ps, cs, err := tr.decryptPath(lp.Index, &path, fdp, cop, ctx, m, nil)
				if err != nil {
					t.Fatalf("case %d sender %d leaf %d: %v", ci, up.Sender, lp.Index, err)
				}
				eq(t, "path secret", ps, up.PathSecrets[lp.Index])
				eq(t, "commit secret", cs, up.CommitSecret)
			}
			// A path we create from the same sender must be decryptable by
			// everyone else.
			sig, err := ParseSignatureKey(c.LeavesPrivate[slices.IndexFunc(c.LeavesPrivate, func(l struct {
				Index          uint32   `json:"index"`
				EncryptionPriv hexBytes `json:"encryption_priv"`
				SignaturePriv  hexBytes `json:"signature_priv"`
				PathSecrets    []struct {
					Node       uint32   `json:"node"`
					PathSecret hexBytes `json:"path_secret"`
				} `json:"path_secrets"`
			}) bool {
				return l.Index == up.Sender
			})].SignaturePriv)
			mustNoErr(t, err)
			own := base.clone()
			pk, err := own.createPath(up.Sender, base.leaf(up.Sender), c.GroupID, sig)
			mustNoErr(t, err)
			gc.TreeHash = own.treeHash()
			ctx = gc.Marshal()
			mustNoErr(t, own.encryptPath(pk, ctx, nil))
			mustNoErr(t, own.verifyParentHashes())
			for _, lp := range c.LeavesPrivate {
				if lp.Index == up.Sender {
					continue
				}
				recv := base.clone()
				fdp, cop, err := recv.mergePath(up.Sender, pk.path, c.GroupID)
				mustNoErr(t, err)
				m := make(map[uint32]*hpkeKey)
				for k, v := range privs[lp.Index] {
					if !slices.Contains(directPath(leafNode(up.Sender), recv.leafCount()), k) {
						m[k] = v
					}
				}
				_, cs, err := recv.decryptPath(lp.Index, pk.path, fdp, cop, ctx, m, nil)
				mustNoErr(t, err)
				eq(t, "own commit secret", cs, pk.commitSecret)
			}
		}
	}
}

// TestTreeOperationsVectors applies Add, Update and Remove to a tree. The
// upstream file holds only suite 1 cases; tree hashes use SHA-256 as suite
// 2 does, and keys and signatures are not checked here.
func TestTreeOperationsVectors(t *testing.T) {
	var cases []struct {
		TreeBefore     hexBytes `json:"tree_before"`
		TreeAfter      hexBytes `json:"tree_after"`
		TreeHashBefore hexBytes `json:"tree_hash_before"`
		TreeHashAfter  hexBytes `json:"tree_hash_after"`
		Proposal       hexBytes `json:"proposal"`
		Sender         uint32   `json:"proposal_sender"`
	}
	loadVectors(t, "tree-operations.json", &cases)
	for i, c := range cases {
		tr, err := parseRatchetTree(c.TreeBefore)
		mustNoErr(t, err)
		eq(t, "tree hash before", tr.treeHash(), c.TreeHashBefore)
		p, err := ParseProposal(c.Proposal)
		mustNoErr(t, err)
		switch p.Type {
		case ProposalAdd:
			ln := p.KeyPackage.LeafNode
			tr.addLeaf(&ln)
		case ProposalUpdate:
			tr.updateLeaf(c.Sender, p.LeafNode)
		case ProposalRemove:
			tr.removeLeaf(p.Removed)
		default:
			t.Fatalf("case %d: proposal type %d", i, p.Type)
		}
		eq(t, "tree after", tr.Marshal(), c.TreeAfter)
		eq(t, "tree hash after", tr.treeHash(), c.TreeHashAfter)
	}
}

// TestTreeHashCacheRandom applies random leaf and parent changes to a tree
// and its clones and checks after each step that the cached node hashes
// and encodings match a fresh computation, and that clones stay
// independent.
func TestTreeHashCacheRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	randKey := func() []byte {
		k := make([]byte, PublicKeyLen)
		for i := range k {
			k[i] = byte(rng.Uint32())
		}
		return k
	}
	newLeaf := func() *LeafNode {
		return &LeafNode{EncryptionKey: randKey(), SignatureKey: randKey(), Credential: BasicCredential(randKey()[:8]),
			Capabilities: DefaultCapabilities(), Source: LeafSourceCommit, ParentHash: randKey()[:32]}
	}
	tr := &ratchetTree{}
	tr.addLeaf(newLeaf())
	var saved []*ratchetTree
	var savedHash [][]byte
	excluded, maxLeaves := 0, uint32(0)
	for step := range 400 {
		maxLeaves = max(maxLeaves, tr.leafCount())
		n := tr.leafCount()
		switch op := rng.IntN(6); op {
		case 0, 1:
			tr.addLeaf(newLeaf())
		case 2:
			if l := rng.Uint32N(n); tr.leaf(l) != nil && len(membersOf(tr)) > 1 {
				tr.removeLeaf(l)
			}
		case 3:
			if l := rng.Uint32N(n); tr.leaf(l) != nil {
				tr.updateLeaf(l, newLeaf())
			}
		case 4:
			// Only where a real tree has parents: both subtrees occupied
			// (so the tree never ends in a parent).
			if x := 2*rng.Uint32N(max(n-1, 1)) + 1; n > 1 && tr.hasNonBlank(left(x)) && tr.hasNonBlank(right(x)) {
				var unmerged []uint32
				for l := range n {
					if isAncestor(x, leafNode(l)) && tr.leaf(l) != nil && rng.IntN(3) == 0 {
						unmerged = append(unmerged, l)
					}
				}
				tr.setParent(x, &parentNode{EncryptionKey: randKey(), ParentHash: randKey()[:32], UnmergedLeaves: unmerged})
			}
		case 5:
			saved = append(saved, tr.clone())
			savedHash = append(savedHash, slices.Clone(tr.treeHash()))
			tr = tr.clone()
		}
		if rng.IntN(2) == 0 {
			tr.treeHash() // sometimes warm the cache, sometimes not
		}
		if step%10 == 0 {
			checkHashCache(t, tr)
			fresh, err := parseRatchetTree(tr.Marshal())
			mustNoErr(t, err)
			for x := uint32(1); x < uint32(len(tr.nodes)); x += 2 {
				if p := tr.nodes[x].parent; p != nil && len(p.UnmergedLeaves) > 0 {
					for _, s := range []uint32{left(x), right(x)} {
						eq(t, "hash excluding", tr.originalSiblingHash(p, s), fresh.hashExcludingUncached(s, p.UnmergedLeaves))
						excluded++
					}
				}
			}
		}
	}
	for i, s := range saved {
		eq(t, "saved tree hash", s.treeHash(), savedHash[i])
		checkHashCache(t, s)
	}
	if excluded < 20 || maxLeaves < 32 || len(saved) < 20 {
		t.Fatalf("walk too tame: %d excluded-hash checks, %d leaves, %d clones", excluded, maxLeaves, len(saved))
	}
}

// hashExcludingUncached is hashExcluding computed from scratch, as the
// original implementation did.
func (t *ratchetTree) hashExcludingUncached(x uint32, exclude []uint32) []byte {
	if isLeaf(x) {
		if t.nodes[x].leaf == nil || slices.Contains(exclude, nodeLeaf(x)) {
			return leafHash(x, nil)
		}
		return leafHash(x, t.nodes[x].leaf.Marshal())
	}
	lh := t.hashExcludingUncached(left(x), exclude)
	rh := t.hashExcludingUncached(right(x), exclude)
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
