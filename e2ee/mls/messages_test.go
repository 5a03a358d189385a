package mls

import (
	"testing"
)

type messagesVector struct {
	MLSWelcome        hexBytes `json:"mls_welcome"`
	MLSGroupInfo      hexBytes `json:"mls_group_info"`
	MLSKeyPackage     hexBytes `json:"mls_key_package"`
	RatchetTree       hexBytes `json:"ratchet_tree"`
	GroupSecrets      hexBytes `json:"group_secrets"`
	AddProposal       hexBytes `json:"add_proposal"`
	UpdateProposal    hexBytes `json:"update_proposal"`
	RemoveProposal    hexBytes `json:"remove_proposal"`
	PSKProposal       hexBytes `json:"pre_shared_key_proposal"`
	ReInitProposal    hexBytes `json:"re_init_proposal"`
	ExternalInit      hexBytes `json:"external_init_proposal"`
	GCEProposal       hexBytes `json:"group_context_extensions_proposal"`
	Commit            hexBytes `json:"commit"`
	PublicApplication hexBytes `json:"public_message_application"`
	PublicProposal    hexBytes `json:"public_message_proposal"`
	PublicCommit      hexBytes `json:"public_message_commit"`
	PrivateMessage    hexBytes `json:"private_message"`
}

// roundTrip decodes b with dec (into a fresh value) and re-encodes it.
func roundTrip(t *testing.T, name string, b []byte, dec func(r *reader) func(w *writer)) {
	t.Helper()
	r := newReader(b)
	enc := dec(r)
	if err := r.finish(); err != nil {
		t.Fatalf("%s: decode: %v", name, err)
	}
	var w writer
	enc(&w)
	eq(t, name+" re-encode", w.b, b)
}

func TestMessagesVectors(t *testing.T) {
	var cases []messagesVector
	loadVectors(t, "messages.json", &cases)
	for i, c := range cases {
		mlsMsg := func(r *reader) func(w *writer) {
			m := new(MLSMessage)
			m.unmarshal(r)
			return m.marshal
		}
		roundTrip(t, "mls_welcome", c.MLSWelcome, mlsMsg)
		roundTrip(t, "mls_group_info", c.MLSGroupInfo, mlsMsg)
		roundTrip(t, "mls_key_package", c.MLSKeyPackage, mlsMsg)
		roundTrip(t, "public_message_application", c.PublicApplication, mlsMsg)
		roundTrip(t, "public_message_proposal", c.PublicProposal, mlsMsg)
		roundTrip(t, "public_message_commit", c.PublicCommit, mlsMsg)
		roundTrip(t, "private_message", c.PrivateMessage, mlsMsg)
		roundTrip(t, "ratchet_tree", c.RatchetTree, func(r *reader) func(w *writer) {
			tr, err := parseRatchetTree(r.b)
			if err != nil {
				r.fail(err)
				return func(*writer) {}
			}
			r.b = nil
			return tr.marshal
		})
		roundTrip(t, "group_secrets", c.GroupSecrets, func(r *reader) func(w *writer) {
			g := new(groupSecrets)
			g.unmarshal(r)
			return g.marshal
		})
		proposal := func(typ ProposalType) func(r *reader) func(w *writer) {
			return func(r *reader) func(w *writer) {
				// Vectors hold the proposal body without its type.
				var w writer
				w.u16(uint16(typ))
				w.raw(r.b)
				r.b = nil
				p, err := ParseProposal(w.b)
				if err != nil {
					r.fail(err)
					return func(*writer) {}
				}
				return func(w *writer) { w.raw(p.Marshal()[2:]) }
			}
		}
		roundTrip(t, "add", c.AddProposal, proposal(ProposalAdd))
		roundTrip(t, "update", c.UpdateProposal, proposal(ProposalUpdate))
		roundTrip(t, "remove", c.RemoveProposal, proposal(ProposalRemove))
		roundTrip(t, "psk", c.PSKProposal, proposal(ProposalPSK))
		roundTrip(t, "reinit", c.ReInitProposal, proposal(ProposalReInit))
		roundTrip(t, "external_init", c.ExternalInit, proposal(ProposalExternalInit))
		roundTrip(t, "gce", c.GCEProposal, proposal(ProposalGroupContextExtensions))
		roundTrip(t, "commit", c.Commit, func(r *reader) func(w *writer) {
			cm := new(Commit)
			cm.unmarshal(r)
			return cm.marshal
		})
		if t.Failed() {
			t.Fatalf("case %d", i)
		}
	}
}
