package mls

import "testing"

func TestKeyScheduleVectors(t *testing.T) {
	var cases []struct {
		CipherSuite       uint16   `json:"cipher_suite"`
		GroupID           hexBytes `json:"group_id"`
		InitialInitSecret hexBytes `json:"initial_init_secret"`
		Epochs            []struct {
			TreeHash                hexBytes `json:"tree_hash"`
			CommitSecret            hexBytes `json:"commit_secret"`
			PSKSecret               hexBytes `json:"psk_secret"`
			ConfirmedTranscriptHash hexBytes `json:"confirmed_transcript_hash"`
			GroupContext            hexBytes `json:"group_context"`
			JoinerSecret            hexBytes `json:"joiner_secret"`
			WelcomeSecret           hexBytes `json:"welcome_secret"`
			InitSecret              hexBytes `json:"init_secret"`
			SenderDataSecret        hexBytes `json:"sender_data_secret"`
			EncryptionSecret        hexBytes `json:"encryption_secret"`
			ExporterSecret          hexBytes `json:"exporter_secret"`
			EpochAuthenticator      hexBytes `json:"epoch_authenticator"`
			ExternalSecret          hexBytes `json:"external_secret"`
			ConfirmationKey         hexBytes `json:"confirmation_key"`
			MembershipKey           hexBytes `json:"membership_key"`
			ResumptionPSK           hexBytes `json:"resumption_psk"`
			ExternalPub             hexBytes `json:"external_pub"`
			Exporter                struct {
				Label   string   `json:"label"` // used as text, not hex-decoded
				Context hexBytes `json:"context"`
				Length  int      `json:"length"`
				Secret  hexBytes `json:"secret"`
			} `json:"exporter"`
		} `json:"epochs"`
	}
	loadVectors(t, "key-schedule.json", &cases)
	for _, c := range cases {
		initSecret := []byte(c.InitialInitSecret)
		for i, e := range c.Epochs {
			gc := GroupContext{Version: 1, CipherSuite: CipherSuite, GroupID: c.GroupID, Epoch: uint64(i), TreeHash: e.TreeHash, ConfirmedTranscriptHash: e.ConfirmedTranscriptHash}
			ctx := gc.Marshal()
			eq(t, "group_context", ctx, e.GroupContext)
			joiner := deriveJoiner(initSecret, e.CommitSecret, ctx)
			eq(t, "joiner", joiner, e.JoinerSecret)
			s := deriveEpoch(joiner, e.PSKSecret, ctx)
			eq(t, "welcome", s.welcomeSecret, e.WelcomeSecret)
			eq(t, "init", s.initSecret, e.InitSecret)
			eq(t, "sender_data", s.senderDataSecret, e.SenderDataSecret)
			eq(t, "encryption", s.encryptionSecret, e.EncryptionSecret)
			eq(t, "exporter", s.exporterSecret, e.ExporterSecret)
			eq(t, "epoch_authenticator", s.epochAuthenticator, e.EpochAuthenticator)
			eq(t, "external", s.externalSecret, e.ExternalSecret)
			eq(t, "confirmation_key", s.confirmationKey, e.ConfirmationKey)
			eq(t, "membership_key", s.membershipKey, e.MembershipKey)
			eq(t, "resumption_psk", s.resumptionPSK, e.ResumptionPSK)
			ext, err := deriveHPKEKey(s.externalSecret)
			mustNoErr(t, err)
			eq(t, "external_pub", ext.pub, e.ExternalPub)
			x := e.Exporter
			eq(t, "exported", exporter(s.exporterSecret, string(x.Label), x.Context, x.Length), x.Secret)
			initSecret = s.initSecret
		}
	}
}

