package mls

import (
	"maps"
	"math/bits"
	"sync"
	"testing"
)

// benchFixture holds the groups the commit benchmarks run against for one
// group size. Building it is the slow part of the benchmarks, so it is
// built once per size and process and shared by every benchmark (they copy
// the groups they mutate).
type benchFixture struct {
	n       int
	groupID []byte
	es      *ExternalSender
	members []*testMember

	// worst: right after the creator added n-1 members in one commit. Only
	// the creator's direct path is populated, so a commit from leaf 0
	// encrypts to n-1 single leaves.
	worst benchCase

	// steady: every member has committed since (in an order that keeps
	// setup cheap), so every parent node is populated and a commit
	// encrypts to one node per copath level, as in a long-lived DAVE call.
	steady benchCase
}

// benchCase is one starting state with a committer (leaf 0) and a
// receiver, both holding the same cached external proposals.
type benchCase struct {
	committer, receiver *Group
	view                *ServerGroupView // worst only: the gateway's view, Add live

	addRef, removeRef ProposalRef // external Add of newcomer, Remove of removed
	removed           uint32

	// Precomputed by committer for the ProcessCommit and Join benchmarks.
	addCommit, addWelcome, removeCommit []byte
	newcomer                            *KeyPackageBundle

	// joinWelcome is a Welcome into this state (worst: the mass Add's,
	// for the last member; steady: addWelcome) and joiner its bundle.
	joinWelcome []byte
	joiner      *KeyPackageBundle
}

var benchFixtures struct {
	mu sync.Mutex
	m  map[int]*benchFixture
}

// fixture returns the cached fixture for n members, building it on first
// use.
func fixture(tb testing.TB, n int) *benchFixture {
	tb.Helper()
	benchFixtures.mu.Lock()
	defer benchFixtures.mu.Unlock()
	if f := benchFixtures.m[n]; f != nil {
		return f
	}
	f := newBenchFixture(tb, n)
	if benchFixtures.m == nil {
		benchFixtures.m = make(map[int]*benchFixture)
	}
	benchFixtures.m[n] = f
	return f
}

func newBenchFixture(tb testing.TB, n int) *benchFixture {
	tb.Helper()
	f := &benchFixture{n: n, groupID: userID(uint64(1_000_000 + n))}
	key, err := GenerateSignatureKey()
	mustNoErr(tb, err)
	f.es = NewExternalSender(key, userID(0))
	f.members = make([]*testMember, n)
	for i := range f.members {
		f.members[i] = newTestMember(tb, uint64(i+1))
	}

	// The creator adds everyone else in one commit (inline Adds).
	creator, err := NewGroup(f.groupID, f.members[0].bundle, []Extension{f.es.Extension()})
	mustNoErr(tb, err)
	adds := make([]Proposal, 0, n-1)
	for _, m := range f.members[1:] {
		adds = append(adds, AddProposal(m.bundle.KeyPackage))
	}
	_, welcome, err := creator.CreateCommit(nil, adds)
	mustNoErr(tb, err)
	mustNoErr(tb, creator.MergePendingCommit())

	// god knows every private key; it commits as each member in turn.
	god := f.memberView(creator, 0)
	god.st.privs = maps.Clone(creator.st.privs)
	for i, m := range f.members {
		god.st.privs[leafNode(uint32(i))] = m.bundle.encKey
	}

	view := NewServerGroupView(f.groupID, f.es)
	view.epoch, view.established = creator.Epoch(), true
	for _, mb := range creator.Members() {
		ln := *creator.st.tree.leaf(mb.LeafIndex)
		view.leaves = append(view.leaves, &ln)
	}
	f.worst = f.newCase(tb, god, 1, view)
	f.worst.joinWelcome, f.worst.joiner = welcome, f.members[n-1].bundle

	// Commit once as every member except leaf 0 (whose path is already
	// populated), in bit-reversed leaf order: the tree fills top down, so
	// each commit encrypts to few nodes and setup stays cheap.
	width := god.st.tree.leafCount()
	shift := 32 - bits.TrailingZeros32(width)
	for i := uint32(1); i < width; i++ {
		leaf := bits.Reverse32(i) >> shift
		if width == 1 || leaf >= uint32(n) {
			continue
		}
		god.st.ownLeaf, god.sig = leaf, f.members[leaf].bundle.sigKey
		_, _, err := god.CreateCommit(nil, nil)
		mustNoErr(tb, err)
		mustNoErr(tb, god.MergePendingCommit())
	}
	f.steady = f.newCase(tb, god, 1, nil)
	f.steady.joinWelcome, f.steady.joiner = f.steady.addWelcome, f.steady.newcomer
	return f
}

