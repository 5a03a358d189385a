package dave

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
)

// ExporterLabel is the MLS exporter label for DAVE sender keys (dave.md §6).
const ExporterLabel = "Discord Secure Frames v0"

// Exporter is the MLS-Exporter of the current epoch (RFC 9420 §8.5):
// Export(label, context, length) = ExpandWithLabel(DeriveSecret(
// exporter_secret, label), "exported", Hash(context), length). e2ee/mls
// groups satisfy it; SecretExporter builds one from a raw exporter_secret.
type Exporter interface {
	Export(label string, context []byte, length int) ([]byte, error)
}

// ExporterFunc adapts a function to Exporter.
type ExporterFunc func(label string, context []byte, length int) ([]byte, error)

// Export calls f.
func (f ExporterFunc) Export(label string, context []byte, length int) ([]byte, error) {
	return f(label, context, length)
}

// SecretExporter returns the RFC 9420 §8.5 MLS-Exporter over an epoch's
// exporter_secret for cipher suite 2 (SHA-256). The secret is copied.
func SecretExporter(exporterSecret []byte) Exporter {
	s := append([]byte(nil), exporterSecret...)
	return ExporterFunc(func(label string, context []byte, length int) ([]byte, error) {
		derived, err := expandWithLabel(s, label, nil, sha256.Size) // DeriveSecret
		if err != nil {
			return nil, err
		}
		h := sha256.Sum256(context)
		return expandWithLabel(derived, "exported", h[:], length)
	})
}

// SenderBaseSecret derives a sender's 16-byte base secret for the epoch:
// MLS-Exporter("Discord Secure Frames v0", u64 little-endian user ID, 16)
// (dave.md §6; the little-endian context follows protocol.md changelog
// 1.1.1, libdave and davey, not the pseudocode's bigEndianSenderID).
func SenderBaseSecret(exp Exporter, userID uint64) ([]byte, error) {
	if exp == nil {
		return nil, ErrNilExporter
	}
	var ctx [8]byte
	binary.LittleEndian.PutUint64(ctx[:], userID)
	s, err := exp.Export(ExporterLabel, ctx[:], KeySize)
	if err != nil {
		return nil, fmt.Errorf("dave: export sender secret: %w", err)
	}
	if len(s) != KeySize {
		return nil, fmt.Errorf("%w: exporter returned %d bytes", ErrSecretSize, len(s))
	}
	return s, nil
}

// NewSenderKeyRatchet returns the key ratchet of userID's media for the
// epoch whose exporter is exp.
func NewSenderKeyRatchet(exp Exporter, userID uint64) (*KeyRatchet, error) {
	s, err := SenderBaseSecret(exp, userID)
	if err != nil {
		return nil, err
	}
	defer clear(s)
	return NewKeyRatchet(s)
}
