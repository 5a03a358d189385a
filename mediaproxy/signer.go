package mediaproxy

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// KeyName is the data-dir key that signs media URLs: dir.Key(KeyName).
const KeyName = "media"

// Signer signs and verifies attachment and external URLs with
// HMAC-SHA256 under one 32-byte key. Domain-separation prefixes keep an
// attachment signature from verifying as an external one and vice versa.
type Signer struct {
	key []byte
	// macs pools keyed HMAC states (Reset restores the keyed state without
	// rehashing the key) with a scratch buffer for the message.
	macs sync.Pool
}

type macState struct {
	h   hash.Hash
	buf []byte
	sum [sha256.Size]byte
}

// NewSigner returns a signer; the key must be at least 32 bytes.
func NewSigner(key []byte) (*Signer, error) {
	if len(key) < 32 {
		return nil, fmt.Errorf("%w: signing key shorter than 32 bytes", ErrConfig)
	}
	s := &Signer{key: append([]byte(nil), key...)}
	s.macs.New = func() any { return &macState{h: hmac.New(sha256.New, s.key), buf: make([]byte, 0, 256)} }
	return s, nil
}

// mac is HMAC-SHA256 over each part followed by a zero byte.
func (s *Signer) mac(parts ...string) (sum [sha256.Size]byte) {
	m := s.macs.Get().(*macState)
	m.h.Reset()
	b := m.buf[:0]
	for _, p := range parts {
		b = append(append(b, p...), 0)
	}
	m.h.Write(b)
	m.h.Sum(m.sum[:0])
	sum = m.sum
	if cap(b) <= 4096 {
		m.buf = b[:0]
	}
	s.macs.Put(m)
	return sum
}

// AttachmentPath is the unsigned path of an attachment.
func AttachmentPath(channel, id, filename string) string {
	return "/attachments/" + url.PathEscape(channel) + "/" + url.PathEscape(id) + "/" + url.PathEscape(filename)
}

// SignAttachment returns the signed path with query `ex`, `is` and `hm`
// (hex expiry, hex issue time, hex HMAC), as Discord's CDN does.
func (s *Signer) SignAttachment(channel, id, filename string, issued time.Time, ttl time.Duration) string {
	ex := strconv.FormatInt(issued.Add(ttl).Unix(), 16)
	is := strconv.FormatInt(issued.Unix(), 16)
	sum := s.mac("attachment", channel, id, filename, ex, is)
	hm := hex.EncodeToString(sum[:])
	return AttachmentPath(channel, id, filename) + "?ex=" + ex + "&is=" + is + "&hm=" + hm
}

// VerifyAttachment checks `ex`, `is` and `hm` for the attachment at now.
func (s *Signer) VerifyAttachment(channel, id, filename, ex, is, hm string, now time.Time) error {
	_, err := s.verifyAttachment(channel, id, filename, ex, is, hm, now)
	return err
}

// verifyAttachment is VerifyAttachment returning the expiry (Unix seconds).
func (s *Signer) verifyAttachment(channel, id, filename, ex, is, hm string, now time.Time) (int64, error) {
	if ex == "" || is == "" || hm == "" {
		return 0, fmt.Errorf("%w: missing ex, is or hm", ErrBadSignature)
	}
	exp, err1 := strconv.ParseInt(ex, 16, 64)
	iss, err2 := strconv.ParseInt(is, 16, 64)
	got, ok := decodeHex32(hm)
	if err1 != nil || err2 != nil || !ok {
		return 0, fmt.Errorf("%w: malformed ex, is or hm", ErrBadSignature)
	}
	want := s.mac("attachment", channel, id, filename, ex, is)
	if !hmac.Equal(got[:], want[:]) {
		return 0, ErrBadSignature
	}
	if now.Unix() >= exp {
		return 0, ErrExpired
	}
	if iss > now.Add(5*time.Minute).Unix() {
		return 0, fmt.Errorf("%w: issued in the future", ErrBadSignature)
	}
	return exp, nil
}

