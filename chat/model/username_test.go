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
