package mls

import "testing"

func TestMessageProtectionVectors(t *testing.T) {
	var cases []struct {
		CipherSuite             uint16   `json:"cipher_suite"`
		GroupID                 hexBytes `json:"group_id"`
		Epoch                   uint64   `json:"epoch"`
		TreeHash                hexBytes `json:"tree_hash"`
		ConfirmedTranscriptHash hexBytes `json:"confirmed_transcript_hash"`
		SignaturePub            hexBytes `json:"signature_pub"`
		EncryptionSecret        hexBytes `json:"encryption_secret"`
		SenderDataSecret        hexBytes `json:"sender_data_secret"`
		MembershipKey           hexBytes `json:"membership_key"`
		Proposal                hexBytes `json:"proposal"`
		ProposalPriv            hexBytes `json:"proposal_priv"`
		ProposalPub             hexBytes `json:"proposal_pub"`
		Commit                  hexBytes `json:"commit"`
		CommitPriv              hexBytes `json:"commit_priv"`
		CommitPub               hexBytes `json:"commit_pub"`
		Application             hexBytes `json:"application"`
		ApplicationPriv         hexBytes `json:"application_priv"`
	}
	loadVectors(t, "message-protection.json", &cases)
	for _, c := range cases {
		gc := GroupContext{Version: 1, CipherSuite: CipherSuite, GroupID: c.GroupID, Epoch: c.Epoch, TreeHash: c.TreeHash, ConfirmedTranscriptHash: c.ConfirmedTranscriptHash}
		ctx := gc.Marshal()
		body := func(pm *PublicMessage) []byte {
			var w writer
			switch pm.Content.ContentType {
			case ContentProposal:
				pm.Content.Proposal.marshal(&w)
			case ContentCommit:
				pm.Content.Commit.marshal(&w)
			case ContentApplication:
				w.raw(pm.Content.ApplicationData)
			}
			return w.b
		}
		for _, pub := range []struct {
			msg, want []byte
		}{{c.ProposalPub, c.Proposal}, {c.CommitPub, c.Commit}} {
			m, err := ParseMLSMessage(pub.msg)
			mustNoErr(t, err)
			pm := m.Public
			eq(t, "membership tag", pm.membershipTag(c.MembershipKey, ctx), pm.MembershipTag)
			mustNoErr(t, pm.verify(c.SignaturePub, ctx))
			eq(t, "public content", body(pm), pub.want)
		}
		for _, priv := range []struct {
			msg, want []byte
		}{{c.ProposalPriv, c.Proposal}, {c.CommitPriv, c.Commit}, {c.ApplicationPriv, c.Application}} {
			m, err := ParseMLSMessage(priv.msg)
			mustNoErr(t, err)
			pm, err := unprotectPrivate(m.Private, c.SenderDataSecret, c.EncryptionSecret, 2)
			mustNoErr(t, err)
			mustNoErr(t, verifyWithLabel(c.SignaturePub, "FramedContentTBS", pm.Signature, pm.Content.tbs(WireFormatPrivateMessage, ctx)))
			eq(t, "private content", body(pm), priv.want)
		}
	}
}
