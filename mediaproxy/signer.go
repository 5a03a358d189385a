package mediaproxy

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// KeyName is the data-dir key that signs media URLs: dir.Key(KeyName).
const KeyName = "media"

// Signer signs and verifies attachment and external URLs with
// HMAC-SHA256 under one 32-byte key. Domain-separation prefixes keep an
// attachment signature from verifying as an external one and vice versa.
type Signer struct {
	key []byte
}

// NewSigner returns a signer; the key must be at least 32 bytes.
func NewSigner(key []byte) (*Signer, error) {
	if len(key) < 32 {
		return nil, fmt.Errorf("%w: signing key shorter than 32 bytes", ErrConfig)
	}
	return &Signer{key: append([]byte(nil), key...)}, nil
}

func (s *Signer) mac(parts ...string) []byte {
	m := hmac.New(sha256.New, s.key)
	for _, p := range parts {
		m.Write([]byte(p))
		m.Write([]byte{0})
	}
	return m.Sum(nil)
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
	hm := hex.EncodeToString(s.mac("attachment", channel, id, filename, ex, is))
	return AttachmentPath(channel, id, filename) + "?ex=" + ex + "&is=" + is + "&hm=" + hm
}

// VerifyAttachment checks `ex`, `is` and `hm` for the attachment at now.
func (s *Signer) VerifyAttachment(channel, id, filename, ex, is, hm string, now time.Time) error {
	if ex == "" || is == "" || hm == "" {
		return fmt.Errorf("%w: missing ex, is or hm", ErrBadSignature)
	}
	exp, err1 := strconv.ParseInt(ex, 16, 64)
	iss, err2 := strconv.ParseInt(is, 16, 64)
	got, err3 := hex.DecodeString(hm)
	if err1 != nil || err2 != nil || err3 != nil || len(got) != sha256.Size {
		return fmt.Errorf("%w: malformed ex, is or hm", ErrBadSignature)
	}
	if !hmac.Equal(got, s.mac("attachment", channel, id, filename, ex, is)) {
		return ErrBadSignature
	}
	if now.Unix() >= exp {
		return ErrExpired
	}
	if iss > now.Add(5*time.Minute).Unix() {
		return fmt.Errorf("%w: issued in the future", ErrBadSignature)
	}
	return nil
}

// ExternalSignature is the 43-character base64url HMAC of a target URL.
func (s *Signer) ExternalSignature(target string) string {
	return base64.RawURLEncoding.EncodeToString(s.mac("external", target))
}

// VerifyExternal checks an external-URL signature in constant time.
func (s *Signer) VerifyExternal(sig, target string) error {
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || len(got) != sha256.Size {
		return fmt.Errorf("%w: malformed signature", ErrBadSignature)
	}
	if !hmac.Equal(got, s.mac("external", target)) {
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