// decodeHex32 decodes 64 hex digits (either case) without allocating.
func decodeHex32(s string) (out [sha256.Size]byte, ok bool) {
	if len(s) != 2*sha256.Size {
		return out, false
	}
	for i := range out {
		hi, ok1 := unhex(s[2*i])
		lo, ok2 := unhex(s[2*i+1])
		if !ok1 || !ok2 {
			return out, false
		}
		out[i] = hi<<4 | lo
	}
	return out, true
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// ExternalSignature is the 43-character base64url HMAC of a target URL.
func (s *Signer) ExternalSignature(target string) string {
	sum := s.mac("external", target)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// VerifyExternal checks an external-URL signature in constant time.
func (s *Signer) VerifyExternal(sig, target string) error {
	// 43 characters encode 32 bytes; anything longer cannot be valid, and
	// checking first keeps Decode inside got.
	var got [sha256.Size + 3]byte
	if len(sig) > base64.RawURLEncoding.EncodedLen(sha256.Size) {
		return fmt.Errorf("%w: malformed signature", ErrBadSignature)
	}
	n, err := base64.RawURLEncoding.Decode(got[:], []byte(sig))
	if err != nil || n != sha256.Size {
		return fmt.Errorf("%w: malformed signature", ErrBadSignature)
	}
	want := s.mac("external", target)
	if !hmac.Equal(got[:n], want[:]) {
		return ErrBadSignature
	}
	return nil
}

// SignExternal returns the proxy path for target:
// /external/{signature}/[%3Fquery/]{scheme}/{host}/{path}.
func (s *Signer) SignExternal(target string) (string, error) {
	u, err := url.Parse(target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.Fragment != "" {
		return "", fmt.Errorf("%w: external URL must be http(s)://host/path without credentials or fragment", ErrBadRequest)
	}
	canon := canonicalTarget(u)
	var b strings.Builder
	b.WriteString("/external/" + s.ExternalSignature(canon) + "/")
	if u.RawQuery != "" {
		b.WriteString(url.PathEscape("?"+u.RawQuery) + "/")
	}
	b.WriteString(u.Scheme + "/" + u.Host + u.EscapedPath())
	return b.String(), nil
}

// canonicalTarget is the string the external signature covers.
func canonicalTarget(u *url.URL) string {
	c := url.URL{Scheme: strings.ToLower(u.Scheme), Host: strings.ToLower(u.Host), Path: u.Path, RawPath: u.RawPath, RawQuery: u.RawQuery}
	if c.Path == "" {
		c.Path = "/"
	}
	return c.String()
}

// parseExternalPath splits the part after /external/ into the signature and
// the target URL. rest is the raw (still escaped) path.
func parseExternalPath(rest string) (sig, target string, err error) {
	sig, rest, ok := strings.Cut(rest, "/")
	if !ok || sig == "" {
		return "", "", fmt.Errorf("%w: external path needs /external/{signature}/{scheme}/{host}/{path}", ErrBadRequest)
	}
	query := ""
	if strings.HasPrefix(rest, "%3F") || strings.HasPrefix(rest, "%3f") {
		seg, r, _ := strings.Cut(rest, "/")
		q, err := url.PathUnescape(seg)
		if err != nil {
			return "", "", fmt.Errorf("%w: bad query segment", ErrBadRequest)
		}
		query, rest = strings.TrimPrefix(q, "?"), r
	}
	scheme, rest, ok := strings.Cut(rest, "/")
	if !ok || (scheme != "http" && scheme != "https") {
		return "", "", fmt.Errorf("%w: scheme must be http or https", ErrBadRequest)
	}
	host, path, _ := strings.Cut(rest, "/")
	if host == "" {
		return "", "", fmt.Errorf("%w: empty host", ErrBadRequest)
	}
	u, err := url.Parse(scheme + "://" + host + "/" + path)
	if err != nil || u.User != nil {
		return "", "", fmt.Errorf("%w: bad external URL", ErrBadRequest)
	}
	u.RawQuery = query
	return sig, canonicalTarget(u), nil
}
