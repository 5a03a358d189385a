package mls

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

func userID(u uint64) []byte { return binary.BigEndian.AppendUint64(nil, u) }

type testMember struct {
	id     uint64
	bundle *KeyPackageBundle
	group  *Group
}

func newTestMember(t testing.TB, id uint64) *testMember {
	t.Helper()
	sig, err := GenerateSignatureKey()
	mustNoErr(t, err)
	kp, err := NewKeyPackage(sig, BasicCredential(userID(id)))
	mustNoErr(t, err)
	return &testMember{id: id, bundle: kp}
}

func (m *testMember) kpBytes() []byte { return m.bundle.KeyPackage.Marshal() }

// assertSynced checks that all groups share epoch, exporter output and
// epoch authenticator.
func assertSynced(t *testing.T, groups ...*Group) {
	t.Helper()
	want, err := groups[0].Exporter("Discord Secure Frames v0", []byte{1, 2, 3}, 16)
	mustNoErr(t, err)
	for _, g := range groups[1:] {
		if g.Epoch() != groups[0].Epoch() {
			t.Fatalf("epoch %d vs %d", g.Epoch(), groups[0].Epoch())
		}
		got, err := g.Exporter("Discord Secure Frames v0", []byte{1, 2, 3}, 16)
		mustNoErr(t, err)
		eq(t, "exporter", got, want)
		eq(t, "epoch authenticator", g.EpochAuthenticator(), groups[0].EpochAuthenticator())
		if len(g.Members()) != len(groups[0].Members()) {
			t.Fatalf("members %d vs %d", len(g.Members()), len(groups[0].Members()))
		}
	}
}

