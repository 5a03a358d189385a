package mls

import (
	"errors"
	"testing"
)

func TestServerGroupViewRejects(t *testing.T) {
	gid := userID(77)
	gkey, err := GenerateSignatureKey()
	mustNoErr(t, err)
	es := NewExternalSender(gkey, userID(0))
	view := NewServerGroupView(gid, es)
	a, b, c := newTestMember(t, 1), newTestMember(t, 2), newTestMember(t, 3)
	a.group, err = NewGroup(gid, a.bundle, []Extension{es.Extension()})
	mustNoErr(t, err)
	_, _, err = view.ProposeAdd(a.kpBytes())
	mustNoErr(t, err)
	addB, refB, err := view.ProposeAdd(b.kpBytes())
	mustNoErr(t, err)
	_, _, err = a.group.ProcessProposal(addB)
	mustNoErr(t, err)
	if _, _, err := view.ProposeRemove(0); !errors.Is(err, ErrUnknownMember) {
		t.Fatalf("remove before establishment: %v", err)
	}

	good, welcome, err := a.group.CreateCommit([]ProposalRef{refB}, nil)
	mustNoErr(t, err)
	inline, inlineWelcome, err := a.group.CreateCommit(nil, []Proposal{AddProposal(b.bundle.KeyPackage)})
	mustNoErr(t, err)
	empty, _, err := a.group.CreateCommit(nil, nil)
	mustNoErr(t, err)
	wlC := func() []byte {
		// A welcome for c instead of b.
		g, err := NewGroup(gid, c.bundle, nil)
		mustNoErr(t, err)
		_, w, err := g.CreateCommit(nil, []Proposal{AddProposal(newTestMember(t, 9).bundle.KeyPackage)})
		mustNoErr(t, err)
		return w
	}()
	cat := func(parts ...[]byte) []byte {
		var out []byte
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	tests := []struct {
		name    string
		data    []byte
		creator *KeyPackage
	}{
		{"no creator before establishment", cat(good, welcome), nil},
		{"wrong creator", cat(good, welcome), b.bundle.KeyPackage},
		{"missing welcome", good, a.bundle.KeyPackage},
		{"foreign welcome", cat(good, wlC), a.bundle.KeyPackage},
		{"trailing garbage", cat(good, welcome, []byte{0}), a.bundle.KeyPackage},
		{"inline proposal", cat(inline, inlineWelcome), a.bundle.KeyPackage},
		{"empty commit", empty, a.bundle.KeyPackage},
		{"truncated", good[:len(good)-3], a.bundle.KeyPackage},
		{"not a commit", addB, a.bundle.KeyPackage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := view.CheckCommit(tt.data, tt.creator); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	cc, err := view.CheckCommit(cat(good, welcome), a.bundle.KeyPackage)
	mustNoErr(t, err)
	mustNoErr(t, view.ApplyCommit(cc))
	if err := view.ApplyCommit(cc); !errors.Is(err, ErrWrongEpoch) {
		t.Fatalf("double apply: %v", err)
	}
	if _, err := view.CheckCommit(cat(good, welcome), nil); !errors.Is(err, ErrWrongEpoch) {
		t.Fatalf("replayed commit: %v", err)
	}
	// Revoked proposals are no longer expected.
	_, ref, err := view.ProposeRemove(1)
	mustNoErr(t, err)
	if len(view.Proposals()) != 1 || !view.Revoke(ref) || len(view.Proposals()) != 0 {
		t.Fatal("revoke")
	}
	view.Reset()
	if view.Established() || view.Epoch() != 0 || len(view.Members()) != 0 {
		t.Fatal("reset")
	}
}
