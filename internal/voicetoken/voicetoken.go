// Package voicetoken issues and verifies the tokens that admit a client to a
// voice server. A token is what the chat control plane (or `parley
// voice-token`) hands out in VOICE_SERVER_UPDATE and what the client presents
// in voice gateway op 0 Identify / op 7 Resume.
//
// Wire form: "pv1." + base64url(claims JSON) + "." + base64url(HMAC-SHA256).
// The claims bind user, guild (the voice protocol's server_id), channel and
// session id, and carry an expiry, so a token cannot be replayed for another
// user, channel or session, nor after it expires.
package voicetoken

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Sentinel errors. Verify wraps exactly one of them.
var (
	ErrMalformed = errors.New("voicetoken: malformed token")
	ErrSignature = errors.New("voicetoken: bad signature")
	ErrExpired   = errors.New("voicetoken: token expired")
	ErrMismatch  = errors.New("voicetoken: token does not match identify")
	ErrKeySize   = errors.New("voicetoken: key must be at least 32 bytes")
)

// KeyName is the data-dir key the voice server and the issuers share.
const KeyName = "voice_token"

const prefix = "pv1."

// Claims are what a token binds.
type Claims struct {
	UserID    string `json:"u"`
	GuildID   string `json:"g"`
	ChannelID string `json:"c"`
	SessionID string `json:"s"`
	Expires   int64  `json:"exp"` // Unix seconds
	// Mute and Deaf are the server mute and deafen the control plane
	// stored when it issued the token: a voice node that cannot ask the
	// control plane (another process of the fleet) starts the session
	// with them.
	Mute bool `json:"m,omitempty"`
	Deaf bool `json:"d,omitempty"`
}

// Signer issues and verifies tokens with one HMAC key.
type Signer struct {
	key []byte
}

// NewSigner returns a Signer for key (32 bytes or more).
func NewSigner(key []byte) (*Signer, error) {
	if len(key) < 32 {
		return nil, ErrKeySize
	}
	return &Signer{key: append([]byte(nil), key...)}, nil
}

// NewSessionID returns a fresh random session id (32 hex characters).
func NewSessionID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Issue returns a signed token for c.
func (s *Signer) Issue(c Claims) string {
	body, _ := json.Marshal(c) // Claims always marshals
	enc := base64.RawURLEncoding
	p := prefix + enc.EncodeToString(body)
	return p + "." + enc.EncodeToString(s.mac(p))
}

// IssueFor fills in a new session id and the expiry now+ttl and issues.
func (s *Signer) IssueFor(user, guild, channel string, ttl time.Duration, now time.Time) (Claims, string) {
	c := Claims{UserID: user, GuildID: guild, ChannelID: channel, SessionID: NewSessionID(), Expires: now.Add(ttl).Unix()}
	return c, s.Issue(c)
}

func (s *Signer) mac(p string) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(p))
	return m.Sum(nil)
}

// Parse checks the signature and expiry and returns the claims.
func (s *Signer) Parse(token string, now time.Time) (Claims, error) {
	var c Claims
	if len(token) > 1024 || !strings.HasPrefix(token, prefix) {
		return c, ErrMalformed
	}
	dot := strings.LastIndexByte(token, '.')
	if dot <= len(prefix) {
		return c, ErrMalformed
	}
	sig, err := base64.RawURLEncoding.DecodeString(token[dot+1:])
	if err != nil {
		return c, ErrMalformed
	}
	if !hmac.Equal(sig, s.mac(token[:dot])) {
		return c, ErrSignature
	}
	body, err := base64.RawURLEncoding.DecodeString(token[len(prefix):dot])
	if err != nil {
		return c, ErrMalformed
	}
	if err := json.Unmarshal(body, &c); err != nil {
		return c, ErrMalformed
	}
	if now.Unix() >= c.Expires {
		return c, ErrExpired
	}
	return c, nil
}

// Verify parses token and checks it was issued for this user, guild
// (server_id) and session.
func (s *Signer) Verify(token, user, guild, session string, now time.Time) (Claims, error) {
	c, err := s.Parse(token, now)
	if err != nil {
		return c, err
	}
	if c.UserID != user || c.GuildID != guild || c.SessionID != session {
		return c, fmt.Errorf("%w: issued for user %s guild %s", ErrMismatch, c.UserID, c.GuildID)
	}
	return c, nil
}
