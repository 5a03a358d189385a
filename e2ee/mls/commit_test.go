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
