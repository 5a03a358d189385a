package rest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/parleyhq/parley/chat/model"
	"github.com/parleyhq/parley/chat/service"
)

// A message with files is POSTed as multipart/form-data, as Discord's:
// a payload_json part holding the JSON body (whose "attachments" may
// name files by index: [{id: 0, description}]) and one part per file,
// named files[N] (discord.js, discordgo), fileN or file (older
// discordgo). The body is read whole, part by part as it streams in,
// before anything is stored: payload_json into memory (Config.MaxBody),
// each file into a temporary file of Config.SpoolDir (Config.MaxFileBytes
// each, Config.MaxFiles of them), the whole body within uploadLimit and
// what lies between two part bodies (a boundary, a part's headers) within
// partOverhead. A body declared larger than uploadLimit is refused before
// anything is read. Then payload_json is decoded and the message checked
// (Service.CheckMessage), and only then are the files stored
// (Service.PutAttachment), so a body refused stores nothing; files stored
// for a message that then fails are deleted (Service.DeleteAttachments).
// Receiving holds nothing shared: a slow client costs only its own
// connection and spool space, never another user's upload.

// partOverhead is what the limit on a whole multipart body allows per part
// beyond its content: boundary and part headers. It also bounds the bytes
// between two part bodies (Go's reader would take 10 MiB of headers).
const partOverhead = 16 << 10

// maxFileKey bounds N in files[N]: indexes are small (discord.js and
// discordgo count from 0), and the key is parsed, never kept as text.
const maxFileKey = 9999

// formLimits bound one multipart message body.
type formLimits struct {
	files     int   // file parts
	fileBytes int64 // bytes per file
	payload   int64 // bytes of payload_json
	total     int64 // bytes of the whole body
}

// uploadLimit is the largest multipart message body: every file at its
// limit, payload_json at its, and each part's headers.
func (c Config) uploadLimit() int64 {
	return int64(c.MaxFiles)*c.MaxFileBytes + c.MaxBody + int64(c.MaxFiles+1)*partOverhead
}

func (c Config) formLimits() formLimits {
	return formLimits{files: c.MaxFiles, fileBytes: c.MaxFileBytes, payload: c.MaxBody, total: c.uploadLimit()}
}

// putError is a failure of Service.PutAttachment for the file part
// files[key].
type putError struct {
	key int
	err error
}

func (e *putError) Error() string { return fmt.Sprintf("files[%d]: %v", e.key, e.err) }
func (e *putError) Unwrap() error { return e.err }

// limitReader reads at most left bytes of r: a read past them fails with
// errTooLarge and sets over. Any other read error (not EOF) is kept in
// failed, so a failure of the client's body is told apart from one of
// whoever reads it.
type limitReader struct {
	r      io.Reader
	left   int64
	over   bool
	failed error
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.over {
		return 0, errTooLarge
	}
	if int64(len(p)) > l.left+1 {
		p = p[:l.left+1] // one byte more than allowed tells "exactly at the limit" from "over"
	}
	n, err := l.r.Read(p)
	if int64(n) > l.left {
		n, l.left, l.over = int(l.left), 0, true
		return n, errTooLarge
	}
	l.left -= int64(n)
	if err != nil && err != io.EOF {
		l.failed = err
	}
	return n, err
}

// gapReader is the body as the multipart reader reads it. While it looks
// for the next part (inGap: a boundary, a part's headers, a preamble) it
// may take at most partOverhead bytes; a read past them fails and sets
// over. Part bodies are bounded by their own limits.
type gapReader struct {
	r     io.Reader
	inGap bool
	left  int64
	over  bool
}

func (g *gapReader) gap(on bool) { g.inGap, g.left = on, partOverhead }

func (g *gapReader) Read(p []byte) (int, error) {
	if !g.inGap {
		return g.r.Read(p)
	}
	if g.over {
		return 0, errPartHeaders
	}
	if int64(len(p)) > g.left+1 {
		p = p[:g.left+1]
	}
	n, err := g.r.Read(p)
	if int64(n) > g.left {
		g.left, g.over = 0, true
		return 0, errPartHeaders
	}
	g.left -= int64(n)
	return n, err
}

// fileKey parses a file part's name: files[N], fileN or file (N = 0).
func fileKey(name string) (int, bool) {
	var digits string
	switch {
	case name == "file":
		return 0, true
	case strings.HasPrefix(name, "files[") && strings.HasSuffix(name, "]"):
		digits = name[len("files[") : len(name)-1]
	case strings.HasPrefix(name, "file"):
		digits = name[len("file"):]
	default:
		return 0, false
	}
	if len(digits) == 0 || len(digits) > 4 || (len(digits) > 1 && digits[0] == '0') {
		return 0, false
	}
	n, err := strconv.Atoi(digits)
	if err != nil || n < 0 || n > maxFileKey {
		return 0, false
	}
	return n, true
}