func TestTranscriptHashVectors(t *testing.T) {
	var cases []struct {
		CipherSuite          uint16   `json:"cipher_suite"`
		ConfirmationKey      hexBytes `json:"confirmation_key"`
		AuthenticatedContent hexBytes `json:"authenticated_content"`
		InterimBefore        hexBytes `json:"interim_transcript_hash_before"`
		ConfirmedAfter       hexBytes `json:"confirmed_transcript_hash_after"`
		InterimAfter         hexBytes `json:"interim_transcript_hash_after"`
	}
	loadVectors(t, "transcript-hashes.json", &cases)
	for _, c := range cases {
		// AuthenticatedContent = wire_format || FramedContent || auth data.
		r := newReader(c.AuthenticatedContent)
		if wf := WireFormat(r.u16()); wf != WireFormatPublicMessage {
			t.Fatalf("wire format %d", wf)
		}
		var m PublicMessage
		m.Content.unmarshal(r)
		m.Signature = r.bytes()
		m.ConfirmationTag = r.bytes()
		mustNoErr(t, r.finish())
		confirmed := confirmedTranscriptHash(c.InterimBefore, &m)
		eq(t, "confirmed", confirmed, c.ConfirmedAfter)
		eq(t, "confirmation_tag", mac(c.ConfirmationKey, confirmed), m.ConfirmationTag)
		eq(t, "interim", interimTranscriptHash(confirmed, m.ConfirmationTag), c.InterimAfter)
	}
}

func TestPSKSecretVectors(t *testing.T) {
	var cases []struct {
		CipherSuite uint16 `json:"cipher_suite"`
		PSKs        []struct {
			ID    hexBytes `json:"psk_id"`
			PSK   hexBytes `json:"psk"`
			Nonce hexBytes `json:"psk_nonce"`
		} `json:"psks"`
		PSKSecret hexBytes `json:"psk_secret"`
	}
	loadVectors(t, "psk_secret.json", &cases)
	for _, c := range cases {
		store := ExternalPSKs{}
		var ids []PreSharedKeyID
		for _, p := range c.PSKs {
			store[string(p.ID)] = p.PSK
			ids = append(ids, PreSharedKeyID{Type: PSKExternal, ID: p.ID, PSKNonce: p.Nonce})
		}
		got, err := computePSKSecret(ids, store)
		mustNoErr(t, err)
		if got == nil {
			got = make([]byte, hashLen)
		}
		eq(t, "psk_secret", got, c.PSKSecret)
	}
}

func TestSecretTreeVectors(t *testing.T) {
	var cases []struct {
		CipherSuite      uint16   `json:"cipher_suite"`
		EncryptionSecret hexBytes `json:"encryption_secret"`
		SenderData       struct {
			Secret     hexBytes `json:"sender_data_secret"`
			Ciphertext hexBytes `json:"ciphertext"`
			Key        hexBytes `json:"key"`
			Nonce      hexBytes `json:"nonce"`
		} `json:"sender_data"`
		Leaves [][]struct {
			Generation       uint32   `json:"generation"`
			ApplicationKey   hexBytes `json:"application_key"`
			ApplicationNonce hexBytes `json:"application_nonce"`
			HandshakeKey     hexBytes `json:"handshake_key"`
			HandshakeNonce   hexBytes `json:"handshake_nonce"`
		} `json:"leaves"`
	}
	loadVectors(t, "secret-tree.json", &cases)
	for _, c := range cases {
		k, n := senderDataKey(c.SenderData.Secret, c.SenderData.Ciphertext)
		eq(t, "sender data key", k, c.SenderData.Key)
		eq(t, "sender data nonce", n, c.SenderData.Nonce)
		leaves := uint32(1)
		for leaves < uint32(len(c.Leaves)) {
			leaves *= 2
		}
		for i, gens := range c.Leaves {
			ls := leafSecret(c.EncryptionSecret, uint32(i), leaves)
			for _, g := range gens {
				k, n := ratchetKey(ls, "application", g.Generation)
				eq(t, "application key", k, g.ApplicationKey)
				eq(t, "application nonce", n, g.ApplicationNonce)
				k, n = ratchetKey(ls, "handshake", g.Generation)
				eq(t, "handshake key", k, g.HandshakeKey)
				eq(t, "handshake nonce", n, g.HandshakeNonce)
			}
		}
	}
}
