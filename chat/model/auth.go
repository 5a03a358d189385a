package model

import "time"

// TokenID names one login token without being it: the SHA-256 of the
// token, which is also what the store keeps.
type TokenID [32]byte

// Auth is what a token authenticates: its user, which token it is, and
// when it stops working.
type Auth struct {
	User  User
	Token TokenID
	// Expires is when the token stops authenticating; zero for a token
	// that does not expire (bots: theirs are reset instead).
	Expires time.Time
}