var (
	errMultipart   = formError("", "MULTIPART_INVALID", "The multipart body could not be read.")
	errPartHeaders = formError("", "MULTIPART_HEADERS_TOO_LARGE", "A part's boundary and headers must fit in "+strconv.Itoa(partOverhead>>10)+" KiB.")
	errFieldName   = formError("", "FORM_FIELD_UNKNOWN", "Only payload_json and files[N] parts are accepted.")
	errDupPayload  = formError("payload_json", "BASE_TYPE_DUPLICATE", "payload_json was sent twice.")
	errNoFiles     = formError("files", "ATTACHMENTS_DISABLED", "Attachments are not enabled on this server.")
)

func tooManyFiles(n int) apiError {
	return formError("files", "BASE_TYPE_MAX_LENGTH", "Must be "+strconv.Itoa(n)+" or fewer in length.")
}

// spooledFile is one file part, read to a temporary file.
type spooledFile struct {
	key                   int
	filename, contentType string
	f                     *os.File
	size                  int64
}

// uploadForm is a multipart message body read whole: the message (its
// Files not stored yet) and its files in files[N] order, spooled. close
// removes them.
type uploadForm struct {
	req   service.MessageCreate
	files []spooledFile
}

func (u *uploadForm) close() {
	for _, f := range u.files {
		_ = f.f.Close()
		_ = os.Remove(f.f.Name())
	}
	u.files = nil
}

// readUploadForm reads a multipart message body from body (boundary: the
// Content-Type's) within lim, each file into a new file of spool. It
// returns the message body, whose attachments entries name positions
// among the files, and the files in files[N] order; the caller closes the
// form. Errors are apiErrors (the client's body: 400, or 413 past a
// limit), or the spool's (the server's); a failed read leaves no file.
func readUploadForm(body io.Reader, boundary string, lim formLimits, spool func() (*os.File, error)) (_ *uploadForm, err error) {
	total := &limitReader{r: body, left: lim.total}
	gap := &gapReader{r: total}
	mr := multipart.NewReader(gap, boundary)
	form := &uploadForm{}
	defer func() {
		if err != nil {
			form.close()
		}
	}()
	// readErr is the error for a failed read: 413 past a limit, 400 for
	// headers too large, else a malformed body.
	readErr := func(part *limitReader) error {
		switch {
		case total.over || (part != nil && part.over):
			return errTooLarge
		case gap.over:
			return errPartHeaders
		}
		return errMultipart
	}
	var payload []byte
	for {
		gap.gap(true)
		p, err := mr.NextPart()
		gap.gap(false)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, readErr(nil)
		}
		name := p.FormName()
		key, isFile := fileKey(name)
		switch {
		case name == "payload_json":
			if payload != nil {
				return nil, errDupPayload
			}
			pr := &limitReader{r: p, left: lim.payload}
			if payload, err = io.ReadAll(pr); err != nil {
				return nil, readErr(pr)
			}
			if len(payload) == 0 {
				payload = []byte("{}")
			}
		case isFile:
			if len(form.files) == lim.files {
				return nil, tooManyFiles(lim.files)
			}
			if slices.ContainsFunc(form.files, func(f spooledFile) bool { return f.key == key }) {
				return nil, formError("files."+strconv.Itoa(key), "BASE_TYPE_DUPLICATE", "This file was sent twice.")
			}
			f, err := spool()
			if err != nil {
				return nil, fmt.Errorf("rest: spool: %w", err)
			}
			form.files = append(form.files, spooledFile{key: key, filename: p.FileName(), contentType: p.Header.Get("Content-Type"), f: f})
			pr := &limitReader{r: p, left: lim.fileBytes}
			n, err := io.Copy(f, pr)
			switch {
			case pr.over || total.over || gap.over || pr.failed != nil:
				return nil, readErr(pr)
			case err != nil:
				return nil, fmt.Errorf("rest: spool: %w", err) // the file's write
			}
			form.files[len(form.files)-1].size = n
		default:
			return nil, errFieldName
		}
	}
	if payload != nil {
		if err := unmarshalBody(payload, &form.req); err != nil {
			return nil, err
		}
	}
	slices.SortFunc(form.files, func(a, b spooledFile) int { return cmp.Compare(a.key, b.key) })
	// The attachments entries name files by key; the service knows them
	// by position.
	for i := range form.req.Attachments {
		ref := &form.req.Attachments[i]
		pos := slices.IndexFunc(form.files, func(f spooledFile) bool { return uint64(f.key) == uint64(ref.ID) })
		if pos < 0 {
			return nil, formError("attachments."+strconv.Itoa(i)+".id", "ATTACHMENT_NOT_FOUND",
				"No file was uploaded as files["+strconv.FormatUint(uint64(ref.ID), 10)+"].")
		}
		ref.ID = service.AttachmentRefID(pos)
	}
	return form, nil
}

