package main

import (
	"bytes"
	"compress/zlib"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"image"
	"image/png"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/chat"
	"github.com/parleyhq/parley/chat/model"
	"github.com/parleyhq/parley/chat/rest"
	"github.com/parleyhq/parley/chat/service"
	"github.com/parleyhq/parley/chat/store"
	"github.com/parleyhq/parley/internal/testkit"
	"github.com/parleyhq/parley/mediaproxy"
)

// pngOf encodes a w×h grey PNG.
func pngOf(t testing.TB, w, h int) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewGray(image.Rect(0, 0, w, h))); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestChatAttachmentsAdapter: chat's attachment store over the media
// proxy's keeps images with their size and format, refuses what the proxy
// would not serve with the store's reason, and signs URLs the proxy
// verifies, stable within a signing window; other files are kept as
// files.
func TestChatAttachmentsAdapter(t *testing.T) {
	st, err := mediaproxy.OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	key := bytes.Repeat([]byte{9}, 32)
	signer, err := mediaproxy.NewSigner(key)
	if err != nil {
		t.Fatal(err)
	}
	a := newChatAttachments(st, signer, mediaproxy.DefaultLimits(), 24*time.Hour, func() string { return "http://media.test" })
	now := time.Date(2026, 5, 1, 10, 20, 0, 0, time.UTC)
	a.now = func() time.Time { return now }
	ctx := context.Background()
	const channel model.Snowflake = 1234567

	img, err := a.Put(ctx, channel, "../cat.png", "image/png", bytes.NewReader(pngOf(t, 64, 48)))
	if err != nil {
		t.Fatal(err)
	}
	if img.ID == 0 || img.Filename != "cat.png" || img.ContentType != "image/png" || img.Width == nil || *img.Width != 64 ||
		*img.Height != 48 || img.Size == 0 || !strings.HasPrefix(img.Ref, "1234567/") {
		t.Fatalf("stored %+v", img)
	}
	u, proxy := a.URLs(img)
	if u != proxy || !strings.HasPrefix(u, "http://media.test/attachments/1234567/"+img.ID.String()+"/cat.png?") {
		t.Fatalf("URLs %q %q", u, proxy)
	}
	pu, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	q := pu.Query()
	if err := signer.VerifyAttachment("1234567", img.ID.String(), "cat.png", q.Get("ex"), q.Get("is"), q.Get("hm"), now); err != nil {
		t.Fatalf("the proxy refuses the URL: %v", err)
	}
	now = now.Add(30 * time.Minute) // same window: same URL (browsers cache it)
	if again, _ := a.URLs(img); again != u {
		t.Fatalf("re-signed within the window: %q, then %q", u, again)
	}
	now = now.Add(time.Hour)
	if later, _ := a.URLs(img); later == u {
		t.Fatal("the next window's URL is the same")
	}

	refused := []struct {
		name, file string
		data       []byte
		reason     string
	}{
		{"truncated image", "bad.png", pngOf(t, 64, 48)[:40], "undecodable"},
		{"image bomb", "bomb.png", pngBomb(100000, 100000), "exceeds"},
	}
	for _, tc := range refused {
		_, err := a.Put(ctx, channel, tc.file, "", bytes.NewReader(tc.data))
		if !errors.Is(err, service.ErrAttachmentRefused) || !strings.Contains(err.Error(), tc.reason) || strings.Contains(err.Error(), "mediaproxy:") {
			t.Errorf("%s: %v, want a refusal saying %q", tc.name, err, tc.reason)
		}
	}
	// Anything else is kept as a file, with the type its bytes show.
	txt, err := a.Put(ctx, channel, "notes.txt", "image/png", bytes.NewReader([]byte("plain text")))
	if err != nil || txt.Width != nil || !strings.HasPrefix(txt.ContentType, "text/plain") || txt.Size != 10 {
		t.Fatalf("a text file: %+v, %v", txt, err)
	}
	// A reader that fails is the transport's error, passed on as is.
	boom := errors.New("client went away")
	if _, err := a.Put(ctx, channel, "x.png", "", io.MultiReader(bytes.NewReader([]byte("\x89PNG")), errReader{boom})); !errors.Is(err, boom) {
		t.Fatalf("failing reader: %v", err)
	}
	// While every slot is taken, a Put waits for one, bounded by its context.
	for range cap(a.slots) {
		a.slots <- struct{}{}
	}
	cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := a.Put(cctx, channel, "late.png", "", bytes.NewReader(pngOf(t, 2, 2))); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Put with no slot free: %v", err)
	}
}

