package mls

import (
	"errors"
	"testing"
)

// TestCommitRejectsDuplicates checks the incremental uniqueness checks of
// applyProposals: a new leaf may not reuse a signature key or (with
// WithUniqueIdentities) an identity of a member or of another new leaf.
func TestCommitRejectsDuplicates(t *testing.T) {
	a := newTestMember(t, 1)
	kpWith := func(t *testing.T, m *testMember, id uint64) *KeyPackage {
		kp, err := NewKeyPackage(m.bundle.sigKey, BasicCredential(userID(id)))
		mustNoErr(t, err)
		return kp.KeyPackage
	}
	b, c := newTestMember(t, 2), newTestMember(t, 3)
	tests := []struct {
		name string
		adds func(t *testing.T) []*KeyPackage
		want error
	}{
		{"distinct", func(t *testing.T) []*KeyPackage {
			return []*KeyPackage{b.bundle.KeyPackage, c.bundle.KeyPackage}
		}, nil},
		{"member's signature key", func(t *testing.T) []*KeyPackage { return []*KeyPackage{kpWith(t, a, 7)} }, ErrInvalidProposal},
		{"member's identity", func(t *testing.T) []*KeyPackage { return []*KeyPackage{newTestMember(t, 1).bundle.KeyPackage} }, ErrInvalidProposal},
		{"two adds, one signature key", func(t *testing.T) []*KeyPackage {
			return []*KeyPackage{b.bundle.KeyPackage, kpWith(t, b, 8)}
		}, ErrInvalidProposal},
		{"two adds, one identity", func(t *testing.T) []*KeyPackage {
			return []*KeyPackage{b.bundle.KeyPackage, newTestMember(t, 2).bundle.KeyPackage}
		}, ErrInvalidProposal},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g, err := NewGroup(userID(77), a.bundle, nil, WithUniqueIdentities())
			mustNoErr(t, err)
			var adds []Proposal
			for _, kp := range tc.adds(t) {
				adds = append(adds, AddProposal(kp))
			}
			_, _, err = g.CreateCommit(nil, adds)
			if tc.want == nil {
				mustNoErr(t, err)
			} else if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

// TestProcessCommitRejectsBadSignatures checks that the signatures
// ProcessCommit verifies concurrently with decryption still reject: a
// FramedContent signed by another key, and an UpdatePath leaf whose
// signature is not the committer's (both with valid membership tags).
func TestProcessCommitRejectsBadSignatures(t *testing.T) {
	f := newBenchFixture(t, 5)
	c := &f.steady
	other, err := GenerateSignatureKey()
	mustNoErr(t, err)
	ctx := c.committer.contextOf(&c.committer.st)
	committerKey := f.members[0].bundle.sigKey
	tests := []struct {
		name   string
		tamper func(pm *PublicMessage)
	}{
		{"content signed by another key", func(pm *PublicMessage) { mustNoErr(t, pm.sign(other, ctx)) }},
		{"path leaf signed by another key", func(pm *PublicMessage) {
			ln := &pm.Content.Commit.Path.LeafNode
			mustNoErr(t, ln.sign(other, f.groupID, 0))
			mustNoErr(t, pm.sign(committerKey, ctx))
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := ParseMLSMessage(c.removeCommit)
			mustNoErr(t, err)
			tc.tamper(m.Public)
			m.Public.MembershipTag = m.Public.membershipTag(c.committer.st.secrets.membershipKey, ctx)
			g := *c.receiver
			if _, err := g.ProcessCommit(m.Marshal()); !errors.Is(err, ErrInvalidSignature) {
				t.Fatalf("err = %v, want %v", err, ErrInvalidSignature)
			}
			if g.Epoch() != c.receiver.Epoch() {
				t.Fatal("epoch advanced")
			}
		})
	}
	// Untampered, it is accepted.
	g := *c.receiver
	_, err = g.ProcessCommit(c.removeCommit)
	mustNoErr(t, err)
}
