package voiceproto

import (
	"bytes"
	"testing"

	"github.com/disgoorg/disgo/voice"
)

// TestInteropDisgo checks both current modes against disgo v0.19.6's own
// AEADEncrypter (voice/encryption_modes.go): its Encrypt output opens here
// and our Seal output decrypts there. disgo reads the AAD length as
// 12 + 4*CC (+4 if X), like this package.
func TestInteropDisgo(t *testing.T) {
	for _, m := range []string{ModeAES256GCMRTPSize, ModeXChaCha20RTPSize} {
		t.Run(m, func(t *testing.T) {
			enc, err := voice.NewEncrypter(voice.EncryptionMode(m), testKey)
			if err != nil {
				t.Fatal(err)
			}
			c := mustNew(t, m)

			// disgo → voiceproto, with its LE counter nonces 0, 1.
			for i := range 2 {
				p := pkt{pt: 120, seq: uint16(100 + i), ts: uint32(960 * i), ssrc: 77, payload: seqBytes(50+i, byte(i))}
				rtp := p.build()
				wire := append([]byte(nil), enc.Encrypt([12]byte(rtp[:12]), p.payload)...)
				if got := wire[len(wire)-4:]; !bytes.Equal(got, []byte{byte(i), 0, 0, 0}) {
					t.Fatalf("disgo nonce %x", got)
				}
				out, err := c.Open(nil, wire)
				if err != nil || !bytes.Equal(out, rtp) {
					t.Fatalf("Open(disgo packet %d) = %x, %v", i, out, err)
				}
			}

			// voiceproto → disgo, with and without a header extension.
			var sn ServerNonce
			for _, p := range []pkt{
				{pt: 120, seq: 1, ts: 2, ssrc: 3, payload: seqBytes(80, 1)},
				{pt: 120, seq: 2, ts: 3, ssrc: 3, ext: true, profile: ExtProfileOneByte, extBody: seqBytes(8, 9), payload: seqBytes(30, 2)},
			} {
				n, _ := sn.Next()
				wire, err := c.Seal(nil, p.build(), n)
				if err != nil {
					t.Fatal(err)
				}
				got, err := enc.Decrypt(p.rtpsizeLen(), wire)
				if err != nil {
					t.Fatalf("disgo Decrypt: %v", err)
				}
				if want := append(append([]byte(nil), p.extBody...), p.payload...); !bytes.Equal(got, want) {
					t.Fatalf("disgo decrypted %x, want %x", got, want)
				}
			}
		})
	}
}
