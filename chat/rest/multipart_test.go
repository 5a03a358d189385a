package rest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/parleyhq/parley/chat/model"
	"github.com/parleyhq/parley/chat/service"
	"github.com/parleyhq/parley/chat/store"
)

// fakeFiles is an attachment store in memory: it keeps any file, gives
// "image/*" ones a size, refuses content starting with "HEIC" as the
// media store does where libvips cannot decode it.
type fakeFiles struct {
	mu   sync.Mutex
	puts int
	// deleted are the refs deleted; channels the channels deleted.
	deleted  []string
	channels []model.Snowflake
	// gate, when set, is received from before each Put stores (a slow
	// store); entered is signalled as a Put begins.
	gate, entered chan struct{}
}

func (f *fakeFiles) Put(_ context.Context, channel model.Snowflake, filename, contentType string, r io.Reader) (model.Attachment, error) {
	if f.entered != nil {
		f.entered <- struct{}{}
	}
	if f.gate != nil {
		<-f.gate
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return model.Attachment{}, fmt.Errorf("reading: %w", err)
	}
	if bytes.HasPrefix(b, []byte("HEIC")) {
		return model.Attachment{}, fmt.Errorf("%w: HEIC images cannot be decoded here", service.ErrAttachmentRefused)
	}
	f.mu.Lock()
	f.puts++
	n := f.puts
	f.mu.Unlock()
	a := model.Attachment{Filename: filename, ContentType: contentType, Size: int64(len(b)), Ref: fmt.Sprintf("%d/%d/%s", channel, n, filename)}
	if strings.HasPrefix(contentType, "image/") {
		w, h := 4, 3
		a.Width, a.Height = &w, &h
	}
	return a, nil
}

func (f *fakeFiles) URLs(a model.Attachment) (string, string) {
	return "http://media.test/attachments/" + a.Ref + "?sig", "http://media.test/attachments/" + a.Ref + "?sig"
}

func (f *fakeFiles) Delete(_ context.Context, files []model.Attachment) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, a := range files {
		f.deleted = append(f.deleted, a.Ref)
	}
	return nil
}

func (f *fakeFiles) DeleteChannel(_ context.Context, channel model.Snowflake) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.channels = append(f.channels, channel)
	return nil
}

// count returns the files stored and the files deleted.
func (f *fakeFiles) count() (puts, deleted int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.puts, len(f.deleted)
}

// part is one part of a multipart body.
type part struct {
	name, filename, contentType, body string
}

// multipartBody encodes parts with boundary "BOUNDARY".
func multipartBody(parts ...part) []byte {
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	_ = w.SetBoundary("BOUNDARY")
	for _, p := range parts {
		h := textproto.MIMEHeader{}
		cd := fmt.Sprintf(`form-data; name=%q`, p.name)
		if p.filename != "" {
			cd += fmt.Sprintf(`; filename=%q`, p.filename)
		}
		h.Set("Content-Disposition", cd)
		if p.contentType != "" {
			h.Set("Content-Type", p.contentType)
		}
		pw, _ := w.CreatePart(h)
		_, _ = pw.Write([]byte(p.body))
	}
	_ = w.Close()
	return buf.Bytes()
}

// truncated returns b without its last n bytes.
func truncated(b []byte, n int) []byte { return b[:len(b)-n] }

// uploadServer is a REST server over a service whose attachment store is
// files (nil: none), with small limits and the spool in spool, and a
// user's token and #general.
func uploadServer(t *testing.T, files service.Attachments, spool string) (*Server, string, string) {
	t.Helper()
	ctx := context.Background()
	st, err := store.OpenSQLite(ctx, filepath.Join(t.TempDir(), "chat.db"), "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	svc, err := service.New(ctx, service.Config{Store: st, PasswordIterations: 1000, Attachments: files})
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Service: svc, GatewayURL: "ws://127.0.0.1:1", MaxFiles: 3, MaxFileBytes: 1 << 10, MaxBody: 4 << 10,
		Routes: map[string]Limit{routeCreateMessage: {Requests: -1}}, SpoolDir: spool})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	_, tok, err := svc.Register(ctx, "uploader", "password-uploader")
	if err != nil {
		t.Fatal(err)
	}
	chans, err := svc.GuildChannels(mustUser(t, svc, tok), svc.DefaultGuild())
	if err != nil {
		t.Fatal(err)
	}
	return s, tok, chans[0].ID.String()
}

