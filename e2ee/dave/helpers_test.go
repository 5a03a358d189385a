package dave

import (
	"encoding/hex"
	"testing"
	"time"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

// fakeClock is a manually advanced clock for Decryptor tests.
type fakeClock struct{ t time.Time }

func newFakeClock() *fakeClock { return &fakeClock{t: time.Unix(1_800_000_000, 0)} }

func (c *fakeClock) Now() time.Time          { return c.t }
func (c *fakeClock) Advance(d time.Duration) { c.t = c.t.Add(d) }

// testBase is the davey hash_ratchet.rs test vector base secret.
const testBase = "cedd61b1b8a1ca69046554282cf70b7b"

func testRatchet(t testing.TB) *KeyRatchet {
	t.Helper()
	r, err := NewKeyRatchet(unhex(t, testBase))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// pair returns an encryptor and a decryptor sharing the test base secret.
func pair(t testing.TB, clk *fakeClock) (*Encryptor, *Decryptor) {
	t.Helper()
	e := NewEncryptor()
	e.SetKeyRatchet(testRatchet(t))
	d := NewDecryptor(WithClock(clk.Now))
	d.TransitionToKeyRatchet(testRatchet(t))
	return e, d
}
