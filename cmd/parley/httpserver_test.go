package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/parleyhq/parley/internal/testkit"
)

// TestHTTPServerCutsSlowClients: a client that sends a request body one
// byte at a time (or never finishes its headers) is cut off by the read
// timeouts instead of holding its connection forever, and close waits for
// the serving goroutine.
func TestHTTPServerCutsSlowClients(t *testing.T) {
	testkit.NoLeaks(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	to := httpTimeouts{header: 200 * time.Millisecond, read: 300 * time.Millisecond, write: time.Second, idle: time.Second}
	srv := startHTTP(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
	}), to, slog.New(slog.DiscardHandler))
	defer func() { _ = srv.close(context.Background()) }()
	for name, send := range map[string]string{
		"slow body":    "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nab",
		"slow headers": "GET / HTTP/1.1\r\nHost: x\r\n",
	} {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if _, err := c.Write([]byte(send)); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(5 * to.read)) // a correctness bound, 5x the target
		_, err = io.ReadAll(c)
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("%s: the server kept the connection open for %v", name, time.Since(start))
		}
		_ = c.Close()
	}
}
