package mls

// Secret tree and sender-data keys (RFC 9420 §9, §6.3.2). DAVE sends no
// PrivateMessage; these derivations exist for completeness and are checked
// against the secret-tree vectors.

// leafSecret derives the secret-tree leaf secret for leaf from
// encryption_secret in a tree of n leaves (n a power of two).
func leafSecret(encryptionSecret []byte, leaf, n uint32) []byte {
	x := root(n)
	target := leafNode(leaf)
	secret := encryptionSecret
	for x != target {
		if target < x {
			secret = expandWithLabel(secret, "tree", []byte("left"), hashLen)
			x = left(x)
		} else {
			secret = expandWithLabel(secret, "tree", []byte("right"), hashLen)
			x = right(x)
		}
	}
	return secret
}

// ratchetKey returns the key and nonce at generation of the hash ratchet
// started by DeriveSecret-style expansion of leafSecret with label
// ("handshake" or "application").
func ratchetKey(leafSecret []byte, label string, generation uint32) (key, nonce []byte) {
	secret := expandWithLabel(leafSecret, label, nil, hashLen)
	for g := uint32(0); g < generation; g++ {
		secret = deriveTreeSecret(secret, "secret", g, hashLen)
	}
	return deriveTreeSecret(secret, "key", generation, aeadKey), deriveTreeSecret(secret, "nonce", generation, aeadNonce)
}

// senderDataKey derives the sender-data key and nonce from a ciphertext.
func senderDataKey(senderDataSecret, ciphertext []byte) (key, nonce []byte) {
	sample := ciphertext
	if len(sample) > hashLen {
		sample = sample[:hashLen]
	}
	return expandWithLabel(senderDataSecret, "key", sample, aeadKey), expandWithLabel(senderDataSecret, "nonce", sample, aeadNonce)
}