// TestDAVEFlow plays the gateway and three, then four members through the
// DAVE flows of dave.md §4: initial creation with external Adds, a Remove
// plus a later Add into the established group, and an empty commit.
func TestDAVEFlow(t *testing.T) {
	gid := userID(987654321)
	gkey, err := GenerateSignatureKey()
	mustNoErr(t, err)
	es := NewExternalSender(gkey, userID(0))
	// The op 25 payload round-trips.
	entry := es.Entry()
	got, err := ParseExternalSenderEntry(entry.Marshal())
	mustNoErr(t, err)
	eq(t, "external sender key", got.SignatureKey, entry.SignatureKey)

	view := NewServerGroupView(gid, es)
	alice, bob, carol := newTestMember(t, 1), newTestMember(t, 2), newTestMember(t, 3)
	pending := []*testMember{alice, bob, carol}
	refs := map[uint64]ProposalRef{}
	msgs := map[uint64][]byte{}
	for _, m := range pending {
		g, err := NewGroup(gid, m.bundle, []Extension{es.Extension()}, WithUniqueIdentities())
		mustNoErr(t, err)
		m.group = g
		kp, err := ParseKeyPackage(m.kpBytes())
		mustNoErr(t, err)
		mustNoErr(t, kp.Verify())
		mustNoErr(t, kp.CheckDAVELifetime())
		msg, ref, err := view.ProposeAdd(m.kpBytes())
		mustNoErr(t, err)
		r2, err := ProposalRefOf(msg)
		mustNoErr(t, err)
		eq(t, "proposal ref", r2, ref)
		refs[m.id], msgs[m.id] = ref, msg
	}
	// Each pending member receives the Adds of the others; bob and alice
	// both commit, alice's commit reaches the gateway first.
	commits := map[uint64][]byte{}
	for _, m := range []*testMember{alice, bob} {
		var mine []ProposalRef
		for _, o := range pending {
			if o == m {
				continue
			}
			p, ref, err := m.group.ProcessProposal(msgs[o.id])
			mustNoErr(t, err)
			if p.Type != ProposalAdd || !bytes.Equal(p.KeyPackage.Identity(), userID(o.id)) {
				t.Fatalf("unexpected proposal %+v", p)
			}
			eq(t, "ref", ref, refs[o.id])
			mine = append(mine, ref)
		}
		commit, welcome, err := m.group.CreateCommit(mine, nil)
		mustNoErr(t, err)
		if welcome == nil {
			t.Fatal("no welcome")
		}
		commits[m.id] = append(commit, welcome...)
	}
	cc, err := view.CheckCommit(commits[alice.id], alice.bundle.KeyPackage)
	mustNoErr(t, err)
	mustNoErr(t, view.ApplyCommit(cc))
	if _, err := view.CheckCommit(commits[bob.id], bob.bundle.KeyPackage); !errors.Is(err, ErrRejected) {
		t.Fatalf("late commit accepted: %v", err)
	}
	if len(cc.Added) != 2 || cc.Added[0].LeafIndex != 1 || cc.Added[1].LeafIndex != 2 {
		t.Fatalf("added %+v", cc.Added)
	}

	// op 29 to alice, op 30 to bob and carol.
	sum, err := alice.group.ProcessCommit(cc.Commit)
	mustNoErr(t, err)
	if sum.Epoch != 1 || len(sum.Added) != 2 {
		t.Fatalf("summary %+v", sum)
	}
	bob.group.ClearPendingCommit()
	for _, a := range cc.Added {
		m := map[uint64]*testMember{2: bob, 3: carol}[binary.BigEndian.Uint64(a.Identity)]
		wl, err := ParseWelcome(a.Welcome)
		mustNoErr(t, err)
		if len(wl.Secrets) != 1 {
			t.Fatalf("split welcome has %d secrets", len(wl.Secrets))
		}
		m.group, err = JoinFromWelcome(a.Welcome, m.bundle, WithUniqueIdentities())
		mustNoErr(t, err)
		if m.group.OwnLeafIndex() != a.LeafIndex {
			t.Fatalf("leaf %d, gateway says %d", m.group.OwnLeafIndex(), a.LeafIndex)
		}
	}
	assertSynced(t, alice.group, bob.group, carol.group)
	if alice.group.Epoch() != 1 || view.Epoch() != 1 {
		t.Fatalf("epochs %d %d", alice.group.Epoch(), view.Epoch())
	}
	if l, ok := view.LeafOf(userID(3)); !ok || l != 2 {
		t.Fatalf("LeafOf(carol) = %d %v", l, ok)
	}

	// Bob leaves, dave joins; carol commits.
	dave := newTestMember(t, 4)
	rmMsg, rmRef, err := view.ProposeRemove(1)
	mustNoErr(t, err)
	addMsg, addRef, err := view.ProposeAdd(dave.kpBytes())
	mustNoErr(t, err)
	for _, g := range []*Group{alice.group, bob.group, carol.group} {
		for _, msg := range [][]byte{rmMsg, addMsg} {
			_, _, err := g.ProcessProposal(msg)
			mustNoErr(t, err)
		}
	}
	// A commit missing the Add is refused by the gateway.
	partial, _, err := carol.group.CreateCommit([]ProposalRef{rmRef}, nil)
	mustNoErr(t, err)
	if _, err := view.CheckCommit(partial, nil); !errors.Is(err, ErrRejected) {
		t.Fatalf("partial commit accepted: %v", err)
	}
	// OpenMLS-style reordering (Add before Remove) is fine.
	commit, welcome, err := carol.group.CreateCommit([]ProposalRef{addRef, rmRef}, nil)
	mustNoErr(t, err)
	if _, err := view.CheckCommit(commit, nil); !errors.Is(err, ErrRejected) {
		t.Fatalf("commit without welcome accepted: %v", err)
	}
	cc, err = view.CheckCommit(append(commit, welcome...), nil)
	mustNoErr(t, err)
	mustNoErr(t, view.ApplyCommit(cc))
	if len(cc.Removed) != 1 || cc.Removed[0].LeafIndex != 1 || len(cc.Added) != 1 || cc.Added[0].LeafIndex != 1 {
		t.Fatalf("checked commit %+v", cc)
	}
	_, err = alice.group.ProcessCommit(cc.Commit)
	mustNoErr(t, err)
	_, err = carol.group.ProcessCommit(cc.Commit)
	mustNoErr(t, err)
	if _, err := bob.group.ProcessCommit(cc.Commit); !errors.Is(err, ErrRemoved) {
		t.Fatalf("bob: %v", err)
	}
	dave.group, err = JoinFromWelcome(cc.Added[0].Welcome, dave.bundle)
	mustNoErr(t, err)
	assertSynced(t, alice.group, carol.group, dave.group)
	if dave.group.OwnLeafIndex() != 1 || dave.group.Epoch() != 2 {
		t.Fatalf("dave leaf %d epoch %d", dave.group.OwnLeafIndex(), dave.group.Epoch())
	}

	// An empty commit (path only) from dave, and a member-inline remove
	// of carol by alice.
	commit, welcome, err = dave.group.CreateCommit(nil, nil)
	mustNoErr(t, err)
	if welcome != nil {
		t.Fatal("welcome for empty commit")
	}
	for _, g := range []*Group{alice.group, carol.group, dave.group} {
		_, err := g.ProcessCommit(commit)
		mustNoErr(t, err)
	}
	assertSynced(t, alice.group, carol.group, dave.group)
	commit, _, err = alice.group.CreateCommit(nil, []Proposal{RemoveProposal(2)})
	mustNoErr(t, err)
	for _, g := range []*Group{alice.group, dave.group} {
		sum, err := g.ProcessCommit(commit)
		mustNoErr(t, err)
		if sum.Inline != 1 || len(sum.Removed) != 1 {
			t.Fatalf("summary %+v", sum)
		}
	}
	assertSynced(t, alice.group, dave.group)
	if alice.group.Epoch() != 4 || len(alice.group.Members()) != 2 {
		t.Fatalf("epoch %d members %d", alice.group.Epoch(), len(alice.group.Members()))
	}
}

