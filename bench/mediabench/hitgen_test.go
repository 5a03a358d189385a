package mediabench

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

func TestReadResponse(t *testing.T) {
	cases := []struct {
		name    string
		in      string
		status  int
		n       int
		wantErr error
	}{
		{"content-length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nETag: x\r\n\r\nhello", 200, 5, nil},
		{"case-insensitive", "HTTP/1.1 200 OK\r\ncontent-LENGTH:3\r\n\r\nabc", 200, 3, nil},
		{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\nT: v\r\n\r\n", 200, 5, nil},
		{"304 no body", "HTTP/1.1 304 Not Modified\r\nETag: x\r\n\r\n", 304, 0, nil},
		{"no length", "HTTP/1.1 200 OK\r\n\r\nabc", 0, 0, ErrNoLength},
		{"garbage", "SSH-2.0-OpenSSH\r\n", 0, 0, ErrBadResponse},
		{"bad status", "HTTP/1.1 2x0 OK\r\n\r\n", 0, 0, ErrBadResponse},
		{"bad length", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", 0, 0, ErrBadResponse},
		{"bad chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 0, 0, ErrBadResponse},
		{"header without colon", "HTTP/1.1 200 OK\r\nnope\r\n\r\n", 0, 0, ErrBadResponse},
		{"truncated body", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", 0, 0, io.EOF},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st, n, err := readResponse(bufio.NewReader(strings.NewReader(c.in)))
			if c.wantErr != nil {
				if !errors.Is(err, c.wantErr) {
					t.Fatalf("err %v, want %v", err, c.wantErr)
				}
				return
			}
			if err != nil || st != c.status || n != c.n {
				t.Fatalf("got %d %d %v, want %d %d", st, n, err, c.status, c.n)
			}
		})
	}
}

func FuzzReadResponse(f *testing.F) {
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"))
	f.Add([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		br := bufio.NewReaderSize(strings.NewReader(string(b)), 64)
		for range 4 {
			if _, n, err := readResponse(br); err != nil || n < 0 {
				return
			}
		}
	})
}

// TestPipelinedAgainstServers runs the generator's parser against real
// fasthttp and net/http servers answering pipelined requests, with bodies
// that net/http sends chunked.
func TestPipelinedAgainstServers(t *testing.T) {
	body := strings.Repeat("x", 9000)
	for _, front := range []string{"fasthttp", "nethttp"} {
		t.Run(front, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			switch front {
			case "fasthttp":
				s := &fasthttp.Server{Handler: func(c *fasthttp.RequestCtx) { c.SetBodyString(body) }}
				go func() { _ = s.Serve(ln) }()
				t.Cleanup(func() { _ = s.Shutdown() })
			default:
				s := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
					_, _ = io.WriteString(w, body)
				}), ReadHeaderTimeout: time.Second}
				go func() { _ = s.Serve(ln) }()
				t.Cleanup(func() { _ = s.Close() })
			}
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			const depth = 5
			if _, err := c.Write([]byte(strings.Repeat(string(hitRequest(ln.Addr().String(), "/x?y=1")), depth))); err != nil {
				t.Fatal(err)
			}
			br := bufio.NewReader(c)
			for i := range depth {
				st, n, err := readResponse(br)
				if err != nil || st != 200 || n != len(body) {
					t.Fatalf("response %d: %d %d %v", i, st, n, err)
				}
			}
		})
	}
}

func TestSummarize(t *testing.T) {
	s := summarize([]float64{3, 1, 2, 10})
	if s.Median != 2.5 || s.Min != 1 || s.Max != 10 || len(s.Reps) != 4 || s.Reps[0] != 3 {
		t.Fatalf("%+v", s)
	}
	if s := summarize([]float64{5, 1, 3}); s.Median != 3 {
		t.Fatalf("%+v", s)
	}
}