func mustUser(t *testing.T, svc *service.Service, tok string) model.Snowflake {
	a, err := svc.Authenticate(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	return a.User.ID
}

// postForm sends body as a multipart message (contentLength -1: unknown,
// as a chunked body) and returns the status and decoded answer.
func postForm(t *testing.T, s *Server, tok, channel string, body io.Reader, contentLength int64, ct string) (int, map[string]any) {
	t.Helper()
	req := httptest.NewRequest("POST", "/api/v10/channels/"+channel+"/messages", body)
	req.ContentLength = contentLength
	req.Header.Set("Authorization", tok)
	req.Header.Set("Content-Type", ct)
	w := httptest.NewRecorder()
	s.ServeHTTP(w, req)
	var out map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
		t.Fatalf("answer %d %q: %v", w.Code, w.Body.String(), err)
	}
	return w.Code, out
}

// countingReader counts what is read of a body.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// errorCode digs the first _errors code at path out of a Discord error.
func errorCode(body map[string]any, path ...string) string {
	var cur any = body["errors"]
	for _, p := range path {
		m, _ := cur.(map[string]any)
		cur = m[p]
	}
	m, _ := cur.(map[string]any)
	list, _ := m["_errors"].([]any)
	if len(list) == 0 {
		return ""
	}
	e, _ := list[0].(map[string]any)
	return fmt.Sprint(e["code"], ": ", e["message"])
}

