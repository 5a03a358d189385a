package mls

import (
	"errors"
	"testing"
)

func TestCryptoBasicsVectors(t *testing.T) {
	var cases []struct {
		CipherSuite uint16 `json:"cipher_suite"`
		RefHash     struct {
			Label string   `json:"label"`
			Out   hexBytes `json:"out"`
			Value hexBytes `json:"value"`
		} `json:"ref_hash"`
		ExpandWithLabel struct {
			Secret  hexBytes `json:"secret"`
			Label   string   `json:"label"`
			Context hexBytes `json:"context"`
			Length  int      `json:"length"`
			Out     hexBytes `json:"out"`
		} `json:"expand_with_label"`
		DeriveSecret struct {
			Secret hexBytes `json:"secret"`
			Label  string   `json:"label"`
			Out    hexBytes `json:"out"`
		} `json:"derive_secret"`
		DeriveTreeSecret struct {
			Secret     hexBytes `json:"secret"`
			Label      string   `json:"label"`
			Generation uint32   `json:"generation"`
			Length     int      `json:"length"`
			Out        hexBytes `json:"out"`
		} `json:"derive_tree_secret"`
		SignWithLabel struct {
			Priv      hexBytes `json:"priv"`
			Pub       hexBytes `json:"pub"`
			Content   hexBytes `json:"content"`
			Label     string   `json:"label"`
			Signature hexBytes `json:"signature"`
		} `json:"sign_with_label"`
		EncryptWithLabel struct {
			Priv       hexBytes `json:"priv"`
			Pub        hexBytes `json:"pub"`
			Label      string   `json:"label"`
			Context    hexBytes `json:"context"`
			Plaintext  hexBytes `json:"plaintext"`
			KEMOutput  hexBytes `json:"kem_output"`
			Ciphertext hexBytes `json:"ciphertext"`
		} `json:"encrypt_with_label"`
	}
	loadVectors(t, "crypto-basics.json", &cases)
	for _, c := range cases {
		eq(t, "ref_hash", refHash(c.RefHash.Label, c.RefHash.Value), c.RefHash.Out)
		e := c.ExpandWithLabel
		eq(t, "expand_with_label", expandWithLabel(e.Secret, e.Label, e.Context, e.Length), e.Out)
		eq(t, "derive_secret", deriveSecret(c.DeriveSecret.Secret, c.DeriveSecret.Label), c.DeriveSecret.Out)
		d := c.DeriveTreeSecret
		eq(t, "derive_tree_secret", deriveTreeSecret(d.Secret, d.Label, d.Generation, d.Length), d.Out)

		s := c.SignWithLabel
		mustNoErr(t, verifyWithLabel(s.Pub, s.Label, s.Signature, s.Content))
		key, err := ParseSignatureKey(s.Priv)
		mustNoErr(t, err)
		eq(t, "sign pub", SignaturePublicKey(key), s.Pub)
		sig, err := signWithLabel(key, s.Label, s.Content)
		mustNoErr(t, err)
		mustNoErr(t, verifyWithLabel(s.Pub, s.Label, sig, s.Content))
		if err := verifyWithLabel(s.Pub, s.Label+"x", sig, s.Content); !errors.Is(err, ErrInvalidSignature) {
			t.Fatalf("wrong label verified: %v", err)
		}

		x := c.EncryptWithLabel
		hk, err := parseHPKEPrivate(x.Priv)
		mustNoErr(t, err)
		eq(t, "hpke pub", hk.pub, x.Pub)
		pt, err := decryptWithLabel(hk, x.Label, x.Context, HPKECiphertext{KEMOutput: x.KEMOutput, Ciphertext: x.Ciphertext})
		mustNoErr(t, err)
		eq(t, "decrypt_with_label", pt, x.Plaintext)
		ct, err := encryptWithLabel(x.Pub, x.Label, x.Context, x.Plaintext)
		mustNoErr(t, err)
		pt, err = decryptWithLabel(hk, x.Label, x.Context, ct)
		mustNoErr(t, err)
		eq(t, "round trip", pt, x.Plaintext)
	}
}

func TestTreeMathVectors(t *testing.T) {
	var cases []struct {
		NLeaves uint32    `json:"n_leaves"`
		NNodes  uint32    `json:"n_nodes"`
		Root    uint32    `json:"root"`
		Left    []*uint32 `json:"left"`
		Right   []*uint32 `json:"right"`
		Parent  []*uint32 `json:"parent"`
		Sibling []*uint32 `json:"sibling"`
	}
	loadVectors(t, "tree-math.json", &cases)
	for _, c := range cases {
		if nodeWidth(c.NLeaves) != c.NNodes || root(c.NLeaves) != c.Root {
			t.Fatalf("n=%d: width %d root %d", c.NLeaves, nodeWidth(c.NLeaves), root(c.NLeaves))
		}
		for x := uint32(0); x < c.NNodes; x++ {
			check := func(name string, want *uint32, got func() uint32, defined bool) {
				if want == nil {
					if defined {
						t.Fatalf("n=%d %s(%d) defined, want null", c.NLeaves, name, x)
					}
					return
				}
				if !defined || got() != *want {
					t.Fatalf("n=%d %s(%d) wrong", c.NLeaves, name, x)
				}
			}
			check("left", c.Left[x], func() uint32 { return left(x) }, !isLeaf(x))
			check("right", c.Right[x], func() uint32 { return right(x) }, !isLeaf(x))
			check("parent", c.Parent[x], func() uint32 { return parent(x) }, x != c.Root)
			check("sibling", c.Sibling[x], func() uint32 { return sibling(x) }, x != c.Root)
		}
	}
}

func TestDeserializationVectors(t *testing.T) {
	var cases []struct {
		Header hexBytes `json:"vlbytes_header"`
		Length int      `json:"length"`
	}
	loadVectors(t, "deserialization.json", &cases)
	for _, c := range cases {
		n, k, err := readVarint(c.Header)
		mustNoErr(t, err)
		if n != c.Length || k != len(c.Header) {
			t.Fatalf("%x: got %d (%d bytes)", []byte(c.Header), n, k)
		}
		eq(t, "encode", appendVarint(nil, c.Length), c.Header)
	}
}

func TestVarintRejects(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, ErrTruncated},
		{"short2", []byte{0x40}, ErrTruncated},
		{"short4", []byte{0x80, 0, 0}, ErrTruncated},
		{"nonminimal2", []byte{0x40, 0x3f}, ErrMalformed},
		{"nonminimal4", []byte{0x80, 0, 0x3f, 0xff}, ErrMalformed},
		{"prefix11", []byte{0xc0, 0, 0, 0, 0, 0, 0, 0}, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := readVarint(tt.in); !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
}

func TestTreeMathHelpers(t *testing.T) {
	for _, n := range []uint32{1, 2, 4, 8, 16} {
		for a := uint32(0); a < n; a++ {
			for b := uint32(0); b < n; b++ {
				x, y := leafNode(a), leafNode(b)
				c := commonAncestor(x, y)
				if !isAncestor(c, x) || !isAncestor(c, y) {
					t.Fatalf("lca(%d,%d)=%d not an ancestor", x, y, c)
				}
				if a != b && (isAncestor(left(c), x) && isAncestor(left(c), y) || isAncestor(right(c), x) && isAncestor(right(c), y)) {
					t.Fatalf("lca(%d,%d)=%d not lowest", x, y, c)
				}
			}
		}
	}
}
