package service

import (
	"context"
	"fmt"
	"io"
	"mime"
	"path"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/parleyhq/parley/chat/model"
)

// Attachments keeps the files attached to messages. The service defines
// what it needs; cmd/parley adapts the media proxy's store to it (chat
// never imports mediaproxy).
type Attachments interface {
	// Put stores one file uploaded to channel; r yields at most the
	// transport's per-file limit. The record returned carries Filename,
	// ContentType, Size, Width and Height (images only) and Ref (what URLs
	// needs); an ID of 0 is assigned by the service. A file the store will
	// not keep is an error wrapping ErrAttachmentRefused whose text ends
	// with the reason the client is told.
	Put(ctx context.Context, channel model.Snowflake, filename, contentType string, r io.Reader) (model.Attachment, error)
	// URLs returns the signed url and proxy_url of a stored attachment,
	// valid for a while from now.
	URLs(a model.Attachment) (url, proxyURL string)
	// Delete removes stored files (those of a deleted message, of one
	// that failed after they were stored, or that an edit dropped): their
	// URLs answer 404 from then on. A file already gone is no error.
	Delete(ctx context.Context, files []model.Attachment) error
	// DeleteChannel removes every file stored for channel (a deleted
	// channel's).
	DeleteChannel(ctx context.Context, channel model.Snowflake) error
}

// Limits of an attachment's client-chosen text (Discord's).
const (
	// MaxFilename bounds a file name in bytes.
	MaxFilename = 255
	// MaxAttachmentDescription bounds an attachment's description
	// (alt text) in characters.
	MaxAttachmentDescription = 1024
	// maxContentType bounds a declared content type in bytes.
	maxContentType = 127
)

// AttachmentRef is an entry of a message body's "attachments": for a new
// message, which uploaded file (ID is its files[N] index) gets which
// filename and description; for an edit, an attachment (ID is its id) to
// keep.
type AttachmentRef struct {
	ID          AttachmentRefID `json:"id"`
	Filename    *string         `json:"filename"`
	Description *string         `json:"description"`
}

// AttachmentRefID is an upload index or an attachment id: a non-negative
// integer sent as a JSON number or string (discord.js sends "0"). A
// transport that reads uploads by another key maps it to the file's
// index in MessageCreate.Files.
type AttachmentRefID uint64

// UnmarshalJSON accepts 0, "0", 17 or "1234567890123456789".
func (id *AttachmentRefID) UnmarshalJSON(b []byte) error {
	s := string(b)
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		s = s[1 : len(s)-1]
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil || len(s) > 20 {
		return fmt.Errorf("%w: attachment id %.30q", ErrInvalidForm, s)
	}
	*id = AttachmentRefID(v)
	return nil
}

// AttachmentsEnabled reports whether messages may carry files.
func (s *Service) AttachmentsEnabled() bool { return s.cfg.Attachments != nil }

// CanAttach reports (as the error PutAttachment would give) whether user
// may send messages with files to channel, so a transport can refuse an
// upload before reading it.
func (s *Service) CanAttach(user, channel model.Snowflake) error {
	if s.cfg.Attachments == nil {
		return ErrAttachmentsDisabled
	}
	_, err := s.graph.channelAccess(user, channel, model.PermViewChannel|model.PermSendMessages|model.PermAttachFiles)
	return err
}

// PutAttachment stores one file uploaded with a message that author is
// about to send to channel (a multipart POST /channels/{id}/messages, one
// call per file part, before CreateMessage). The author must be allowed to
// send messages with files there; the transport bounds what r yields.
func (s *Service) PutAttachment(ctx context.Context, author, channel model.Snowflake, filename, contentType string, r io.Reader) (model.Attachment, error) {
	if err := s.CanAttach(author, channel); err != nil {
		return model.Attachment{}, err
	}
	a, err := s.cfg.Attachments.Put(ctx, channel, cleanFilename(filename), cleanContentType(contentType), r)
	if err != nil {
		return model.Attachment{}, err
	}
	if a.ID == 0 {
		a.ID = s.gen.Next()
	}
	a.URL, a.ProxyURL = "", ""
	return a, nil
}