// TestMessageMultipart (issue 12): messages with files as discord.js and
// discordgo send them, and every way such a body can be wrong, each with
// Discord's answer and never a 500. A body refused stores nothing, a
// message that fails once its files are stored deletes them, and the
// spool is empty after every request.
func TestMessageMultipart(t *testing.T) {
	png := part{"files[0]", "cat.png", "image/png", "PNGDATA"}
	payload := func(js string) part { return part{"payload_json", "", "application/json", js} }
	const ct = "multipart/form-data; boundary=BOUNDARY"
	type want struct {
		status   int
		code     float64  // Discord's error code (0: success)
		errPath  []string // where the form error is
		errCode  string   // its code: message prefix
		files    int      // attachments on the message (success)
		puts     int      // files the store kept
		deleted  int      // of those, deleted again (the message failed)
		checkMsg func(t *testing.T, m map[string]any)
	}
	// withHeader is a part with an extra header of n bytes.
	withHeader := func(n int) []byte {
		return []byte("--BOUNDARY\r\nContent-Disposition: form-data; name=\"files[0]\"; filename=\"a.txt\"\r\nX-Pad: " +
			strings.Repeat("p", n) + "\r\n\r\nhello\r\n--BOUNDARY--\r\n")
	}
	tests := []struct {
		name string
		body []byte
		ct   string
		// length overrides Content-Length (0: the body's; -1: unknown).
		length int64
		noFile bool // a server without an attachment store
		want   want
	}{
		{name: "discordgo order", body: multipartBody(payload(`{"content":"look","attachments":[{"id":0,"description":"a cat"}]}`), png,
			part{"files[1]", "notes.txt", "text/plain; charset=utf-8", "hello"}),
			want: want{status: 200, files: 2, puts: 2, checkMsg: func(t *testing.T, m map[string]any) {
				atts := m["attachments"].([]any)
				a0, a1 := atts[0].(map[string]any), atts[1].(map[string]any)
				if m["content"] != "look" || a0["filename"] != "cat.png" || a0["description"] != "a cat" || a0["content_type"] != "image/png" ||
					a0["width"] != 4.0 || a0["height"] != 3.0 || a0["size"] != 7.0 || !strings.HasPrefix(a0["url"].(string), "http://media.test/") ||
					a0["proxy_url"] == "" || a0["ephemeral"] != false {
					t.Fatalf("image attachment %v", a0)
				}
				if a1["content_type"] != "text/plain" || a1["width"] != nil || a1["height"] != nil || a1["size"] != 5.0 {
					t.Fatalf("text attachment %v", a1)
				}
			}}},
		{name: "discord.js order", body: multipartBody(png, payload(`{"content":"x","attachments":[{"id":"0","description":"first"}]}`)),
			want: want{status: 200, files: 1, puts: 1, checkMsg: func(t *testing.T, m map[string]any) {
				if a := m["attachments"].([]any)[0].(map[string]any); a["description"] != "first" {
					t.Fatalf("attachment %v", a)
				}
			}}},
		{name: "missing payload_json", body: multipartBody(png), want: want{status: 200, files: 1, puts: 1, checkMsg: func(t *testing.T, m map[string]any) {
			if m["content"] != "" {
				t.Fatalf("content %v", m["content"])
			}
		}}},
		{name: "old discordgo file name", body: multipartBody(part{"file", "a.bin", "", "xyz"}), want: want{status: 200, files: 1, puts: 1}},
		{name: "sparse keys", body: multipartBody(part{"files[7]", "b.txt", "text/plain", "b"}, part{"files[2]", "a.txt", "text/plain", "a"},
			payload(`{"attachments":[{"id":"7","description":"bee"}]}`)),
			want: want{status: 200, files: 2, puts: 2, checkMsg: func(t *testing.T, m map[string]any) {
				atts := m["attachments"].([]any)
				if atts[0].(map[string]any)["filename"] != "a.txt" || atts[1].(map[string]any)["description"] != "bee" {
					t.Fatalf("attachments %v", atts)
				}
			}}},
		{name: "empty file", body: multipartBody(part{"files[0]", "empty.txt", "", ""}), want: want{status: 200, files: 1, puts: 1}},
		{name: "too many files", body: multipartBody(png, part{"files[1]", "b", "", "b"}, part{"files[2]", "c", "", "c"}, part{"files[3]", "d", "", "d"}),
			want: want{status: 400, code: 50035, errPath: []string{"files"}, errCode: "BASE_TYPE_MAX_LENGTH"}},
		{name: "too big by Content-Length", body: multipartBody(png), length: 1 << 30, want: want{status: 413, code: 40005}},
		{name: "too big while streaming", body: multipartBody(payload(`{"content":"x"}`), part{"files[0]", "big.bin", "", strings.Repeat("x", 1<<10+1)}),
			length: -1, want: want{status: 413, code: 40005}},
		{name: "exactly at the file limit", body: multipartBody(part{"files[0]", "full.bin", "", strings.Repeat("x", 1<<10)}),
			want: want{status: 200, files: 1, puts: 1}},
		{name: "payload_json too big", body: multipartBody(payload(`{"content":"` + strings.Repeat("a", 5<<10) + `"}`)), want: want{status: 413, code: 40005}},
		{name: "bad JSON", body: multipartBody(payload(`{"content":`), png), want: want{status: 400, code: 50109}},
		{name: "JSON of the wrong type", body: multipartBody(payload(`{"content":5}`)), want: want{status: 400, code: 50035, errPath: []string{"content"}, errCode: "BASE_TYPE_BAD_TYPE"}},
		{name: "unknown field", body: multipartBody(part{"content", "", "", "hi"}), want: want{status: 400, code: 50035, errCode: "FORM_FIELD_UNKNOWN"}},
		{name: "bad file key", body: multipartBody(part{"files[x]", "a", "", "a"}), want: want{status: 400, code: 50035, errCode: "FORM_FIELD_UNKNOWN"}},
		{name: "duplicate file key", body: multipartBody(png, png), want: want{status: 400, code: 50035, errPath: []string{"files", "0"}, errCode: "BASE_TYPE_DUPLICATE"}},
		{name: "duplicate payload_json", body: multipartBody(payload(`{}`), payload(`{}`)), want: want{status: 400, code: 50035, errPath: []string{"payload_json"}, errCode: "BASE_TYPE_DUPLICATE"}},
		{name: "attachment naming no file", body: multipartBody(png, payload(`{"attachments":[{"id":"3"}]}`)),
			want: want{status: 400, code: 50035, errPath: []string{"attachments", "0", "id"}, errCode: "ATTACHMENT_NOT_FOUND"}},
		{name: "description too long", body: multipartBody(png, payload(`{"attachments":[{"id":0,"description":"`+strings.Repeat("d", 1025)+`"}]}`)),
			want: want{status: 400, code: 50035, errPath: []string{"attachments", "0", "description"}, errCode: "BASE_TYPE_MAX_LENGTH"}},
		{name: "content too long", body: multipartBody(png, payload(`{"content":"`+strings.Repeat("c", 2001)+`"}`)),
			want: want{status: 400, code: 50035, errPath: []string{"content"}, errCode: "BASE_TYPE_MAX_LENGTH"}},
		{name: "store refuses the image", body: multipartBody(part{"files[0]", "p.heic", "image/heic", "HEIC..."}),
			want: want{status: 400, code: 50035, errPath: []string{"files", "0"}, errCode: "ATTACHMENT_REFUSED: HEIC images cannot be decoded here"}},
		{name: "store refuses the second file", body: multipartBody(png, part{"files[1]", "p.heic", "image/heic", "HEIC..."}),
			want: want{status: 400, code: 50035, errPath: []string{"files", "1"}, errCode: "ATTACHMENT_REFUSED", puts: 1, deleted: 1}},
		{name: "no boundary", body: multipartBody(png), ct: "multipart/form-data", want: want{status: 400, code: 50035, errCode: "MULTIPART_INVALID"}},
		{name: "truncated in a file", body: truncated(multipartBody(png), 20), want: want{status: 400, code: 50035, errCode: "MULTIPART_INVALID"}},
		{name: "part headers within the overhead", body: withHeader(12 << 10), want: want{status: 200, files: 1, puts: 1}},
		{name: "part headers too large", body: withHeader(20 << 10), want: want{status: 400, code: 50035, errCode: "MULTIPART_HEADERS_TOO_LARGE"}},
		{name: "preamble too large", body: append([]byte(strings.Repeat(strings.Repeat("x", 98)+"\r\n", 200)), multipartBody(png)...),
			want: want{status: 400, code: 50035, errCode: "MULTIPART_HEADERS_TOO_LARGE"}},
		{name: "empty message", body: multipartBody(payload(`{"content":" "}`)), want: want{status: 400, code: 50006}},
		{name: "attachments disabled", body: multipartBody(png), noFile: true, want: want{status: 400, code: 50035, errPath: []string{"files"}, errCode: "ATTACHMENTS_DISABLED"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			files := &fakeFiles{}
			var store service.Attachments = files
			if tc.noFile {
				store = nil
			}
			spool := t.TempDir()
			s, tok, general := uploadServer(t, store, spool)
			ctype := ct
			if tc.ct != "" {
				ctype = tc.ct
			}
			length := int64(len(tc.body))
			if tc.length != 0 {
				length = tc.length
			}
			body := &countingReader{r: bytes.NewReader(tc.body)}
			status, m := postForm(t, s, tok, general, body, length, ctype)
			w := tc.want
			if status != w.status || (w.code != 0 && m["code"] != w.code) {
				t.Fatalf("status %d %v, want %d code %v", status, m, w.status, w.code)
			}
			if w.errCode != "" {
				if got := errorCode(m, w.errPath...); !strings.HasPrefix(got, w.errCode) {
					t.Fatalf("error at %v: %q, want %q (%v)", w.errPath, got, w.errCode, m)
				}
			}
			if status == 200 {
				if atts, _ := m["attachments"].([]any); len(atts) != w.files {
					t.Fatalf("%d attachments, want %d: %v", len(atts), w.files, m)
				}
				if w.checkMsg != nil {
					w.checkMsg(t, m)
				}
			}
			if puts, deleted := files.count(); puts != w.puts || deleted != w.deleted {
				t.Fatalf("the store kept %d files and deleted %d, want %d and %d", puts, deleted, w.puts, w.deleted)
			}
			// Refusals are counted, and so are the files they deleted.
			want := Stats{}
			if status != 200 {
				want.UploadsRefused, want.FilesDiscarded = 1, uint64(w.deleted)
			}
			if st := s.Stats(); st.UploadsRefused != want.UploadsRefused || st.FilesDiscarded != want.FilesDiscarded {
				t.Fatalf("stats %+v, want %d refused and %d discarded", st, want.UploadsRefused, want.FilesDiscarded)
			}
			if tc.length > int64(len(tc.body)) && body.n != 0 {
				t.Fatalf("read %d bytes of a body declared too large", body.n)
			}
			if left, _ := os.ReadDir(spool); len(left) != 0 {
				t.Fatalf("spool holds %d files after the request", len(left))
			}
		})
	}
}

