package model

import (
	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// UsernameKey is the form usernames are compared in — for uniqueness,
// login and reserved names: NFKC, Unicode case folding, then NFKC again
// (folding can leave a string unnormalised). "Parley", "PARLEY" and the
// fullwidth "Ｐａｒｌｅｙ" share one key. The chat service decides which
// names are allowed at all; the store keeps each user's key unique.
func UsernameKey(name string) string {
	return norm.NFKC.String(cases.Fold().String(norm.NFKC.String(name)))
}
