package mls

import (
	"testing"
)

func TestWelcomeVectors(t *testing.T) {
	var cases []struct {
		CipherSuite uint16   `json:"cipher_suite"`
		InitPriv    hexBytes `json:"init_priv"`
		SignerPub   hexBytes `json:"signer_pub"`
		KeyPackage  hexBytes `json:"key_package"`
		Welcome     hexBytes `json:"welcome"`
	}
	loadVectors(t, "welcome.json", &cases)
	for _, c := range cases {
		kp, err := ParseKeyPackage(c.KeyPackage)
		mustNoErr(t, err)
		mustNoErr(t, kp.Verify())
		ik, err := parseHPKEPrivate(c.InitPriv)
		mustNoErr(t, err)
		wl, err := ParseWelcome(c.Welcome)
		mustNoErr(t, err)
		gs, gi, psk, err := decryptWelcome(wl, &KeyPackageBundle{KeyPackage: kp, initKey: ik}, nil)
		mustNoErr(t, err)
		mustNoErr(t, gi.verify(c.SignerPub))
		s := deriveEpoch(gs.JoinerSecret, psk, gi.GroupContext.Marshal())
		eq(t, "confirmation tag", mac(s.confirmationKey, gi.GroupContext.ConfirmedTranscriptHash), gi.ConfirmationTag)
	}
}

type passiveClientVector struct {
	CipherSuite  uint16 `json:"cipher_suite"`
	ExternalPSKs []struct {
		ID  hexBytes `json:"psk_id"`
		PSK hexBytes `json:"psk"`
	} `json:"external_psks"`
	KeyPackage          hexBytes `json:"key_package"`
	SignaturePriv       hexBytes `json:"signature_priv"`
	EncryptionPriv      hexBytes `json:"encryption_priv"`
	InitPriv            hexBytes `json:"init_priv"`
	Welcome             hexBytes `json:"welcome"`
	RatchetTree         hexBytes `json:"ratchet_tree"`
	InitialAuthenticate hexBytes `json:"initial_epoch_authenticator"`
	Epochs              []struct {
		Proposals          []hexBytes `json:"proposals"`
		Commit             hexBytes   `json:"commit"`
		EpochAuthenticator hexBytes   `json:"epoch_authenticator"`
	} `json:"epochs"`
}

func runPassiveClient(t *testing.T, file string) {
	var cases []passiveClientVector
	loadVectors(t, file, &cases)
	for i, c := range cases {
		kp, err := ParseKeyPackage(c.KeyPackage)
		mustNoErr(t, err)
		sig, err := ParseSignatureKey(c.SignaturePriv)
		mustNoErr(t, err)
		bundle, err := NewKeyPackageBundle(kp, c.InitPriv, c.EncryptionPriv, sig)
		mustNoErr(t, err)
		psks := ExternalPSKs{}
		for _, p := range c.ExternalPSKs {
			psks[string(p.ID)] = p.PSK
		}
		opts := []Option{WithPSKs(psks)}
		if c.RatchetTree != nil {
			opts = append(opts, WithRatchetTree(c.RatchetTree))
		}
		g, err := JoinFromWelcome(c.Welcome, bundle, opts...)
		if err != nil {
			t.Fatalf("%s case %d: join: %v", file, i, err)
		}
		eq(t, "initial epoch authenticator", g.EpochAuthenticator(), c.InitialAuthenticate)
		for e, ep := range c.Epochs {
			for _, p := range ep.Proposals {
				if _, _, err := g.ProcessProposal(p); err != nil {
					t.Fatalf("%s case %d epoch %d: proposal: %v", file, i, e, err)
				}
			}
			if _, err := g.ProcessCommit(ep.Commit); err != nil {
				t.Fatalf("%s case %d epoch %d: commit: %v", file, i, e, err)
			}
			eq(t, "epoch authenticator", g.EpochAuthenticator(), ep.EpochAuthenticator)
		}
	}
}

func TestPassiveClientWelcomeVectors(t *testing.T) {
	runPassiveClient(t, "passive-client-welcome.json")
}

func TestPassiveClientHandlingCommitVectors(t *testing.T) {
	runPassiveClient(t, "passive-client-handling-commit.json")
}