// DeleteAttachments removes files that no message refers to: those a
// transport stored (PutAttachment) for a message that then failed. It
// returns at once; the deletion runs in the background (see Start).
func (s *Service) DeleteAttachments(ctx context.Context, files []model.Attachment) {
	s.deleter.add(ctx, deleteJob{files: files})
}

// cleanFilename keeps a file name's last path element, without control
// characters, at most MaxFilename bytes; nothing left is "file".
func cleanFilename(name string) string {
	name = strings.ToValidUTF8(name, "")
	name = path.Base(strings.ReplaceAll(name, "\\", "/"))
	name = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == '/' { // Cf: no bidi tricks ("gpj.exe")
			return -1
		}
		return r
	}, name)
	for len(name) > MaxFilename {
		_, n := utf8.DecodeLastRuneInString(name)
		name = name[:len(name)-n]
	}
	name = strings.TrimSpace(name)
	if name == "" || name == "." || name == ".." {
		return "file"
	}
	return name
}

// cleanContentType reduces a declared content type to its lower-case
// type/subtype ("" when it does not parse).
func cleanContentType(ct string) string {
	if len(ct) > 4*maxContentType {
		return ""
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || len(mt) > maxContentType || !strings.Contains(mt, "/") {
		return ""
	}
	return mt
}

// attach applies a new message's "attachments" entries to the files
// uploaded with it (refs name them by index) and returns them in upload
// order.
func attach(files []model.Attachment, refs []AttachmentRef) ([]model.Attachment, error) {
	if len(files) == 0 && len(refs) == 0 {
		return nil, nil
	}
	out := append([]model.Attachment(nil), files...)
	for i, ref := range refs {
		field := "attachments." + strconv.Itoa(i)
		if uint64(ref.ID) >= uint64(len(out)) {
			return nil, fieldErr(field+".id", "ATTACHMENT_NOT_FOUND", "No file was uploaded as files["+strconv.FormatUint(uint64(ref.ID), 10)+"].")
		}
		a := &out[ref.ID]
		if ref.Filename != nil {
			a.Filename = cleanFilename(*ref.Filename)
		}
		if ref.Description != nil {
			d := strings.TrimSpace(*ref.Description)
			if utf8.RuneCountInString(d) > MaxAttachmentDescription {
				return nil, fieldErr(field+".description", "BASE_TYPE_MAX_LENGTH", "Must be 1024 or fewer in length.")
			}
			if err := checkText(field+".description", d); err != nil {
				return nil, err
			}
			if d == "" {
				a.Description = nil
			} else {
				a.Description = &d
			}
		}
	}
	return out, nil
}

// keepAttachments is an edit's "attachments": the message keeps those of
// its attachments the entries name (by id), in their order.
func keepAttachments(have []model.Attachment, refs []AttachmentRef) []model.Attachment {
	var out []model.Attachment
	for _, a := range have {
		for _, ref := range refs {
			if uint64(ref.ID) == uint64(a.ID) {
				out = append(out, a)
				break
			}
		}
	}
	return out
}

// droppedAttachments are those of have that kept lacks (an edit's).
func droppedAttachments(have, kept []model.Attachment) []model.Attachment {
	var out []model.Attachment
	for _, a := range have {
		if !slices.ContainsFunc(kept, func(k model.Attachment) bool { return k.ID == a.ID }) {
			out = append(out, a)
		}
	}
	return out
}

// signAttachments returns a copy of as with fresh signed URLs (as is
// shared with the stored message, so it is not written).
func (s *Service) signAttachments(as []model.Attachment) []model.Attachment {
	out := make([]model.Attachment, len(as))
	copy(out, as)
	if s.cfg.Attachments == nil {
		return out
	}
	for i := range out {
		out[i].URL, out[i].ProxyURL = s.cfg.Attachments.URLs(out[i])
	}
	return out
}
