package mediaproxy

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/parleyhq/parley/internal/httpserve"
)

// serveFile answers a file attachment (Kind file) with its original
// bytes, streamed from the blob: no worker, no pipeline, no cache, and no
// body held in memory. The Content-Type is the record's when it is
// passive, else application/octet-stream with Content-Disposition:
// attachment (servedType); Handle adds nosniff and the sandbox CSP.
//
// Conditional and range requests follow net/http's ServeContent for what
// they support: If-None-Match gives 304; one byte range (with If-Range
// naming the current ETag, or no If-Range) gives 206, a malformed one or
// one starting past the end 416 with Content-Range: bytes */size; several
// ranges, or ranges adding up to more than the file, are ignored (200
// with the whole file) rather than answered with multipart/byteranges.
func (s *Server) serveFile(req *Request, a Attachment, maxAge time.Duration) Response {
	etag := etagOf("f:" + a.SHA256)
	ct, inline := servedType(a.ContentType)
	r := Response{Status: http.StatusOK}
	r.set("Etag", etag)
	r.set("Cache-Control", cacheControl(maxAge))
	if req.IfNoneMatch != "" && httpserve.ETagMatch(req.IfNoneMatch, etag) {
		r.Status = http.StatusNotModified
		return r
	}
	r.set("Content-Type", ct)
	r.set("Content-Disposition", contentDisposition(inline, a.Filename))
	r.set("Accept-Ranges", "bytes")
	start, n := int64(0), a.Size
	if req.Range != "" && (req.IfRange == "" || req.IfRange == etag) {
		rs, err := parseRange(req.Range, a.Size)
		if err != nil {
			e := errorResponse(err)
			e.set("Content-Range", "bytes */"+strconv.FormatInt(a.Size, 10))
			return e
		}
		if len(rs) == 1 {
			start, n = rs[0].start, rs[0].length
			r.Status = http.StatusPartialContent
			r.set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, start+n-1, a.Size))
		}
	}
	if req.Method == http.MethodHead {
		r.set("Content-Length", strconv.FormatInt(n, 10))
		return r
	}
	f, err := s.cfg.Store.OpenBlob(a)
	if err != nil {
		return errorResponse(err)
	}
	s.metrics.fileBytes.Add(float64(n))
	r.Stream = readCloser{io.NewSectionReader(f, start, n), f}
	r.StreamLen = n
	return r
}

type readCloser struct {
	io.Reader
	io.Closer
}

// byteRange is one satisfiable range of a file.
type byteRange struct{ start, length int64 }

// parseRange parses a Range header against a file of size bytes, as
// net/http's ServeContent does: "bytes=" then comma-separated
// first-last, first- or -suffix specs. A malformed header, or one whose
// every range starts past the end, is ErrRangeNotSatisfiable; ranges
// whose lengths add up to more than the file are dropped (nil: serve it
// all).
func parseRange(h string, size int64) ([]byteRange, error) {
	spec, ok := strings.CutPrefix(h, "bytes=")
	if !ok {
		return nil, fmt.Errorf("%w: not a byte range", ErrRangeNotSatisfiable)
	}
	var out []byteRange
	noOverlap := false
	var sum int64
	for ra := range strings.SplitSeq(spec, ",") {
		ra = strings.TrimSpace(ra)
		if ra == "" {
			continue
		}
		first, last, ok := strings.Cut(ra, "-")
		if !ok {
			return nil, fmt.Errorf("%w: malformed range", ErrRangeNotSatisfiable)
		}
		first, last = strings.TrimSpace(first), strings.TrimSpace(last)
		var r byteRange
		if first == "" {
			n, err := strconv.ParseInt(last, 10, 64)
			if err != nil || n < 0 || last == "" || last[0] == '-' || last[0] == '+' {
				return nil, fmt.Errorf("%w: malformed suffix range", ErrRangeNotSatisfiable)
			}
			if n == 0 || size == 0 {
				noOverlap = true
				continue
			}
			r.start = size - min(n, size)
			r.length = size - r.start
		} else {
			i, err := strconv.ParseInt(first, 10, 64)
			if err != nil || i < 0 || first[0] == '+' {
				return nil, fmt.Errorf("%w: malformed range", ErrRangeNotSatisfiable)
			}
			if i >= size {
				noOverlap = true
				continue
			}
			r.start, r.length = i, size-i
			if last != "" {
				j, err := strconv.ParseInt(last, 10, 64)
				if err != nil || i > j || last[0] == '+' {
					return nil, fmt.Errorf("%w: malformed range", ErrRangeNotSatisfiable)
				}
				r.length = min(j, size-1) - i + 1
			}
		}
		out = append(out, r)
		sum += r.length
	}
	if len(out) == 0 && noOverlap {
		return nil, fmt.Errorf("%w: no range overlaps the %d-byte file", ErrRangeNotSatisfiable, size)
	}
	if sum > size {
		return nil, nil
	}
	return out, nil
}

// minStreamRate is the slowest a client may read a file: a download's
// write deadline is Config.Timeout plus its size at this rate.
const minStreamRate = 32 << 10 // bytes per second

// streamDeadline is when writing n bytes of a file must be done by.
func (s *Server) streamDeadline(n int64) time.Time {
	return time.Now().Add(s.cfg.Timeout + time.Duration(n/minStreamRate)*time.Second)
}