// isMultipart reports whether a request body is multipart/form-data and
// returns its boundary ("" when it has none or an invalid one).
func isMultipart(r *http.Request) (multipart bool, boundary string) {
	ct := r.Header.Get("Content-Type")
	if !strings.HasPrefix(strings.ToLower(strings.TrimSpace(ct)), "multipart/") {
		return false, ""
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "multipart/form-data" {
		return true, ""
	}
	b := params["boundary"]
	if len(b) == 0 || len(b) > 70 { // RFC 2046 §5.1.1
		return true, ""
	}
	return true, b
}

// messageForm reads a multipart POST /channels/{id}/messages for the
// caller: refused before any read when attachments are off, when the
// caller may not attach files there or when the declared length is over
// the limit; read whole into the spool (readUploadForm), checked as a
// message, and only then its files stored (storeFiles).
func (s *Server) messageForm(c *call, channel model.Snowflake, boundary string) (service.MessageCreate, error) {
	svc := s.cfg.Service
	lim := s.cfg.formLimits()
	var refused error
	switch {
	case !svc.AttachmentsEnabled():
		refused = errNoFiles
	case boundary == "":
		refused = errMultipart
	case c.r.ContentLength > lim.total:
		refused = errTooLarge
	default:
		refused = svc.CanAttach(c.user.ID, channel)
	}
	if refused != nil {
		s.uploadsRefused.Add(1)
		return service.MessageCreate{}, refused
	}
	// An upload may take longer than an ordinary request: its own
	// deadlines replace the server's (where the writer supports them).
	rc := http.NewResponseController(c.w)
	now := time.Now()
	_ = rc.SetReadDeadline(now.Add(s.cfg.UploadTimeout))
	_ = rc.SetWriteDeadline(now.Add(s.cfg.UploadTimeout + s.cfg.WriteTimeout))
	body := io.Reader(c.r.Body)
	if rb, ok := c.r.Body.(*requestBody); ok {
		body = rb.raw // readUploadForm bounds it (lim.total), not MaxBody
	}
	form, err := readUploadForm(body, boundary, lim, func() (*os.File, error) {
		return os.CreateTemp(s.cfg.SpoolDir, "parley-upload-*")
	})
	if err != nil {
		s.uploadsRefused.Add(1)
		return service.MessageCreate{}, err
	}
	defer form.close()
	check := form.req
	check.Files = make([]model.Attachment, len(form.files)) // only their number matters
	if err := svc.CheckMessage(c.user.ID, channel, check); err != nil {
		s.uploadsRefused.Add(1)
		return service.MessageCreate{}, err
	}
	req := form.req
	if req.Files, err = s.storeFiles(c.r.Context(), c.user.ID, channel, form.files); err != nil {
		s.uploadsRefused.Add(1)
		var pe *putError
		if errors.As(err, &pe) {
			return service.MessageCreate{}, putFailure(pe)
		}
		return service.MessageCreate{}, err
	}
	return req, nil
}

// storeFiles stores spooled files, in order; when one fails, those stored
// before it are deleted again (and counted) and the error is a *putError
// for its key.
func (s *Server) storeFiles(ctx context.Context, user, channel model.Snowflake, files []spooledFile) ([]model.Attachment, error) {
	svc := s.cfg.Service
	stored := make([]model.Attachment, 0, len(files))
	for _, f := range files {
		_, err := f.f.Seek(0, io.SeekStart)
		var a model.Attachment
		if err == nil {
			a, err = svc.PutAttachment(ctx, user, channel, f.filename, f.contentType, io.LimitReader(f.f, f.size))
		}
		if err != nil {
			s.discard(ctx, stored)
			return nil, &putError{key: f.key, err: err}
		}
		stored = append(stored, a)
	}
	return stored, nil
}

// discard deletes files stored for a message that failed, and counts them.
func (s *Server) discard(ctx context.Context, files []model.Attachment) {
	if len(files) > 0 {
		s.filesDiscarded.Add(uint64(len(files)))
		s.cfg.Service.DeleteAttachments(ctx, files)
	}
}

// putFailure maps a file the service did not keep to its answer: the
// store's refusal is a 400 on that file with the store's reason.
func putFailure(pe *putError) error {
	switch {
	case errors.Is(pe.err, service.ErrAttachmentRefused):
		reason := strings.TrimPrefix(pe.err.Error(), service.ErrAttachmentRefused.Error()+": ")
		return formError("files."+strconv.Itoa(pe.key), "ATTACHMENT_REFUSED", reason)
	case errors.Is(pe.err, service.ErrAttachmentsDisabled):
		return errNoFiles
	}
	return pe.err
}

// requestBody is a request's body as ServeHTTP hands it on: bounded by
// Config.MaxBody, with the raw body kept for the one route that reads
// more (a multipart message, bounded by uploadLimit instead).
type requestBody struct {
	io.ReadCloser // http.MaxBytesReader(raw, MaxBody)
	raw           io.ReadCloser
}
