package mls

import (
	"fmt"
	"testing"
)

// benchSetup builds an n-member group efficiently: the creator adds n-1
// members in one commit (inline Adds), and only member 1 joins from the
// Welcome; the other members exist as leaves. It then caches one external
// Add of a fresh key package in both groups.
type benchSetup struct {
	creator, receiver *Group
	ref               ProposalRef
	view              *ServerGroupView
	welcome           []byte
	joiner            *KeyPackageBundle
}

func newBenchSetup(b *testing.B, n int) *benchSetup {
	b.Helper()
	gid := userID(uint64(n))
	key, err := GenerateSignatureKey()
	mustNoErr(b, err)
	es := NewExternalSender(key, userID(0))
	members := make([]*testMember, n)
	for i := range members {
		members[i] = newTestMember(b, uint64(i+1))
	}
	creator, err := NewGroup(gid, members[0].bundle, []Extension{es.Extension()})
	mustNoErr(b, err)
	var adds []Proposal
	for _, m := range members[1:] {
		adds = append(adds, AddProposal(m.bundle.KeyPackage))
	}
	_, welcome, err := creator.CreateCommit(nil, adds)
	mustNoErr(b, err)
	mustNoErr(b, creator.MergePendingCommit())
	receiver, err := JoinFromWelcome(welcome, members[1].bundle)
	mustNoErr(b, err)

	view := NewServerGroupView(gid, es)
	view.epoch, view.established = creator.Epoch(), true
	for _, m := range creator.Members() {
		ln := *creator.st.tree.leaf(m.LeafIndex)
		view.leaves = append(view.leaves, &ln)
	}
	newcomer := newTestMember(b, uint64(n+1))
	msg, ref, err := view.ProposeAdd(newcomer.kpBytes())
	mustNoErr(b, err)
	for _, g := range []*Group{creator, receiver} {
		_, _, err := g.ProcessProposal(msg)
		mustNoErr(b, err)
	}
	return &benchSetup{creator: creator, receiver: receiver, ref: ref, view: view, welcome: welcome, joiner: members[n-1].bundle}
}

var benchSizes = []int{25, 100, 500}

// BenchmarkCommitCreate measures CreateCommit (one external Add by
// reference, full UpdatePath, Welcome) right after a mass Add, the worst
// case: every copath resolution is made of single leaves.
func BenchmarkCommitCreate(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) {
			s := newBenchSetup(b, n)
			b.ResetTimer()
			for b.Loop() {
				if _, _, err := s.creator.CreateCommit([]ProposalRef{s.ref}, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCommitProcess measures ProcessCommit of such a commit by another
// member.
func BenchmarkCommitProcess(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) {
			s := newBenchSetup(b, n)
			commit, _, err := s.creator.CreateCommit([]ProposalRef{s.ref}, nil)
			mustNoErr(b, err)
			b.ResetTimer()
			for b.Loop() {
				g := *s.receiver
				if _, err := g.ProcessCommit(commit); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkServerCheckCommit measures the gateway's structural validation
// and Welcome split.
func BenchmarkServerCheckCommit(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) {
			s := newBenchSetup(b, n)
			commit, welcome, err := s.creator.CreateCommit([]ProposalRef{s.ref}, nil)
			mustNoErr(b, err)
			data := append(commit, welcome...)
			b.ResetTimer()
			for b.Loop() {
				if _, err := s.view.CheckCommit(data, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkJoinFromWelcome measures joining an n-member group (tree
// verification dominates).
func BenchmarkJoinFromWelcome(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) {
			s := newBenchSetup(b, n)
			b.ResetTimer()
			for b.Loop() {
				if _, err := JoinFromWelcome(s.welcome, s.joiner); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
