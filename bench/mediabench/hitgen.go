package mediabench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Response-parser errors.
var (
	// ErrBadResponse means the bytes are not an HTTP/1.x response the
	// generator understands (status line, headers, Content-Length body).
	ErrBadResponse = errors.New("mediabench: malformed HTTP response")
	// ErrNoLength means a response has neither Content-Length nor chunked
	// encoding (a body delimited by closing the connection).
	ErrNoLength = errors.New("mediabench: response without Content-Length or chunked encoding")
)

// hitRequest is the prebuilt GET for path on addr.
func hitRequest(addr, path string) []byte {
	return []byte("GET " + path + " HTTP/1.1\r\nHost: " + addr +
		"\r\nUser-Agent: parley-mediabench\r\nAccept: image/avif,image/webp,*/*\r\n\r\n")
}

// readResponse reads one response from br, discarding its body, and
// returns the status code and body length. It never allocates.
func readResponse(br *bufio.Reader) (status, bodyLen int, err error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return 0, 0, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
		return 0, 0, fmt.Errorf("%w: status line %q", ErrBadResponse, line)
	}
	status, ok := atoiBytes(line[9:12])
	if !ok {
		return 0, 0, fmt.Errorf("%w: status line %q", ErrBadResponse, line)
	}
	bodyLen = -1
	chunked := false
	for {
		line, err = br.ReadSlice('\n')
		if err != nil {
			if errors.Is(err, bufio.ErrBufferFull) {
				err = fmt.Errorf("%w: header line too long", ErrBadResponse)
			}
			return 0, 0, err
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			break
		}
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return 0, 0, fmt.Errorf("%w: header line %q", ErrBadResponse, line)
		}
		switch {
		case asciiEqualFold(k, "content-length"):
			n, ok := atoiBytes(bytes.TrimSpace(v))
			if !ok {
				return 0, 0, fmt.Errorf("%w: Content-Length %q", ErrBadResponse, v)
			}
			bodyLen = n
		case asciiEqualFold(k, "transfer-encoding"):
			chunked = true
		}
	}
	if chunked {
		n, err := discardChunked(br)
		return status, n, err
	}
	if bodyLen < 0 {
		if status == 304 || status == 204 || status < 200 {
			return status, 0, nil
		}
		return 0, 0, ErrNoLength
	}
	if _, err := br.Discard(bodyLen); err != nil {
		return 0, 0, err
	}
	return status, bodyLen, nil
}

// discardChunked skips a chunked body and its trailers, returning the
// body length.
func discardChunked(br *bufio.Reader) (int, error) {
	total := 0
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return 0, err
		}
		size, _, _ := bytes.Cut(bytes.TrimRight(line, "\r\n"), []byte(";"))
		n, ok := hexBytes(bytes.TrimSpace(size))
		if !ok {
			return 0, fmt.Errorf("%w: chunk size %q", ErrBadResponse, line)
		}
		if n == 0 {
			break
		}
		if _, err := br.Discard(n); err != nil {
			return 0, err
		}
		if err := expectCRLF(br); err != nil {
			return 0, err
		}
		total += n
	}
	for { // trailers up to the empty line
		line, err := br.ReadSlice('\n')
		if err != nil {
			return 0, err
		}
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			return total, nil
		}
	}
}

func expectCRLF(br *bufio.Reader) error {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return err
	}
	if len(bytes.TrimRight(line, "\r\n")) != 0 {
		return fmt.Errorf("%w: chunk not followed by CRLF", ErrBadResponse)
	}
	return nil
}

func hexBytes(b []byte) (int, bool) {
	if len(b) == 0 || len(b) > 8 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		switch {
		case '0' <= c && c <= '9':
			n = n<<4 | int(c-'0')
		case 'a' <= c && c <= 'f':
			n = n<<4 | int(c-'a'+10)
		case 'A' <= c && c <= 'F':
			n = n<<4 | int(c-'A'+10)
		default:
			return 0, false
		}
	}
	return n, true
}

func atoiBytes(b []byte) (int, bool) {
	if len(b) == 0 || len(b) > 12 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func asciiEqualFold(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// hitLoad is the result of one generator phase.
type hitLoad struct {
	responses int64
	bodyBytes int64 // of the last response
	wall      time.Duration
	genCPU    time.Duration // this process, from getrusage
	serverCPU time.Duration // the server child, from its getrusage
}

// runHits keeps conns keep-alive connections to addr busy for d, each
// with depth pipelined requests in flight (one write of depth prebuilt
// requests, then depth responses read and checked), and counts 200s.
// Every connection sends at least one batch. Connections are open before
// the measured window starts; srv reports the server's CPU at the window's
// edges.
func runHits(ctx context.Context, addr string, req []byte, conns, depth int, d time.Duration, srv *child) (hitLoad, error) {
	batch := bytes.Repeat(req, depth)
	cs := make([]net.Conn, 0, conns)
	defer func() {
		for _, c := range cs {
			_ = c.Close()
		}
	}()
	var dialer net.Dialer
	for range conns {
		c, err := dialer.DialContext(ctx, "tcp", addr)
		if err != nil {
			return hitLoad{}, err
		}
		cs = append(cs, c)
	}
	var (
		count    atomic.Int64
		lastBody atomic.Int64
		once     sync.Once
		first    error
		wg       sync.WaitGroup
		start    = make(chan struct{})
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var end time.Time
	for _, c := range cs {
		wg.Go(func() {
			br := bufio.NewReaderSize(c, 64<<10)
			<-start
			for sent := false; ctx.Err() == nil && (!sent || time.Now().Before(end)); sent = true {
				if _, err := c.Write(batch); err != nil {
					once.Do(func() { first = err })
					cancel()
					return
				}
				for range depth {
					st, n, err := readResponse(br)
					if err == nil && st != 200 {
						err = fmt.Errorf("mediabench: cache hit answered %d", st)
					}
					if err != nil {
						once.Do(func() { first = err })
						cancel()
						return
					}
					lastBody.Store(int64(n))
				}
				count.Add(int64(depth))
			}
		})
	}
	s0, err := srv.cpu()
	if err != nil {
		close(start)
		cancel()
		wg.Wait()
		return hitLoad{}, err
	}
	g0, t0 := selfCPU(), time.Now()
	end = t0.Add(d)
	close(start)
	wg.Wait()
	l := hitLoad{responses: count.Load(), bodyBytes: lastBody.Load(), wall: time.Since(t0), genCPU: selfCPU() - g0}
	if first != nil {
		return l, first
	}
	s1, err := srv.cpu()
	l.serverCPU = s1 - s0
	return l, err
}
