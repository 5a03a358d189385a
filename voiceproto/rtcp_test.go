package voiceproto

import (
	"bytes"
	"errors"
	"testing"
)

// TestRTCPSealOpen: every mode seals RTCP with its 8-byte header clear and
// opens it back; tampering with the clear header fails authentication in
// the AEAD modes.
func TestRTCPSealOpen(t *testing.T) {
	pli := []byte{0x81, 206, 0, 2, 1, 2, 3, 4, 5, 6, 7, 8} // PLI from 0x01020304 about 0x05060708
	for _, mode := range Modes(true) {
		t.Run(mode, func(t *testing.T) {
			c, err := NewCipher(mode, bytes.Repeat([]byte{7}, KeySize))
			if err != nil {
				t.Fatal(err)
			}
			w, err := c.SealRTCP(nil, pli, ClientNonce(5))
			if mode == ModeXSalsa20 {
				if !errors.Is(err, ErrRTCPMode) {
					t.Fatalf("sealed in %s: %v", mode, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(w[:RTCPClearLen], pli[:RTCPClearLen]) || Classify(w) != KindRTCP {
				t.Fatalf("clear part %x, kind %v", w[:RTCPClearLen], Classify(w))
			}
			if s, ok := PeekRTCPSender(w); !ok || s != 0x01020304 {
				t.Fatalf("sender %x", s)
			}
			got, err := c.OpenRTCP(nil, w)
			if err != nil || !bytes.Equal(got, pli) {
				t.Fatalf("open: %x, %v", got, err)
			}
			w[5] ^= 1 // the AEAD modes authenticate the clear part
			if _, err := c.OpenRTCP(nil, w); c.aead != nil && err == nil {
				t.Fatal("a tampered header opened")
			}
			if _, err := c.OpenRTCP(nil, w[:7]); err == nil {
				t.Fatal("a short packet opened")
			}
		})
	}
}