// TestChatAttachmentsDelete: Delete and DeleteChannel remove the records
// behind chat's attachments (the media store then has none), ignore refs
// that name none, and stop at a cancelled context.
func TestChatAttachmentsDelete(t *testing.T) {
	st, err := mediaproxy.OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := mediaproxy.NewSigner(bytes.Repeat([]byte{9}, 32))
	a := newChatAttachments(st, signer, mediaproxy.DefaultLimits(), 24*time.Hour, func() string { return "http://media.test" })
	ctx := context.Background()
	put := func(channel model.Snowflake, name string) model.Attachment {
		t.Helper()
		m, err := a.Put(ctx, channel, name, "", strings.NewReader("bytes of "+name))
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	stored := func(m model.Attachment) bool {
		channel, rest, _ := strings.Cut(m.Ref, "/")
		id, _, _ := strings.Cut(rest, "/")
		_, err := st.Get(channel, id)
		return err == nil
	}
	one, two, three, other := put(1, "one.txt"), put(1, "two.txt"), put(1, "three.txt"), put(2, "other.txt")
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	cases := []struct {
		name   string
		do     func() error
		gone   []model.Attachment
		kept   []model.Attachment
		failed bool
	}{
		{"cancelled", func() error { return a.Delete(cancelled, []model.Attachment{one}) }, nil, []model.Attachment{one}, true},
		{"one file, and a ref naming none", func() error {
			return a.Delete(ctx, []model.Attachment{one, {Ref: "nonsense"}, {Ref: "1/999/x"}})
		}, []model.Attachment{one}, []model.Attachment{two, three, other}, false},
		{"a channel", func() error { return a.DeleteChannel(ctx, 1) }, []model.Attachment{two, three}, []model.Attachment{other}, false},
	}
	for _, c := range cases {
		if err := c.do(); (err != nil) != c.failed {
			t.Fatalf("%s: %v", c.name, err)
		}
		for _, m := range c.gone {
			if stored(m) {
				t.Fatalf("%s: %s still stored", c.name, m.Ref)
			}
		}
		for _, m := range c.kept {
			if !stored(m) {
				t.Fatalf("%s: %s deleted", c.name, m.Ref)
			}
		}
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// pngBomb is a small PNG declaring w×h (grey) over a few zero bytes.
func pngBomb(w, h uint32) []byte {
	chunk := func(typ string, data []byte) []byte {
		var b bytes.Buffer
		_ = binary.Write(&b, binary.BigEndian, uint32(len(data)))
		b.WriteString(typ)
		b.Write(data)
		_ = binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(append([]byte(typ), data...)))
		return b.Bytes()
	}
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr, w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8] = 8
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	_, _ = zw.Write(make([]byte, 64))
	_ = zw.Close()
	out := []byte("\x89PNG\r\n\x1a\n")
	out = append(out, chunk("IHDR", ihdr)...)
	out = append(out, chunk("IDAT", z.Bytes())...)
	return append(out, chunk("IEND", nil)...)
}

// TestChatAttachmentsServe (issue 12): under `parley serve` with chat and
// media, a user posts an image as Discord's multipart message; the
// message carries the attachment with URLs the media proxy serves
// (resized on request), and a file the store refuses is a 400 with its
// reason.
func TestChatAttachmentsServe(t *testing.T) {
	dir := t.TempDir()
	_, ready := startServe(t, dir, "--only", "chat,media")
	api, _ := ready["api"].(string)
	media, _ := ready["media"].(string)
	if api == "" || media == "" {
		t.Fatalf("ready %v", ready)
	}
	var reg struct{ Token string }
	if code := chatCall(t, api, "POST", "/auth/register", "", map[string]string{"username": "painter", "password": "painter-pw"}, &reg); code != 201 {
		t.Fatalf("register %d", code)
	}
	var guilds []struct{ ID string }
	chatCall(t, api, "GET", "/users/@me/guilds", reg.Token, nil, &guilds)
	var chans []struct{ ID, Name string }
	chatCall(t, api, "GET", "/guilds/"+guilds[0].ID+"/channels", reg.Token, nil, &chans)
	general := chans[0].ID

	post := func(name string, data []byte) (int, map[string]any) {
		t.Helper()
		var body bytes.Buffer
		w := multipart.NewWriter(&body)
		_ = w.WriteField("payload_json", `{"content":"a picture","attachments":[{"id":"0","description":"grey"}]}`)
		fw, _ := w.CreateFormFile("files[0]", name)
		_, _ = fw.Write(data)
		_ = w.Close()
		req, _ := http.NewRequest("POST", "http://"+api+"/api/v10/channels/"+general+"/messages", &body)
		req.Header.Set("Authorization", reg.Token)
		req.Header.Set("Content-Type", w.FormDataContentType())
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		b, _ := io.ReadAll(resp.Body)
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatalf("answer %d %q", resp.StatusCode, b)
		}
		return resp.StatusCode, out
	}
	code, msg := post("grey.png", pngOf(t, 64, 48))
	atts, _ := msg["attachments"].([]any)
	if code != 200 || len(atts) != 1 {
		t.Fatalf("post: %d %v", code, msg)
	}
	att := atts[0].(map[string]any)
	if att["filename"] != "grey.png" || att["content_type"] != "image/png" || att["width"] != 64.0 || att["height"] != 48.0 ||
		att["description"] != "grey" || att["size"] == 0.0 {
		t.Fatalf("attachment %v", att)
	}
	proxy, _ := att["proxy_url"].(string)
	if !strings.HasPrefix(proxy, "http://"+media+"/attachments/"+general+"/") {
		t.Fatalf("proxy_url %q is not on the media listener %s", proxy, media)
	}
	resp, err := http.Get(proxy + "&width=16&format=png")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || mediaproxy.Sniff(body) != mediaproxy.FormatPNG {
		t.Fatalf("GET proxy_url: %d %q", resp.StatusCode, body[:min(len(body), 64)])
	}
	// The history carries it too, signed afresh.
	var history []struct {
		Attachments []struct {
			ID, URL string
		}
	}
	chatCall(t, api, "GET", "/channels/"+general+"/messages?limit=1", reg.Token, nil, &history)
	if len(history) != 1 || len(history[0].Attachments) != 1 || history[0].Attachments[0].URL == "" || history[0].Attachments[0].ID != att["id"] {
		t.Fatalf("history %+v", history)
	}
	code, refused := post("broken.png", pngOf(t, 64, 48)[:40])
	if got := fmt.Sprint(refused["errors"]); code != 400 || refused["code"] != 50035.0 || !strings.Contains(got, "undecodable") {
		t.Fatalf("a broken image: %d %v", code, refused)
	}
	// Deleted with its message: its URLs answer 404, the variant served
	// above notwithstanding.
	if code := chatCall(t, api, "DELETE", "/channels/"+general+"/messages/"+msg["id"].(string), reg.Token, nil, nil); code != 204 {
		t.Fatalf("delete: %d", code)
	}
	testkit.Eventually(t, 10*time.Second, func() bool {
		resp, err := http.Get(proxy + "&width=16&format=png")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 404
	}, "the deleted message's attachment is still served")
	http.DefaultClient.CloseIdleConnections()
}

