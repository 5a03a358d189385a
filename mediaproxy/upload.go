package mediaproxy

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// UploadToken derives the bearer token for POST /upload from the media key.
func UploadToken(key []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("parley-media-upload-token"))
	return hex.EncodeToString(m.Sum(nil))
}

// UploadResult is the JSON answer to an upload (and `parley media put`).
type UploadResult struct {
	Attachment
	Path string `json:"path"`
	URL  string `json:"url"`
}

// upload stores a POST body as an attachment, any file (Store.PutFile,
// with the request's Content-Type as the declared type). The token, the
// path and the declared size are checked, and the body admitted by the
// budget, before any of the body is read.
func (s *Server) upload(req *Request, channel string) Response {
	tok, ok := strings.CutPrefix(req.Authorization, "Bearer ")
	if s.cfg.UploadToken == "" || !ok || !hmac.Equal([]byte(tok), []byte(s.cfg.UploadToken)) {
		return errorResponse(ErrUnauthorized)
	}
	if strings.Contains(channel, "/") {
		return errorResponse(fmt.Errorf("%w: malformed path", ErrNotFound))
	}
	if !validID(channel) {
		return errorResponse(fmt.Errorf("%w: bad channel id", ErrBadRequest))
	}
	name := parseParams(req.RawQuery).filename.v
	if name == "" {
		name = "file"
	}
	var body []byte
	if req.BodyStream != nil {
		res := reservation{b: s.budget}
		defer res.release()
		b, err := readBody(req.BodyStream, req.ContentLength, s.cfg.Limits.MaxBytes, &res)
		switch {
		case errors.Is(err, ErrTooLarge), errors.Is(err, ErrOverloaded):
			return errorResponse(err)
		case err != nil:
			return errorResponse(fmt.Errorf("%w: reading body", ErrBadRequest))
		}
		body = b
	}
	a, err := s.cfg.Store.PutFile(channel, name, req.ContentType, body, s.cfg.Limits, s.now())
	if err != nil {
		return errorResponse(err)
	}
	return jsonResponse(http.StatusCreated, s.result(a))
}

func (s *Server) result(a Attachment) UploadResult {
	p := s.signer.SignAttachment(a.ChannelID, a.ID, a.Filename, s.now(), s.cfg.SignedTTL)
	return UploadResult{Attachment: a, Path: p, URL: strings.TrimSuffix(s.cfg.PublicURL, "/") + p}
}
