package mls

import (
	"bytes"
	"testing"
)

// Fuzz targets for every parser. Seeds come from the interop vectors (and
// from messages this package builds); malformed input must produce an
// error, never a panic, and accepted input must re-encode to itself.

var messagesCache []messagesVector

func messageSeeds(f *testing.F, pick func(v *messagesVector) []byte, limit int) {
	if messagesCache == nil {
		loadVectors(f, "messages.json", &messagesCache)
	}
	cases := messagesCache
	for i := range cases {
		if i >= limit {
			break
		}
		if b := pick(&cases[i]); b != nil {
			f.Add([]byte(b))
		}
	}
}

func FuzzMLSMessage(f *testing.F) {
	messageSeeds(f, func(v *messagesVector) []byte { return v.PublicCommit }, 5)
	messageSeeds(f, func(v *messagesVector) []byte { return v.PublicProposal }, 5)
	messageSeeds(f, func(v *messagesVector) []byte { return v.MLSWelcome }, 3)
	messageSeeds(f, func(v *messagesVector) []byte { return v.MLSGroupInfo }, 3)
	messageSeeds(f, func(v *messagesVector) []byte { return v.PrivateMessage }, 3)
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseMLSMessage(b)
		if err != nil {
			return
		}
		if out := m.Marshal(); !bytes.Equal(out, b) {
			t.Fatalf("re-encode differs:\n in %x\nout %x", b, out)
		}
		if m.WireFormat == WireFormatPublicMessage && m.Public.Content.ContentType == ContentProposal {
			if _, err := ProposalRefOf(b); err != nil {
				t.Fatal(err)
			}
		}
	})
}

func FuzzKeyPackage(f *testing.F) {
	messageSeeds(f, func(v *messagesVector) []byte { return v.MLSKeyPackage }, 5)
	messageSeeds(f, func(v *messagesVector) []byte { return v.AddProposal }, 5)
	f.Fuzz(func(t *testing.T, b []byte) {
		kp, err := ParseKeyPackage(b)
		if err != nil {
			return
		}
		_ = kp.Verify()
		_ = kp.CheckDAVELifetime()
		_ = kp.Ref()
		out := kp.Marshal()
		if !bytes.HasSuffix(b, out) {
			t.Fatalf("re-encode differs:\n in %x\nout %x", b, out)
		}
	})
}

func FuzzProposal(f *testing.F) {
	add := func(typ ProposalType, pick func(v *messagesVector) []byte) {
		messageSeeds(f, func(v *messagesVector) []byte {
			return append([]byte{byte(typ >> 8), byte(typ)}, pick(v)...)
		}, 2)
	}
	add(ProposalAdd, func(v *messagesVector) []byte { return v.AddProposal })
	add(ProposalUpdate, func(v *messagesVector) []byte { return v.UpdateProposal })
	add(ProposalRemove, func(v *messagesVector) []byte { return v.RemoveProposal })
	add(ProposalPSK, func(v *messagesVector) []byte { return v.PSKProposal })
	add(ProposalReInit, func(v *messagesVector) []byte { return v.ReInitProposal })
	add(ProposalExternalInit, func(v *messagesVector) []byte { return v.ExternalInit })
	add(ProposalGroupContextExtensions, func(v *messagesVector) []byte { return v.GCEProposal })
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParseProposal(b)
		if err != nil {
			return
		}
		if out := p.Marshal(); !bytes.Equal(out, b) {
			t.Fatalf("re-encode differs:\n in %x\nout %x", b, out)
		}
	})
}

func FuzzCommit(f *testing.F) {
	messageSeeds(f, func(v *messagesVector) []byte { return v.Commit }, 10)
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseCommit(b)
		if err != nil {
			return
		}
		if out := c.Marshal(); !bytes.Equal(out, b) {
			t.Fatalf("re-encode differs:\n in %x\nout %x", b, out)
		}
	})
}

func FuzzWelcome(f *testing.F) {
	messageSeeds(f, func(v *messagesVector) []byte { return v.MLSWelcome }, 5)
	f.Fuzz(func(t *testing.T, b []byte) {
		wl, err := ParseWelcome(b)
		if err != nil {
			return
		}
		out := wl.Marshal()
		if !bytes.HasSuffix(b, out) {
			t.Fatalf("re-encode differs:\n in %x\nout %x", b, out)
		}
		for _, s := range wl.Secrets {
			one, err := wl.ForMember(s.NewMember)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := ParseWelcome(one); err != nil {
				t.Fatal(err)
			}
		}
	})
}

func FuzzRatchetTree(f *testing.F) {
	messageSeeds(f, func(v *messagesVector) []byte { return v.RatchetTree }, 5)
	f.Fuzz(func(t *testing.T, b []byte) {
		tr, err := parseRatchetTree(b)
		if err != nil {
			return
		}
		// Verify against the tree's own hash so parent hashes, unmerged
		// leaves and leaf checks run too.
		_ = tr.verify(nil, tr.treeHash())
		if out := tr.Marshal(); !bytes.Equal(out, b) {
			t.Fatalf("re-encode differs:\n in %x\nout %x", b, out)
		}
	})
}

func FuzzExternalSender(f *testing.F) {
	key, err := GenerateSignatureKey()
	if err != nil {
		f.Fatal(err)
	}
	e := NewExternalSender(key, userID(1)).Entry()
	f.Add(e.Marshal())
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := ParseExternalSenderEntry(b)
		if err != nil {
			return
		}
		if out := e.Marshal(); !bytes.Equal(out, b) {
			t.Fatalf("re-encode differs:\n in %x\nout %x", b, out)
		}
	})
}

// FuzzServerCheckCommit feeds op 28 payloads to the gateway's validator and
// arbitrary messages to a participant.
func FuzzServerCheckCommit(f *testing.F) {
	gid := userID(42)
	key, err := GenerateSignatureKey()
	if err != nil {
		f.Fatal(err)
	}
	es := NewExternalSender(key, userID(0))
	a, b := newTestMember(f, 1), newTestMember(f, 2)
	a.group, err = NewGroup(gid, a.bundle, []Extension{es.Extension()})
	if err != nil {
		f.Fatal(err)
	}
	b.group, err = NewGroup(gid, b.bundle, []Extension{es.Extension()})
	if err != nil {
		f.Fatal(err)
	}
	view := NewServerGroupView(gid, es)
	if _, _, err := view.ProposeAdd(a.kpBytes()); err != nil {
		f.Fatal(err)
	}
	msg, ref, err := view.ProposeAdd(b.kpBytes())
	if err != nil {
		f.Fatal(err)
	}
	if _, _, err := a.group.ProcessProposal(msg); err != nil {
		f.Fatal(err)
	}
	commit, welcome, err := a.group.CreateCommit([]ProposalRef{ref}, nil)
	if err != nil {
		f.Fatal(err)
	}
	if _, err := view.CheckCommit(append(commit, welcome...), a.bundle.KeyPackage); err != nil {
		f.Fatal(err)
	}
	f.Add(append(commit, welcome...))
	f.Add(msg)
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = view.CheckCommit(data, a.bundle.KeyPackage)
		_, _, _ = b.group.ProcessProposal(data)
		g := *a.group
		_, _ = g.ProcessCommit(data)
		_, _ = JoinFromWelcome(data, b.bundle)
	})
}
