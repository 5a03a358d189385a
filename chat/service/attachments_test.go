package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/parleyhq/parley/chat/model"
	"github.com/parleyhq/parley/chat/store"
	"github.com/parleyhq/parley/internal/testkit"
)

// memFiles is an attachment store in memory whose URLs carry a counter,
// so each signing is told apart, and which records what is deleted.
type memFiles struct {
	signed atomic.Int64

	mu       sync.Mutex
	deleted  []string          // refs
	channels []model.Snowflake // channels deleted
	// block, when set, makes Delete wait for it or for its context.
	block chan struct{}
}

func (f *memFiles) Delete(ctx context.Context, files []model.Attachment) error {
	if f.block != nil {
		select {
		case <-f.block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, a := range files {
		f.deleted = append(f.deleted, a.Ref)
	}
	return nil
}

func (f *memFiles) DeleteChannel(_ context.Context, channel model.Snowflake) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.channels = append(f.channels, channel)
	return nil
}

// gone returns the refs and channels deleted so far.
func (f *memFiles) gone() ([]string, []model.Snowflake) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.deleted), slices.Clone(f.channels)
}

func (f *memFiles) Put(_ context.Context, channel model.Snowflake, filename, contentType string, r io.Reader) (model.Attachment, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return model.Attachment{}, err
	}
	if string(b) == "refuse" {
		return model.Attachment{}, fmt.Errorf("%w: not a file we keep", ErrAttachmentRefused)
	}
	a := model.Attachment{Filename: filename, ContentType: contentType, Size: int64(len(b)), Ref: channel.String() + "/" + filename + "/" + string(b)}
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
	if gone, _ := files.gone(); len(gone) != 0 {
		t.Fatalf("deleted %q while every file is in use", gone)
	}
	keep := []AttachmentRef{{ID: AttachmentRefID(txt.ID)}}
	if edited, err = s.EditMessage(ctx, u.ID, general, m.ID, MessageEdit{Attachments: &keep}); err != nil ||
		len(edited.Attachments) != 1 || edited.Attachments[0].ID != txt.ID {
		t.Fatalf("edit keeping one %+v, %v", edited.Attachments, err)
	}
	// The file the edit dropped is deleted (a service not started deletes
	// on the caller).
	if gone, _ := files.gone(); !slices.Equal(gone, []string{img.Ref}) {
		t.Fatalf("deleted %q after the edit, want %q", gone, img.Ref)
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
	// A deleted message's files are deleted.
	if gone, _ := files.gone(); len(gone) != 3 || gone[1] != only.Attachments[0].Ref || gone[2] != txt.Ref {
		t.Fatalf("deleted %q after the deletes", gone)
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

// TestCheckMessage: CheckMessage refuses what CreateMessage would, before
// anything is stored; only the number of files matters to it.
func TestCheckMessage(t *testing.T) {
	s, _ := newTestService(t, func(c *Config) { c.Attachments = &memFiles{} })
	ctx := context.Background()
	u, _, err := s.Register(ctx, "checker", "password-checker")
	if err != nil {
		t.Fatal(err)
	}
	chans, _ := s.GuildChannels(u.ID, s.DefaultGuild())
	general := chans[0].ID
	one := []model.Attachment{{}}
	cases := []struct {
		name    string
		user    model.Snowflake
		channel model.Snowflake
		req     MessageCreate
		want    error
	}{
		{"a file alone", u.ID, general, MessageCreate{Files: one}, nil},
		{"text", u.ID, general, MessageCreate{Content: "hi"}, nil},
		{"nothing", u.ID, general, MessageCreate{}, ErrEmptyMessage},
		{"content too long", u.ID, general, MessageCreate{Content: strings.Repeat("x", MaxContent+1), Files: one}, ErrInvalidForm},
		{"entry naming no file", u.ID, general, MessageCreate{Files: one, Attachments: []AttachmentRef{{ID: 1}}}, ErrInvalidForm},
		{"bad nonce", u.ID, general, MessageCreate{Content: "x", Nonce: json.RawMessage(`[1]`)}, ErrInvalidForm},
		{"unknown channel", u.ID, 999, MessageCreate{Content: "x"}, ErrUnknownChannel},
		{"not a member", 12345, general, MessageCreate{Content: "x"}, ErrMissingAccess},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := s.CheckMessage(c.user, c.channel, c.req); !errors.Is(err, c.want) {
				t.Fatalf("CheckMessage: %v, want %v", err, c.want)
			}
		})
	}
}

// TestAttachmentDeleter: a started service deletes in the background, in
// order: a deleted channel's files (all of them, by channel), files no
// message refers to; Close waits for the deletions queued, and past its
// grace cancels the rest (counted); after Close, a deletion is dropped
// and counted.
func TestAttachmentDeleter(t *testing.T) {
	testkit.NoLeaks(t)
	ctx := context.Background()
	files := &memFiles{}
	s, _ := newTestService(t, func(c *Config) { c.Attachments = files })
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	admin, _, err := s.CreateBot(ctx, "admin", true)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := s.CreateChannel(ctx, admin.ID, s.DefaultGuild(), ChannelPatch{Name: ptr("pics")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteChannel(ctx, admin.ID, ch.ID); err != nil {
		t.Fatal(err)
	}
	s.DeleteAttachments(ctx, []model.Attachment{{Ref: "1/2/orphan"}})
	testkit.Eventually(t, 5*time.Second, func() bool {
		refs, chans := files.gone()
		return slices.Equal(chans, []model.Snowflake{ch.ID}) && slices.Equal(refs, []string{"1/2/orphan"})
	}, "the channel's and the orphan's files were not deleted")

	// A deletion that hangs is cancelled once Close's grace is over.
	files.block = make(chan struct{})
	s.DeleteAttachments(ctx, []model.Attachment{{Ref: "1/3/stuck"}})
	cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := s.Close(cctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close: %v, want its grace cut short", err)
	}
	if n := s.AttachmentDeleteFailures(); n != 1 {
		t.Fatalf("%d failures counted, want the cancelled one", n)
	}
	s.DeleteAttachments(ctx, []model.Attachment{{Ref: "1/4/late"}})
	if n := s.AttachmentDeleteFailures(); n != 2 {
		t.Fatalf("%d failures counted, want the one after Close too", n)
	}
	if err := s.Close(ctx); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}
