package dave

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"golang.org/x/crypto/scrypt"
)

// Verification codes (dave.md §8; protocol.md "Displayable codes" and
// "Verification fingerprint"; davey displayable_code.rs, fingerprint.rs).
const (
	// VoicePrivacyCodeLen is the digit count of the voice privacy code.
	VoicePrivacyCodeLen = 30
	// VerificationCodeLen is the digit count of a pairwise verification code.
	VerificationCodeLen = 45
	// CodeGroupSize is the digits per group (5 input bytes each).
	CodeGroupSize = 5
	// maxCodeGroupSize keeps a group's bytes within a uint64.
	maxCodeGroupSize = 8
	// FingerprintSize is the scrypt output of PairwiseFingerprint.
	FingerprintSize = 64
)

// fingerprintSalt is the fixed scrypt salt of pairwise fingerprints.
var fingerprintSalt = []byte{0x24, 0xca, 0xb1, 0x7a, 0x7a, 0xf8, 0xec, 0x2b, 0x82, 0xb4, 0x12, 0xb9, 0x2d, 0xab, 0x19, 0x2e}

// DisplayableCode renders data as length decimal digits: for each group of
// groupSize digits it reads the next groupSize bytes as a big-endian
// integer, takes it mod 10^groupSize and zero-pads it (bytes 00 00 00 00 01
// give "00001"). length must be a multiple of groupSize, groupSize at most 8,
// and data at least length bytes long; otherwise ErrCodeParams.
func DisplayableCode(data []byte, length, groupSize int) (string, error) {
	if groupSize < 1 || groupSize > maxCodeGroupSize || length < 0 || length%groupSize != 0 || len(data) < length {
		return "", fmt.Errorf("%w: %d bytes, length %d, group %d", ErrCodeParams, len(data), length, groupSize)
	}
	mod := uint64(1)
	for range groupSize {
		mod *= 10
	}
	out := make([]byte, 0, length)
	for i := 0; i < length; i += groupSize {
		var v uint64
		for _, c := range data[i : i+groupSize] {
			v = v<<8 | uint64(c)
		}
		v %= mod
		out = append(out, make([]byte, groupSize)...)
		for j := len(out) - 1; j >= len(out)-groupSize; j-- {
			out[j] = byte('0' + v%10)
			v /= 10
		}
	}
	return string(out), nil
}

// VoicePrivacyCode is the 30-digit code every member of a call shows: the
// displayable code of the MLS epoch_authenticator (32 bytes).
func VoicePrivacyCode(epochAuthenticator []byte) (string, error) {
	return DisplayableCode(epochAuthenticator, VoicePrivacyCodeLen, CodeGroupSize)
}

// KeyFingerprint is one user's fingerprint input, version 0:
// u16 BE version ‖ signature public key (65-byte uncompressed P-256) ‖
// u64 BE user ID. Only version 0 exists; an empty key is ErrFingerprintKey.
func KeyFingerprint(version uint16, key []byte, userID uint64) ([]byte, error) {
	if version != 0 || len(key) == 0 {
		return nil, fmt.Errorf("%w: version %d, %d-byte key", ErrFingerprintKey, version, len(key))
	}
	b := make([]byte, 0, 2+len(key)+8)
	b = binary.BigEndian.AppendUint16(b, version)
	b = append(b, key...)
	return binary.BigEndian.AppendUint64(b, userID), nil
}

// PairwiseFingerprint is the 64-byte fingerprint two users compare: the two
// version-0 key fingerprints sorted bytewise and concatenated, through
// scrypt (salt 24cab17a7af8ec2b82b412b92dab192e, N=16384, r=8, p=2). It is
// symmetric in its two users. scrypt takes about 16 MiB and tens of
// milliseconds: call it off the hot path.
func PairwiseFingerprint(keyA []byte, userA uint64, keyB []byte, userB uint64) ([]byte, error) {
	fa, err := KeyFingerprint(0, keyA, userA)
	if err != nil {
		return nil, err
	}
	fb, err := KeyFingerprint(0, keyB, userB)
	if err != nil {
		return nil, err
	}
	if bytes.Compare(fa, fb) > 0 {
		fa, fb = fb, fa
	}
	return scrypt.Key(append(fa, fb...), fingerprintSalt, 1<<14, 8, 2, FingerprintSize)
}

// PairwiseVerificationCode is the 45-digit code for PairwiseFingerprint
// (davey getVerificationCode).
func PairwiseVerificationCode(keyA []byte, userA uint64, keyB []byte, userB uint64) (string, error) {
	fp, err := PairwiseFingerprint(keyA, userA, keyB, userB)
	if err != nil {
		return "", err
	}
	return DisplayableCode(fp, VerificationCodeLen, CodeGroupSize)
}