// TestSlowUploadHoldsNoSlot: a client trickling a file in holds nothing
// shared while it does: another user's message with a file is stored and
// answered meanwhile (the file is received before the store is asked).
func TestSlowUploadHoldsNoSlot(t *testing.T) {
	files := &fakeFiles{entered: make(chan struct{}, 8)}
	s, tok, general := uploadServer(t, files, t.TempDir())
	pr, pw := io.Pipe()
	t.Cleanup(func() { _ = pw.CloseWithError(io.ErrUnexpectedEOF) }) // ends the slow request if the test fails first
	slow := make(chan int, 1)
	go func() { // owned by the test: it ends once pw is closed below
		req := httptest.NewRequest("POST", "/api/v10/channels/"+general+"/messages", pr)
		req.Header.Set("Authorization", tok)
		req.Header.Set("Content-Type", "multipart/form-data; boundary=BOUNDARY")
		w := httptest.NewRecorder()
		s.ServeHTTP(w, req)
		slow <- w.Code
	}()
	body := multipartBody(part{"files[0]", "slow.bin", "", "0123456789"})
	if _, err := pw.Write(body[:len(body)/2]); err != nil { // the handler is reading its file part
		t.Fatal(err)
	}
	status, m := postForm(t, s, tok, general, bytes.NewReader(multipartBody(part{"files[0]", "fast.txt", "text/plain", "fast"})), -1,
		"multipart/form-data; boundary=BOUNDARY")
	if status != 200 || len(files.entered) != 1 {
		t.Fatalf("a message with a file beside a slow upload: %d %v, %d Puts", status, m, len(files.entered))
	}
	if _, err := pw.Write(body[len(body)/2:]); err != nil {
		t.Fatal(err)
	}
	_ = pw.Close()
	if got := <-slow; got != 200 {
		t.Fatalf("the slow upload: %d", got)
	}
}

