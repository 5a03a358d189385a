package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/parleyhq/parley/chat/model"
	"github.com/parleyhq/parley/chat/store"
)

// memFiles is an attachment store in memory whose URLs carry a counter,
// so each signing is told apart.
type memFiles struct {
	signed atomic.Int64
}

func (f *memFiles) Put(_ context.Context, channel model.Snowflake, filename, contentType string, r io.Reader) (model.Attachment, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return model.Attachment{}, err
	}
	if string(b) == "refuse" {
		return model.Attachment{}, fmt.Errorf("%w: not a file we keep", ErrAttachmentRefused)
	}
	a := model.Attachment{Filename: filename, ContentType: contentType, Size: int64(len(b)), Ref: channel.String() + "/" + filename}
	if strings.HasPrefix(contentType, "image/") {
		w, h := 2, 1
		a.Width, a.Height = &w, &h
	}
	return a, nil
}

func (f *memFiles) URLs(a model.Attachment) (string, string) {
	n := f.signed.Add(1)
	return fmt.Sprintf("https://web/media/attachments/%s?n=%d", a.Ref, n), fmt.Sprintf("https://web/media/attachments/%s?n=%d&proxy", a.Ref, n)
}

// TestMessageAttachments: files uploaded with a message are kept with it
// as records, their URLs signed afresh whenever the message is read or
// dispatched; an edit keeps them unless it lists which to keep; a delete
// moves the channel's last_message_id back.
func TestMessageAttachments(t *testing.T) {
	ctx := context.Background()
	files := &memFiles{}
	s, rec := newTestService(t, func(c *Config) { c.Attachments = files })
	u, _, err := s.Register(ctx, "poster", "password-poster")
	if err != nil {
		t.Fatal(err)
	}
	chans, err := s.GuildChannels(u.ID, s.DefaultGuild())
	if err != nil {
		t.Fatal(err)
	}
	general := chans[0].ID
	put := func(name, ct, body string) model.Attachment {
		t.Helper()
		a, err := s.PutAttachment(ctx, u.ID, general, name, ct, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	img, txt := put("../../etc/cat.png", "image/png; q=1", "PNG"), put("notes\x00.txt", "text/plain; charset=utf-8", "hello")
	if img.Filename != "cat.png" || img.ContentType != "image/png" || img.ID == 0 || img.URL != "" || txt.Filename != "notes.txt" || txt.ContentType != "text/plain" {
		t.Fatalf("stored %+v and %+v", img, txt)
	}
	desc := "a cat"
	m, err := s.CreateMessage(ctx, u.ID, general, MessageCreate{Files: []model.Attachment{img, txt},
		Attachments: []AttachmentRef{{ID: 0, Description: &desc}, {ID: 1, Filename: ptr("renamed.txt")}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Attachments) != 2 || *m.Attachments[0].Description != "a cat" || m.Attachments[1].Filename != "renamed.txt" ||
		m.Attachments[0].URL == "" || m.Attachments[0].ProxyURL == "" || *m.Attachments[0].Width != 2 || m.Attachments[1].Width != nil {
		t.Fatalf("created %+v", m.Attachments)
	}
	created := rec.named("MESSAGE_CREATE")
	var ev struct{ Attachments []model.Attachment }
	if err := json.Unmarshal(created[len(created)-1].Data, &ev); err != nil || len(ev.Attachments) != 2 || ev.Attachments[0].URL == "" {
		t.Fatalf("MESSAGE_CREATE attachments %+v, %v", ev.Attachments, err)
	}
	// Without MESSAGE_CONTENT, attachments are blanked with the content.
	if err := json.Unmarshal(created[len(created)-1].NoContent, &ev); err != nil || ev.Attachments == nil || len(ev.Attachments) != 0 {
		t.Fatalf("MESSAGE_CREATE without MESSAGE_CONTENT: attachments %+v, %v", ev.Attachments, err)
	}
	// Each read signs again (signed URLs expire).
	got, err := s.GetMessage(ctx, u.ID, general, m.ID)
	if err != nil || len(got.Attachments) != 2 || got.Attachments[0].URL == m.Attachments[0].URL {
		t.Fatalf("GetMessage %+v, %v (created with %s)", got.Attachments, err, m.Attachments[0].URL)
	}
	list, err := s.ListMessages(ctx, u.ID, general, store.Page{Limit: 10})
	if err != nil || len(list) != 1 || len(list[0].Attachments) != 2 || list[0].Attachments[1].URL == "" {
		t.Fatalf("ListMessages %+v, %v", list, err)
	}
	// An edit keeps them; listing one keeps only it.
	edited, err := s.EditMessage(ctx, u.ID, general, m.ID, MessageEdit{Content: ptr("now with words")})
	if err != nil || len(edited.Attachments) != 2 || edited.Attachments[0].URL == "" {
		t.Fatalf("edit %+v, %v", edited.Attachments, err)
	}
	updates := rec.named("MESSAGE_UPDATE")
	if err := json.Unmarshal(updates[len(updates)-1].Data, &ev); err != nil || len(ev.Attachments) != 2 {
		t.Fatalf("MESSAGE_UPDATE attachments %+v, %v", ev.Attachments, err)
	}
	keep := []AttachmentRef{{ID: AttachmentRefID(txt.ID)}}
	if edited, err = s.EditMessage(ctx, u.ID, general, m.ID, MessageEdit{Attachments: &keep}); err != nil ||
		len(edited.Attachments) != 1 || edited.Attachments[0].ID != txt.ID {
		t.Fatalf("edit keeping one %+v, %v", edited.Attachments, err)
	}
	// Files alone are a message; no files, no content is not.
	only, err := s.CreateMessage(ctx, u.ID, general, MessageCreate{Files: []model.Attachment{put("a.png", "image/png", "x")}})
	if err != nil || only.Content != "" || len(only.Attachments) != 1 {
		t.Fatalf("files-only message %+v, %v", only, err)
	}
	if c, _ := s.Channel(u.ID, general); *c.LastMessageID != only.ID {
		t.Fatalf("last_message_id %v, want %v", *c.LastMessageID, only.ID)
	}
	if err := s.DeleteMessage(ctx, u.ID, general, only.ID); err != nil {
		t.Fatal(err)
	}
	if c, _ := s.Channel(u.ID, general); c.LastMessageID == nil || *c.LastMessageID != m.ID {
		t.Fatalf("last_message_id after deleting the last message: %v, want %v", c.LastMessageID, m.ID)
	}
	if err := s.DeleteMessage(ctx, u.ID, general, m.ID); err != nil {
		t.Fatal(err)
	}
	if c, _ := s.Channel(u.ID, general); c.LastMessageID != nil {
		t.Fatalf("last_message_id of an emptied channel: %v", *c.LastMessageID)
	}

	errCases := []struct {
		name string
		do   func() error
		want error
	}{
		{"store refuses", func() error {
			_, err := s.PutAttachment(ctx, u.ID, general, "x", "", strings.NewReader("refuse"))
			return err
		}, ErrAttachmentRefused},
		{"not a member", func() error {
			_, err := s.PutAttachment(ctx, 12345, general, "x", "", strings.NewReader("x"))
			return err
		}, ErrMissingAccess},
		{"unknown channel", func() error { _, err := s.PutAttachment(ctx, u.ID, 999, "x", "", strings.NewReader("x")); return err }, ErrUnknownChannel},
		{"nothing to send", func() error { _, err := s.CreateMessage(ctx, u.ID, general, MessageCreate{}); return err }, ErrEmptyMessage},
		{"entry naming no file", func() error {
			_, err := s.CreateMessage(ctx, u.ID, general, MessageCreate{Content: "x", Attachments: []AttachmentRef{{ID: 0}}})
			return err
		}, ErrInvalidForm},
		{"description too long", func() error {
			_, err := s.CreateMessage(ctx, u.ID, general, MessageCreate{Files: []model.Attachment{img},
				Attachments: []AttachmentRef{{ID: 0, Description: ptr(strings.Repeat("é", MaxAttachmentDescription+1))}}})
			return err
		}, ErrInvalidForm},
		{"description with a bidi override", func() error {
			_, err := s.CreateMessage(ctx, u.ID, general, MessageCreate{Files: []model.Attachment{img},
				Attachments: []AttachmentRef{{ID: 0, Description: ptr("a\u202eb")}}})
			return err
		}, ErrInvalidForm},
	}
	for _, tc := range errCases {
		if err := tc.do(); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	off, _ := newTestService(t, nil)
	if _, err := off.PutAttachment(ctx, u.ID, general, "x", "", strings.NewReader("x")); !errors.Is(err, ErrAttachmentsDisabled) {
		t.Fatalf("without a store: %v", err)
	}
}

func ptr[T any](v T) *T { return &v }

// FuzzCleanFilename: a cleaned name is a non-empty, valid base name
// within MaxFilename bytes without control or format characters, and
// cleaning it again changes nothing.
func FuzzCleanFilename(f *testing.F) {
	for _, s := range []string{"cat.png", "../../etc/passwd", `C:\x\y.txt`, "", ".", "..", "a\u202egnp.exe", "\x00\x01", strings.Repeat("é", 200), " x ", "a/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c := cleanFilename(s)
		if c == "" || len(c) > MaxFilename || !utf8.ValidString(c) || strings.ContainsAny(c, "/\\") {
			t.Fatalf("cleanFilename(%q) = %q", s, c)
		}
		for _, r := range c {
			if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
				t.Fatalf("cleanFilename(%q) = %q holds %U", s, c, r)
			}
		}
		if again := cleanFilename(c); again != c {
			t.Fatalf("cleanFilename(%q) = %q, then %q", s, c, again)
		}
	})
}

// FuzzAttachmentRefs: whatever "attachments" a body holds, applying it to
// two uploaded files either fails as a form error or keeps both files,
// with descriptions within their limit.
func FuzzAttachmentRefs(f *testing.F) {
	for _, s := range []string{`[{"id":"0","description":"d"}]`, `[{"id":1,"filename":"../x"}]`, `[{"id":"18446744073709551616"}]`,
		`[{"id":-1}]`, `[{"id":"01"}]`, `[{"id":null}]`, `{}`, `[{"id":0,"description":"` + strings.Repeat("x", 1100) + `"}]`} {
		f.Add([]byte(s))
	}
	files := []model.Attachment{{ID: 1, Filename: "a"}, {ID: 2, Filename: "b"}}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var refs []AttachmentRef
		if json.Unmarshal(raw, &refs) != nil {
			return
		}
		out, err := attach(files, refs)
		if err != nil {
			if !errors.Is(err, ErrInvalidForm) {
				t.Fatalf("attach(%s): %v is not a form error", raw, err)
			}
			return
		}
		if len(out) != len(files) {
			t.Fatalf("attach(%s) kept %d files", raw, len(out))
		}
		for _, a := range out {
			if a.Description != nil && utf8.RuneCountInString(*a.Description) > MaxAttachmentDescription {
				t.Fatalf("attach(%s): description of %d characters", raw, utf8.RuneCountInString(*a.Description))
			}
			if a.Filename == "" || len(a.Filename) > MaxFilename {
				t.Fatalf("attach(%s): filename %q", raw, a.Filename)
			}
		}
	})
}