func TestGroupRejects(t *testing.T) {
	gid := userID(5)
	gkey, err := GenerateSignatureKey()
	mustNoErr(t, err)
	es := NewExternalSender(gkey, userID(0))
	a, b := newTestMember(t, 1), newTestMember(t, 2)
	a.group, err = NewGroup(gid, a.bundle, []Extension{es.Extension()}, WithUniqueIdentities())
	mustNoErr(t, err)

	// Wrong epoch and wrong group.
	msg, _, err := es.SignAddProposal(gid, 3, b.kpBytes())
	mustNoErr(t, err)
	if _, _, err := a.group.ProcessProposal(msg); !errors.Is(err, ErrWrongEpoch) {
		t.Fatalf("wrong epoch: %v", err)
	}
	msg, _, err = es.SignAddProposal(userID(6), 0, b.kpBytes())
	mustNoErr(t, err)
	if _, _, err := a.group.ProcessProposal(msg); !errors.Is(err, ErrWrongGroup) {
		t.Fatalf("wrong group: %v", err)
	}
	// A proposal signed by someone else.
	other, err := GenerateSignatureKey()
	mustNoErr(t, err)
	msg, _, err = NewExternalSender(other, userID(0)).SignAddProposal(gid, 0, b.kpBytes())
	mustNoErr(t, err)
	if _, _, err := a.group.ProcessProposal(msg); !errors.Is(err, ErrInvalidSignature) {
		t.Fatalf("forged: %v", err)
	}
	// Unknown reference.
	if _, _, err := a.group.CreateCommit([]ProposalRef{make([]byte, 32)}, nil); !errors.Is(err, ErrUnknownProposal) {
		t.Fatalf("unknown ref: %v", err)
	}
	// Duplicate identity.
	twin := newTestMember(t, 1)
	msg, ref, err := es.SignAddProposal(gid, 0, twin.kpBytes())
	mustNoErr(t, err)
	_, _, err = a.group.ProcessProposal(msg)
	mustNoErr(t, err)
	if _, _, err := a.group.CreateCommit([]ProposalRef{ref}, nil); !errors.Is(err, ErrInvalidProposal) {
		t.Fatalf("duplicate identity: %v", err)
	}
	if !a.group.RemoveCachedProposal(ref) || len(a.group.CachedProposalRefs()) != 0 {
		t.Fatal("revoke failed")
	}
	// A tampered key package.
	kp := b.kpBytes()
	kp[len(kp)-5] ^= 1
	if _, _, err := es.SignAddProposal(gid, 0, kp); err == nil {
		t.Fatal("tampered key package signed")
	}
	// A welcome for someone else.
	msg, ref, err = es.SignAddProposal(gid, 0, b.kpBytes())
	mustNoErr(t, err)
	_, _, err = a.group.ProcessProposal(msg)
	mustNoErr(t, err)
	_, welcome, err := a.group.CreateCommit([]ProposalRef{ref}, nil)
	mustNoErr(t, err)
	c := newTestMember(t, 3)
	if _, err := JoinFromWelcome(welcome, c.bundle); !errors.Is(err, ErrNotForMe) {
		t.Fatalf("foreign welcome: %v", err)
	}
	// A tampered commit fails the membership tag or signature.
	commit, _, err := a.group.CreateCommit([]ProposalRef{ref}, nil)
	mustNoErr(t, err)
	b.group, err = NewGroup(gid, b.bundle, nil)
	mustNoErr(t, err)
	if _, err := b.group.ProcessCommit(commit); err == nil {
		t.Fatal("commit from another group instance accepted")
	}
}