// TestChatAttachmentFlags: --chat-max-files 0 turns attachments off, so
// does running chat without the media proxy (their URLs would serve
// nothing), and --chat-max-file-bytes above --media-max-bytes is clamped
// to it.
func TestChatAttachmentFlags(t *testing.T) {
	small := pngOf(t, 8, 8)
	tests := []struct {
		name   string
		flags  []string
		file   []byte
		status int
		want   string // in the answer
	}{
		{"attachments off", []string{"--chat-max-files", "0"}, small, 400, "ATTACHMENTS_DISABLED"},
		{"no media proxy in this process", []string{"--only", "chat"}, small, 400, "ATTACHMENTS_DISABLED"},
		{"web but no media proxy", []string{"--only", "chat,web"}, small, 400, "ATTACHMENTS_DISABLED"},
		{"clamped to the media limit", []string{"--chat-max-file-bytes", "100000", "--media-max-bytes", fmt.Sprint(len(small) - 1)}, small, 413, "40005"},
		{"within both", []string{"--chat-max-file-bytes", fmt.Sprint(len(small)), "--media-max-bytes", fmt.Sprint(len(small))}, small, 200, `"width":8`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, ready := startServe(t, t.TempDir(), append([]string{"--only", "chat,media"}, tc.flags...)...)
			api, _ := ready["api"].(string)
			var reg struct{ Token string }
			chatCall(t, api, "POST", "/auth/register", "", map[string]string{"username": "flagger", "password": "flagger-pw"}, &reg)
			var guilds []struct{ ID string }
			chatCall(t, api, "GET", "/users/@me/guilds", reg.Token, nil, &guilds)
			var chans []struct{ ID string }
			chatCall(t, api, "GET", "/guilds/"+guilds[0].ID+"/channels", reg.Token, nil, &chans)
			var body bytes.Buffer
			w := multipart.NewWriter(&body)
			fw, _ := w.CreateFormFile("files[0]", "a.png")
			_, _ = fw.Write(tc.file)
			_ = w.Close()
			req, _ := http.NewRequest("POST", "http://"+api+"/api/v10/channels/"+chans[0].ID+"/messages", &body)
			req.Header.Set("Authorization", reg.Token)
			req.Header.Set("Content-Type", w.FormDataContentType())
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status || !strings.Contains(string(b), tc.want) {
				t.Fatalf("%d %s, want %d with %s", resp.StatusCode, b, tc.status, tc.want)
			}
			http.DefaultClient.CloseIdleConnections()
		})
	}
}

