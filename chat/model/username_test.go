package model

import "testing"

func TestUsernameKey(t *testing.T) {
	same := [][]string{
		{"Parley", "parley", "PARLEY", "Ｐａｒｌｅｙ", "ｐａｒｌｅｙ"},
		{"Straße", "STRASSE", "strasse"},
		{"ǅemal", "džemal", "DŽEMAL"},
		{"ﬁsh", "FISH"},
	}
	for _, group := range same {
		for _, n := range group[1:] {
			if UsernameKey(n) != UsernameKey(group[0]) {
				t.Errorf("%q and %q have different keys: %q, %q", group[0], n, UsernameKey(group[0]), UsernameKey(n))
			}
		}
	}
	for _, pair := range [][2]string{{"alice", "alicé"}, {"bob", "b0b"}} {
		if UsernameKey(pair[0]) == UsernameKey(pair[1]) {
			t.Errorf("%q and %q share a key", pair[0], pair[1])
		}
	}
}

// FuzzUsernameKey: a key is its own key, so comparing keys of keys (as
// the store does when a name is looked up by key) is the same comparison.
func FuzzUsernameKey(f *testing.F) {
	for _, s := range []string{"Parley", "Straße", "ǅemal", "ﬁsh", "Ｐａｒｌｅｙ", "ℌ", "\u0345", "ΐ", "e\u0301"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k := UsernameKey(s)
		if k2 := UsernameKey(k); k2 != k {
			t.Fatalf("UsernameKey(%q) = %q, whose key is %q", s, k, k2)
		}
	})
}
