// Package voicetoken issues and verifies the tokens that admit a client to a
// voice server. A token is what the chat control plane (or `parley
// voice-token`) hands out in VOICE_SERVER_UPDATE and what the client presents
// in voice gateway op 0 Identify / op 7 Resume.
//
// Wire forms: "pv1." + base64url(claims JSON) + "." + base64url(HMAC-SHA256)
// with the key one machine's data dir holds (the embedded default), and
// "pv2." + KID + "." + base64url(claims JSON) + "." + base64url(Ed25519)
// with a fleet's rotating keys (keyed.go). The claims bind user, guild (the voice protocol's server_id), channel and
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
	// ErrUnknownKey: an Ed25519 token names a key id nobody published.
	ErrUnknownKey = errors.New("voicetoken: token signed by an unknown key")
	// ErrRetiredKey: an Ed25519 token names a key that is retired.
	ErrRetiredKey = errors.New("voicetoken: token signed by a retired key")
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

// Signer issues and verifies tokens: HMAC ones with its key, Ed25519 ones
// with the keys of its options (WithKeys, WithIssuer).
type Signer struct {
	key []byte
	// keys verifies "pv2." tokens (nil: refused).
	keys KeySource
	// current is the key to issue "pv2." tokens with (nil, or nil
	// returned: "pv1.").
	current func() *SigningKey
}

// NewSigner returns a Signer for the HMAC key (32 bytes or more).
func NewSigner(key []byte, opts ...Option) (*Signer, error) {
	if len(key) < 32 {
		return nil, ErrKeySize
	}
	s := &Signer{key: append([]byte(nil), key...)}
	for _, o := range opts {
		o(s)
	}
	return s, nil
}

// NewSessionID returns a fresh random session id (32 hex characters).
func NewSessionID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Issue returns a signed token for c: Ed25519 with the current key when
// the Signer has one (WithIssuer), else HMAC.
func (s *Signer) Issue(c Claims) string {
	body, _ := json.Marshal(c) // Claims always marshals
	if s.current != nil {
		if k := s.current(); k != nil {
			return signEd25519(k, body)
		}
	}
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
	if len(token) > 1024 {
		return c, ErrMalformed
	}
	var body []byte
	var err error
	switch {
	case strings.HasPrefix(token, prefix):
		body, err = s.parseHMAC(token)
	case strings.HasPrefix(token, prefixEd25519):
		body, err = s.parseEd25519(token, now)
	default:
		return c, ErrMalformed
	}
	if err != nil {
		return c, err
	}
	if err := json.Unmarshal(body, &c); err != nil {
		return c, ErrMalformed
	}
	if now.Unix() >= c.Expires {
		return c, ErrExpired
	}
	return c, nil
}

// parseHMAC checks a "pv1." token's form and MAC and returns its claims
// JSON.
func (s *Signer) parseHMAC(token string) ([]byte, error) {
	dot := strings.LastIndexByte(token, '.')
	if dot <= len(prefix) {
		return nil, ErrMalformed
	}
	sig, err := base64.RawURLEncoding.DecodeString(token[dot+1:])
	if err != nil {
		return nil, ErrMalformed
	}
	if !hmac.Equal(sig, s.mac(token[:dot])) {
		return nil, ErrSignature
	}
	body, err := base64.RawURLEncoding.DecodeString(token[len(prefix):dot])
	if err != nil {
		return nil, ErrMalformed
	}
	return body, nil
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