// FuzzParseMessageForm: whatever the body, the parser stays within its
// limits (files, bytes per file, bytes read in all), answers with a
// Discord error (400 or 413) or a message whose attachments entries name
// files it kept, and never panics.
func FuzzParseMessageForm(f *testing.F) {
	for _, b := range [][]byte{
		multipartBody(part{"payload_json", "", "application/json", `{"content":"hi","attachments":[{"id":"0","description":"d"}]}`},
			part{"files[0]", "a.png", "image/png", "PNG"}),
		multipartBody(part{"files[1]", "b", "", "bb"}, part{"file", "a", "", "a"}, part{"payload_json", "", "", `{"attachments":[{"id":1}]}`}),
		multipartBody(part{"file0", "x", "", strings.Repeat("z", 80)}),
		multipartBody(part{"weird", "", "", "?"}),
		[]byte("--BOUNDARY\r\nContent-Disposition: form-data; name=\"files[0]\"\r\n\r\nabc"),
		[]byte("--BOUNDARY\r\nContent-Disposition: form-data; name=\"file\"\r\nX: " + strings.Repeat("h", 17<<10) + "\r\n\r\nabc\r\n--BOUNDARY--"),
		{},
	} {
		f.Add(b)
	}
	lim := formLimits{files: 3, fileBytes: 64, payload: 256, total: 1024}
	spool := f.TempDir()
	f.Fuzz(func(t *testing.T, body []byte) {
		src := &countingReader{r: bytes.NewReader(body)}
		form, err := readUploadForm(src, "BOUNDARY", lim, func() (*os.File, error) { return os.CreateTemp(spool, "f-*") })
		if int64(src.n) > lim.total+1 {
			t.Fatalf("read %d bytes, limit %d", src.n, lim.total)
		}
		if err != nil {
			var ae apiError
			if !errors.As(err, &ae) || (ae.status != http.StatusBadRequest && ae.status != http.StatusRequestEntityTooLarge) {
				t.Fatalf("error %v (%T) is not a 400 or 413", err, err)
			}
			if left, _ := os.ReadDir(spool); len(left) != 0 {
				t.Fatalf("a refused body left %d spooled files", len(left))
			}
			return
		}
		defer func() {
			form.close()
			if left, _ := os.ReadDir(spool); len(left) != 0 {
				t.Fatalf("close left %d spooled files", len(left))
			}
		}()
		if len(form.files) > lim.files {
			t.Fatalf("kept %d files, limit %d", len(form.files), lim.files)
		}
		for _, f := range form.files {
			if fi, err := f.f.Stat(); err != nil || f.size > lim.fileBytes || fi.Size() != f.size {
				t.Fatalf("spooled a file of %d bytes (%d on disk, %v), limit %d", f.size, fi.Size(), err, lim.fileBytes)
			}
		}
		for _, ref := range form.req.Attachments {
			if uint64(ref.ID) >= uint64(len(form.files)) {
				t.Fatalf("attachments entry %d names no file of %d", ref.ID, len(form.files))
			}
		}
	})
}
