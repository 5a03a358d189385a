package chat_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parleyhq/parley/chat"
	"github.com/parleyhq/parley/chat/model"
	"github.com/parleyhq/parley/chat/store"
	"github.com/parleyhq/parley/internal/testkit"
)

// memFiles is an attachment store in memory (chat tests cannot use the
// media proxy's): images get their size from their header, URLs point
// at an address nothing serves.
type memFiles struct {
	mu    sync.Mutex
	files map[string][]byte
}

func (f *memFiles) Put(_ context.Context, channel model.Snowflake, filename, contentType string, r io.Reader) (model.Attachment, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return model.Attachment{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.files == nil {
		f.files = map[string][]byte{}
	}
	ref := fmt.Sprintf("%d/%d/%s", channel, len(f.files)+1, filename)
	f.files[ref] = b
	a := model.Attachment{Filename: filename, ContentType: contentType, Size: int64(len(b)), Ref: ref}
	if cfg, format, err := image.DecodeConfig(bytes.NewReader(b)); err == nil {
		a.ContentType, a.Width, a.Height = "image/"+format, &cfg.Width, &cfg.Height
	}
	return a, nil
}

func (f *memFiles) Delete(_ context.Context, files []model.Attachment) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, a := range files {
		delete(f.files, a.Ref)
	}
	return nil
}

func (f *memFiles) DeleteChannel(_ context.Context, channel model.Snowflake) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for ref := range f.files {
		if strings.HasPrefix(ref, channel.String()+"/") {
			delete(f.files, ref)
		}
	}
	return nil
}

// has reports whether ref is stored.
func (f *memFiles) has(ref string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.files[ref]
	return ok
}

func (f *memFiles) URLs(a model.Attachment) (string, string) {
	u := "http://files.invalid/attachments/" + a.Ref + "?ex=1&is=1&hm=0"
	return u, u
}

// withFiles gives a chat server an in-memory attachment store.
func withFiles(files *memFiles) func(*chat.Config) {
	return func(c *chat.Config) { c.Attachments = files }
}

// postFile sends a message with one file as discord.js does (the file
// part, then payload_json) and returns the status.
func postFile(t testing.TB, s *chat.Server, token, channel, name string, data []byte, payload string, out any) int {
	t.Helper()
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	fw, _ := w.CreateFormFile("files[0]", name)
	_, _ = fw.Write(data)
	_ = w.WriteField("payload_json", payload)
	_ = w.Close()
	req, err := http.NewRequest("POST", "http://"+s.APIAddr()+"/api/v10/channels/"+channel+"/messages", &body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", token)
	req.Header.Set("Content-Type", w.FormDataContentType())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		b, _ := io.ReadAll(resp.Body)
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("answer %d %s: %v", resp.StatusCode, b, err)
		}
	}
	return resp.StatusCode
}

// pngOf encodes a w×h grey PNG.
func pngOf(t testing.TB, w, h int) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewGray(image.Rect(0, 0, w, h))); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestAttachmentsDeletedWithMessage: a message's files are stored with it
// and deleted with it (in the background, by the chat server's service),
// and the spool the upload went through is left empty.
func TestAttachmentsDeletedWithMessage(t *testing.T) {
	testkit.NoLeaks(t)
	files := &memFiles{}
	spool := t.TempDir()
	s := startChat(t, store.Config{SQLitePath: filepath.Join(t.TempDir(), "chat.db")}, nil, func(c *chat.Config) {
		c.Attachments, c.SpoolDir = files, spool
	})
	var reg struct{ Token string }
	api(t, s, "POST", "/auth/register", "", map[string]string{"username": "dropper", "password": "dropper-password"}, &reg)
	general := generalChannel(t, s, reg.Token)
	var m struct {
		ID          string
		Attachments []struct{ URL string }
	}
	if code := postFile(t, s, reg.Token, general, "a.png", pngOf(t, 4, 4), `{"content":"x"}`, &m); code != 200 || len(m.Attachments) != 1 {
		t.Fatalf("post: %d %+v", code, m)
	}
	u, _ := url.Parse(m.Attachments[0].URL)
	ref := strings.TrimPrefix(u.Path, "/attachments/")
	if !files.has(ref) {
		t.Fatalf("%s not stored", ref)
	}
	if left, _ := os.ReadDir(spool); len(left) != 0 {
		t.Fatalf("the spool holds %d files", len(left))
	}
	if code, _ := api(t, s, "DELETE", "/channels/"+general+"/messages/"+m.ID, reg.Token, nil, nil); code != 204 {
		t.Fatalf("delete: %d", code)
	}
	testkit.Eventually(t, 5*time.Second, func() bool { return !files.has(ref) }, "the deleted message's file is still stored")
}