// TestTricklingUploadsBlockNoOne (review of issue 12): uploads trickling
// in, as many as the store has slots, hold none of them (their files wait
// in the spool, read without a slot), so another user's image is stored
// and answered meanwhile; when they give up, the spool is emptied.
func TestTricklingUploadsBlockNoOne(t *testing.T) {
	testkit.NoLeaks(t)
	st, err := mediaproxy.OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := mediaproxy.NewSigner(bytes.Repeat([]byte{9}, 32))
	files := newChatAttachments(st, signer, mediaproxy.DefaultLimits(), 24*time.Hour, func() string { return "http://media.test" })
	spool := t.TempDir()
	srv, err := chat.New(chat.Config{Store: store.Config{SQLitePath: filepath.Join(t.TempDir(), "chat.db")}, PasswordIterations: 1000,
		Attachments: files, SpoolDir: spool, REST: rest.Config{Routes: map[string]rest.Limit{"POST /channels/{channel}/messages": {Requests: -1}}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Close(ctx)
		http.DefaultClient.CloseIdleConnections()
	})
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	api := srv.APIAddr()
	var reg struct{ Token string }
	chatCall(t, api, "POST", "/auth/register", "", map[string]string{"username": "waiter", "password": "waiter-pw"}, &reg)
	var chans []struct{ ID string }
	chatCall(t, api, "GET", "/guilds/"+srv.Service.DefaultGuild().String()+"/channels", reg.Token, nil, &chans)
	path := "/api/v10/channels/" + chans[0].ID + "/messages"

	body := func(data []byte) (*bytes.Buffer, string) {
		var b bytes.Buffer
		w := multipart.NewWriter(&b)
		fw, _ := w.CreateFormFile("files[0]", "a.png")
		_, _ = fw.Write(data)
		_ = w.Close()
		return &b, w.FormDataContentType()
	}
	var slow []net.Conn
	for range attachmentSlots {
		b, ct := body(bytes.Repeat([]byte("slow"), 16<<10))
		c, err := net.Dial("tcp", api)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		slow = append(slow, c)
		head := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: x\r\nAuthorization: %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n", path, reg.Token, ct, b.Len())
		if _, err := c.Write(append([]byte(head), b.Bytes()[:b.Len()/2]...)); err != nil { // half the file: the rest never comes
			t.Fatal(err)
		}
	}
	testkit.Eventually(t, 10*time.Second, func() bool {
		left, _ := os.ReadDir(spool)
		return len(left) == attachmentSlots
	}, "the trickling uploads are not being received")
	if n := len(files.slots); n != 0 {
		t.Fatalf("%d store slots held by uploads still being received", n)
	}
	b, ct := body(pngOf(t, 8, 8))
	req, _ := http.NewRequest("POST", "http://"+api+path, b)
	req.Header.Set("Authorization", reg.Token)
	req.Header.Set("Content-Type", ct)
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(out), `"width":8`) {
		t.Fatalf("an image beside trickling uploads: %d %s", resp.StatusCode, out)
	}
	for _, c := range slow {
		_ = c.Close()
	}
	testkit.Eventually(t, 10*time.Second, func() bool {
		left, _ := os.ReadDir(spool)
		return len(left) == 0
	}, "the abandoned uploads' files stay in the spool")
}
