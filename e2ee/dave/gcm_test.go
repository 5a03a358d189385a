package dave

import (
	"bytes"
	"testing"
)

// TestTruncatedGCMNode checks Seal/open against vectors produced by Node's
// crypto.createCipheriv('aes-128-gcm', key, iv, {authTagLength: 8}), an
// independent 8-byte-tag GCM implementation.
func TestTruncatedGCMNode(t *testing.T) {
	key := unhex(t, "7530f9a9945e2d2e06d0651f7b2a864b")
	tests := []struct {
		name             string
		nonce            uint32
		aad, pt, ct, tag string
	}{
		{"opus-like", 1, "", "fc" + string(bytes.Repeat([]byte("11"), 59)),
			"2d34bafa5e91e10cbae75c6e74eb53c45e44377cc6bbc059d7ef93c94715424278da9604f967971fc427c5ae03ffafb2bd92e15f477356843f97aa32",
			"876e81711c2c8ca5"},
		{"with-aad", 0x01000005, "00000001674d", "deadbeef00112233445566778899",
			"d05505412281f86d3d56dfdffd54", "d854a078d4992025"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := newFrameCipher(key)
			if err != nil {
				t.Fatal(err)
			}
			var iv [gcmNonceSize]byte
			setNonce(&iv, tc.nonce)
			pt, aad := unhex(t, tc.pt), unhex(t, tc.aad)
			sealed := c.seal(nil, &iv, pt, aad)
			if got := sealed[:len(pt)]; !bytes.Equal(got, unhex(t, tc.ct)) {
				t.Fatalf("ciphertext %x", got)
			}
			if got := sealed[len(pt) : len(pt)+TagSize]; !bytes.Equal(got, unhex(t, tc.tag)) {
				t.Fatalf("tag %x", got)
			}
			out, _, _, ok := c.open(nil, nil, &iv, unhex(t, tc.ct), aad, unhex(t, tc.tag))
			if !ok || !bytes.Equal(out, pt) {
				t.Fatalf("open: ok=%v pt=%x", ok, out)
			}
			badTag := unhex(t, tc.tag)
			badTag[7] ^= 1
			if _, _, _, ok := c.open(nil, nil, &iv, unhex(t, tc.ct), aad, badTag); ok {
				t.Fatal("open accepted a wrong tag")
			}
			if len(aad) > 0 {
				aad[0] ^= 1
				if _, _, _, ok := c.open(nil, nil, &iv, unhex(t, tc.ct), aad, unhex(t, tc.tag)); ok {
					t.Fatal("open accepted a wrong AAD")
				}
			}
		})
	}
}
