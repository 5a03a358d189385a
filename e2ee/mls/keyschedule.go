package mls

import "fmt"

// GroupContext summarises a group's state in an epoch (RFC 9420 §8.1).
type GroupContext struct {
	Version                 uint16
	CipherSuite             uint16
	GroupID                 []byte
	Epoch                   uint64
	TreeHash                []byte
	ConfirmedTranscriptHash []byte
	Extensions              []Extension
}

func (c *GroupContext) marshal(w *writer) {
	w.u16(c.Version)
	w.u16(c.CipherSuite)
	w.bytes(c.GroupID)
	w.u64(c.Epoch)
	w.bytes(c.TreeHash)
	w.bytes(c.ConfirmedTranscriptHash)
	marshalExtensions(w, c.Extensions)
}

func (c *GroupContext) unmarshal(r *reader) {
	c.Version = r.u16()
	c.CipherSuite = r.u16()
	c.GroupID = r.bytes()
	c.Epoch = r.u64()
	c.TreeHash = r.bytes()
	c.ConfirmedTranscriptHash = r.bytes()
	c.Extensions = unmarshalExtensions(r)
}

// Marshal returns the GroupContext encoding.
func (c *GroupContext) Marshal() []byte {
	var w writer
	c.marshal(&w)
	return w.b
}

// epochSecrets are the secrets derived for one epoch (RFC 9420 §8).
type epochSecrets struct {
	joinerSecret       []byte
	welcomeSecret      []byte
	senderDataSecret   []byte
	encryptionSecret   []byte
	exporterSecret     []byte
	externalSecret     []byte
	confirmationKey    []byte
	membershipKey      []byte
	resumptionPSK      []byte
	epochAuthenticator []byte
	initSecret         []byte // init_secret for the next epoch
}

// deriveJoiner computes joiner_secret from the previous init_secret and the
// commit secret (nil = all zero) over the new GroupContext.
func deriveJoiner(initSecret, commitSecret, groupContext []byte) []byte {
	if commitSecret == nil {
		commitSecret = make([]byte, hashLen)
	}
	return expandWithLabel(extract(initSecret, commitSecret), "joiner", groupContext, hashLen)
}

// deriveEpoch computes the epoch secrets from joiner_secret and psk_secret
// (nil = all zero) over the new GroupContext.
func deriveEpoch(joinerSecret, pskSecret, groupContext []byte) *epochSecrets {
	if pskSecret == nil {
		pskSecret = make([]byte, hashLen)
	}
	member := extract(joinerSecret, pskSecret)
	epoch := expandWithLabel(member, "epoch", groupContext, hashLen)
	return &epochSecrets{
		joinerSecret:       joinerSecret,
		welcomeSecret:      deriveSecret(member, "welcome"),
		senderDataSecret:   deriveSecret(epoch, "sender data"),
		encryptionSecret:   deriveSecret(epoch, "encryption"),
		exporterSecret:     deriveSecret(epoch, "exporter"),
		externalSecret:     deriveSecret(epoch, "external"),
		confirmationKey:    deriveSecret(epoch, "confirm"),
		membershipKey:      deriveSecret(epoch, "membership"),
		resumptionPSK:      deriveSecret(epoch, "resumption"),
		epochAuthenticator: deriveSecret(epoch, "authentication"),
		initSecret:         deriveSecret(epoch, "init"),
	}
}

// exporter is MLS-Exporter (RFC 9420 §8.5).
func exporter(exporterSecret []byte, label string, context []byte, length int) []byte {
	return expandWithLabel(deriveSecret(exporterSecret, label), "exported", hash(context), length)
}

// PSKStore resolves pre-shared keys by ID (RFC 9420 §8.4). Resumption PSKs
// of the group's own past epochs are resolved by the Group itself.
type PSKStore interface {
	PSK(id *PreSharedKeyID) ([]byte, bool)
}

// ExternalPSKs is a PSKStore of external PSKs keyed by psk_id.
type ExternalPSKs map[string][]byte

// PSK implements PSKStore.
func (m ExternalPSKs) PSK(id *PreSharedKeyID) ([]byte, bool) {
	if id.Type != PSKExternal || m == nil {
		return nil, false
	}
	v, ok := m[string(id.ID)]
	return v, ok
}

// computePSKSecret derives psk_secret from a list of PSK IDs (RFC 9420
// §8.4). An empty list yields nil (all zero).
func computePSKSecret(ids []PreSharedKeyID, store PSKStore) ([]byte, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	secret := make([]byte, hashLen)
	for i := range ids {
		if store == nil {
			return nil, fmt.Errorf("%w: psk %x not available", ErrInvalidProposal, ids[i].ID)
		}
		psk, ok := store.PSK(&ids[i])
		if !ok {
			return nil, fmt.Errorf("%w: psk %x (type %d, epoch %d) not available", ErrInvalidProposal, ids[i].ID, ids[i].Type, ids[i].Epoch)
		}
		secret = pskStep(secret, &ids[i], psk, i, len(ids))
	}
	return secret, nil
}

func pskStep(secret []byte, id *PreSharedKeyID, psk []byte, index, count int) []byte {
	var w writer
	id.marshal(&w)
	w.u16(uint16(index))
	w.u16(uint16(count))
	extracted := extract(nil, psk)
	input := expandWithLabel(extracted, "derived psk", w.b, hashLen)
	return extract(input, secret)
}

// Transcript hashes (RFC 9420 §8.2).

// confirmedTranscriptHash = Hash(interim_before || ConfirmedTranscriptHashInput).
func confirmedTranscriptHash(interim []byte, m *PublicMessage) []byte {
	var w writer
	w.bytes(m.Signature)
	return hashParts(interim, publicTBSHeader[2:], m.contentBytes(), w.b)
}

// interimTranscriptHash = Hash(confirmed || InterimTranscriptHashInput).
func interimTranscriptHash(confirmed, confirmationTag []byte) []byte {
	var w writer
	w.raw(confirmed)
	w.bytes(confirmationTag)
	return hash(w.b)
}
