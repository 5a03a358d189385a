package dave

import (
	"bytes"
	"errors"
	"testing"
)

// Vectors generated with @snazzah/davey 0.1.12 (generateDisplayableCode,
// generateKeyFingerprint, generatePairwiseFingerprint).
func TestDisplayableCode(t *testing.T) {
	ea := make([]byte, 32)
	for i := range ea {
		ea[i] = byte(i)
	}
	tests := []struct {
		name        string
		data        []byte
		length, grp int
		want        string
		err         error
	}{
		{"spec-example", unhex(t, "0000000001"), 5, 5, "00001", nil},
		{"all-ff", unhex(t, "ffffffffff"), 5, 5, "27775", nil},
		{"privacy-code", ea, 30, 5, "090606058512110636351516066685", nil},
		{"short-data", ea[:29], 30, 5, "", ErrCodeParams},
		{"not-multiple", ea, 29, 5, "", ErrCodeParams},
		{"group-too-big", ea, 27, 9, "", ErrCodeParams},
		{"group-zero", ea, 0, 0, "", ErrCodeParams},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DisplayableCode(tc.data, tc.length, tc.grp)
			if !errors.Is(err, tc.err) || got != tc.want {
				t.Fatalf("got %q, %v; want %q, %v", got, err, tc.want, tc.err)
			}
		})
	}
	if c, err := VoicePrivacyCode(ea); err != nil || c != "090606058512110636351516066685" {
		t.Fatalf("VoicePrivacyCode = %q, %v", c, err)
	}
}

func TestPairwiseFingerprint(t *testing.T) {
	keyA := unhex(t, "040102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f40")
	keyB := unhex(t, "04c7c6c5c4c3c2c1c0bfbebdbcbbbab9b8b7b6b5b4b3b2b1b0afaeadacabaaa9a8a7a6a5a4a3a2a1a09f9e9d9c9b9a999897969594939291908f8e8d8c8b8a8988")
	const userA, userB = 158049329150427136, 1234567890123456789
	kf, err := KeyFingerprint(0, keyA, userA)
	if err != nil || !bytes.Equal(kf, unhex(t, "0000"+"040102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f40"+"0231810709000000")) {
		t.Fatalf("KeyFingerprint = %x, %v", kf, err)
	}
	want := unhex(t, "e340529ec09c56e8474561fc4485c5da38a03f14dfefc9eacc3221bc4ed5ebe10ff4b671f539fcced265b80f451b6df1b0db46f9317bb4d4aa377269305cbcbd")
	ab, err := PairwiseFingerprint(keyA, userA, keyB, userB)
	if err != nil || !bytes.Equal(ab, want) {
		t.Fatalf("fingerprint %x, %v", ab, err)
	}
	code, err := PairwiseVerificationCode(keyB, userB, keyA, userA) // symmetric
	if err != nil || code != "326086134976837965329447653877338462263893509" {
		t.Fatalf("code %q, %v", code, err)
	}
	if _, err := PairwiseFingerprint(nil, 1, keyB, 2); !errors.Is(err, ErrFingerprintKey) {
		t.Fatalf("empty key: %v", err)
	}
	if _, err := KeyFingerprint(1, keyA, 1); !errors.Is(err, ErrFingerprintKey) {
		t.Fatalf("version 1: %v", err)
	}
}
