package rest

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
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
// discordgo). Parts are read in stream order, never all at once: each
// file is handed to the service as it arrives (the store keeps it) and
// bounded by Config.MaxFileBytes, payload_json by Config.MaxBody, the
// number of files by Config.MaxFiles and the whole body by uploadLimit.
// A body declared larger than that is refused before anything is read.
// Files kept before a later part fails stay in the store unreferenced.

// partOverhead is what the limit on a whole multipart body allows per part
// beyond its content: boundary and part headers.
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

// putFile stores one file part: its position among the files so far, its
// name and declared type, and its bytes.
type putFile func(filename, contentType string, r io.Reader) (model.Attachment, error)

// putError is a failure of putFile for the file part files[key].
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
	errMultipart  = formError("", "MULTIPART_INVALID", "The multipart body could not be read.")
	errFieldName  = formError("", "FORM_FIELD_UNKNOWN", "Only payload_json and files[N] parts are accepted.")
	errDupPayload = formError("payload_json", "BASE_TYPE_DUPLICATE", "payload_json was sent twice.")
	errNoFiles    = formError("files", "ATTACHMENTS_DISABLED", "Attachments are not enabled on this server.")
)

func tooManyFiles(n int) apiError {
	return formError("files", "BASE_TYPE_MAX_LENGTH", "Must be "+strconv.Itoa(n)+" or fewer in length.")
}

// parseMessageForm reads a multipart message body from body (boundary:
// the Content-Type's) within lim, storing each file through put as it
// arrives. It returns the message body with its Files in files[N] order
// and its attachments entries naming positions among them. Errors are
// apiErrors (the client's body: 400, or 413 past a limit) or a *putError.
func parseMessageForm(body io.Reader, boundary string, lim formLimits, put putFile) (service.MessageCreate, error) {
	total := &limitReader{r: body, left: lim.total}
	mr := multipart.NewReader(total, boundary)
	// readErr is the error for a failed read: 413 past a limit, else a
	// malformed body.
	readErr := func(part *limitReader) error {
		if total.over || (part != nil && part.over) {
			return errTooLarge
		}
		return errMultipart
	}
	type upload struct {
		key int
		att model.Attachment
	}
	var (
		payload []byte
		files   []upload
	)
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return service.MessageCreate{}, readErr(nil)
		}
		name := p.FormName()
		key, isFile := fileKey(name)
		switch {
		case name == "payload_json":
			if payload != nil {
				return service.MessageCreate{}, errDupPayload
			}
			pr := &limitReader{r: p, left: lim.payload}
			if payload, err = io.ReadAll(pr); err != nil {
				return service.MessageCreate{}, readErr(pr)
			}
			if len(payload) == 0 {
				payload = []byte("{}")
			}
		case isFile:
			if len(files) == lim.files {
				return service.MessageCreate{}, tooManyFiles(lim.files)
			}
			if slices.ContainsFunc(files, func(u upload) bool { return u.key == key }) {
				return service.MessageCreate{}, formError("files."+strconv.Itoa(key), "BASE_TYPE_DUPLICATE", "This file was sent twice.")
			}
			pr := &limitReader{r: p, left: lim.fileBytes}
			a, err := put(p.FileName(), p.Header.Get("Content-Type"), pr)
			switch {
			case pr.over || total.over || pr.failed != nil:
				return service.MessageCreate{}, readErr(pr)
			case err != nil:
				return service.MessageCreate{}, &putError{key: key, err: err}
			}
			files = append(files, upload{key, a})
		default:
			return service.MessageCreate{}, errFieldName
		}
	}
	var req service.MessageCreate
	if payload != nil {
		if err := unmarshalBody(payload, &req); err != nil {
			return service.MessageCreate{}, err
		}
	}
	slices.SortFunc(files, func(a, b upload) int { return cmp.Compare(a.key, b.key) })
	req.Files = make([]model.Attachment, len(files))
	for i, u := range files {
		req.Files[i] = u.att
	}
	// The attachments entries name files by key; the service knows them
	// by position.
	for i := range req.Attachments {
		ref := &req.Attachments[i]
		pos := slices.IndexFunc(files, func(u upload) bool { return uint64(u.key) == uint64(ref.ID) })
		if pos < 0 {
			return service.MessageCreate{}, formError("attachments."+strconv.Itoa(i)+".id", "ATTACHMENT_NOT_FOUND",
				"No file was uploaded as files["+strconv.FormatUint(uint64(ref.ID), 10)+"].")
		}
		ref.ID = service.AttachmentRefID(pos)
	}
	return req, nil
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
// the limit; each file stored as it arrives (Service.PutAttachment).
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
		body = rb.raw // parseMessageForm bounds it (lim.total), not MaxBody
	}
	ctx := c.r.Context()
	kept := 0
	req, err := parseMessageForm(body, boundary, lim, func(filename, contentType string, r io.Reader) (model.Attachment, error) {
		a, err := svc.PutAttachment(ctx, c.user.ID, channel, filename, contentType, r)
		if err == nil {
			kept++
		}
		return a, err
	})
	if err != nil {
		s.uploadsRefused.Add(1)
		s.filesOrphaned.Add(uint64(kept))
	}
	var pe *putError
	if errors.As(err, &pe) {
		return service.MessageCreate{}, putFailure(pe)
	}
	return req, err
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