// memberView returns a copy of g as seen by the member at leaf: its
// signature key and only the private keys it knows (its leaf and the
// populated nodes of its direct path).
func (f *benchFixture) memberView(g *Group, leaf uint32) *Group {
	v := *g
	v.sig = f.members[leaf].bundle.sigKey
	v.st.ownLeaf = leaf
	v.st.privs = make(map[uint32]*hpkeKey)
	t := g.st.tree
	for _, x := range append([]uint32{leafNode(leaf)}, directPath(leafNode(leaf), t.leafCount())...) {
		if k := g.st.privs[x]; k != nil {
			v.st.privs[x] = k
		}
	}
	v.proposals, v.pending = nil, nil
	v.resumption = maps.Clone(g.resumption)
	return &v
}

// newCase derives the committer (leaf 0) and receiver views of god's
// state, caches an external Add of a fresh member and an external Remove
// of a member in the right half in both, and precomputes the commits
// (left pending in the committer, so copies of it can merge them).
//
// If view is not nil the proposals come from it and only the Add is left
// live there, so view.CheckCommit accepts addCommit.
func (f *benchFixture) newCase(tb testing.TB, god *Group, receiver uint32, view *ServerGroupView) benchCase {
	tb.Helper()
	c := benchCase{
		committer: f.memberView(god, 0),
		receiver:  f.memberView(god, receiver),
		view:      view,
		removed:   uint32(f.n) * 3 / 4,
	}
	if c.removed <= receiver {
		c.removed = uint32(f.n) - 1
	}
	c.newcomer = newTestMember(tb, uint64(f.n+1)).bundle
	var addMsg, removeMsg []byte
	var addRef, removeRef ProposalRef
	var err error
	if view != nil {
		addMsg, addRef, err = view.ProposeAdd(c.newcomer.KeyPackage.Marshal())
		mustNoErr(tb, err)
		removeMsg, removeRef, err = view.ProposeRemove(c.removed)
		mustNoErr(tb, err)
		view.Revoke(removeRef)
	} else {
		addMsg, addRef, err = f.es.SignAddProposal(f.groupID, god.Epoch(), c.newcomer.KeyPackage.Marshal())
		mustNoErr(tb, err)
		removeMsg, removeRef, err = f.es.SignRemoveProposal(f.groupID, god.Epoch(), c.removed)
		mustNoErr(tb, err)
	}
	c.addRef, c.removeRef = addRef, removeRef
	for _, g := range []*Group{c.committer, c.receiver} {
		_, _, err := g.ProcessProposal(addMsg)
		mustNoErr(tb, err)
		_, _, err = g.ProcessProposal(removeMsg)
		mustNoErr(tb, err)
	}
	c.addCommit, c.addWelcome, err = c.committer.CreateCommit([]ProposalRef{addRef}, nil)
	mustNoErr(tb, err)
	c.removeCommit, _, err = c.committer.CreateCommit([]ProposalRef{removeRef}, nil)
	mustNoErr(tb, err)
	return c
}

// TestBenchFixture checks that the benchmark states are real: a receiver
// processes the precomputed commits and ends in the committer's epoch, and
// the newcomer joins from the Welcome.
func TestBenchFixture(t *testing.T) {
	for _, n := range []int{3, 5, 13} {
		f := newBenchFixture(t, n)
		for _, c := range []*benchCase{&f.worst, &f.steady} {
			for _, msgs := range [][2][]byte{{c.addCommit, c.addWelcome}, {c.removeCommit, nil}} {
				committer, receiver := *c.committer, *c.receiver
				_, err := receiver.ProcessCommit(msgs[0])
				mustNoErr(t, err)
				_, err = committer.ProcessCommit(msgs[0])
				mustNoErr(t, err)
				groups := []*Group{&committer, &receiver}
				for _, g := range groups {
					checkHashCache(t, g.st.tree)
				}
				if msgs[1] != nil {
					joined, err := JoinFromWelcome(msgs[1], c.newcomer)
					mustNoErr(t, err)
					groups = append(groups, joined)
				}
				assertSynced(t, groups...)
			}
			_, err := JoinFromWelcome(c.joinWelcome, c.joiner)
			mustNoErr(t, err)
		}
		// In the steady state every parent above two members is populated.
		tree := f.steady.committer.st.tree
		for x := uint32(1); x < uint32(len(tree.nodes)); x += 2 {
			if tree.nodes[x].blank() && tree.hasNonBlank(left(x)) && tree.hasNonBlank(right(x)) {
				t.Fatalf("n=%d: parent %d blank in steady state", n, x)
			}
		}
	}
}

// checkHashCache compares every cached node hash and encoding of tr with
// a fresh computation.
func checkHashCache(t *testing.T, tr *ratchetTree) {
	t.Helper()
	fresh, err := parseRatchetTree(tr.Marshal())
	mustNoErr(t, err)
	want := fresh.hashes()
	for x := range tr.nodes {
		n := &tr.nodes[x]
		if n.hash != nil {
			eq(t, "cached node hash", n.hash, want[x])
		}
		if n.enc != nil {
			var w writer
			if n.leaf != nil {
				n.leaf.marshal(&w)
			} else {
				n.parent.marshal(&w)
			}
			eq(t, "cached node encoding", n.enc, w.b)
		}
	}
	eq(t, "tree hash", tr.treeHash(), fresh.treeHash())
}
