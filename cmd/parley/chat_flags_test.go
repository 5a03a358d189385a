package main

import (
	"io"
	"net"
	"testing"
	"time"
)

// TestChatCapsFlags (issue item 14): the chat listeners' per-IP caps are
// serve flags: with --chat-api-max-conns-per-ip 1 and
// --chat-gateway-max-pending-per-ip 1 a second connection from the same
// address is closed at accept.
func TestChatCapsFlags(t *testing.T) {
	_, ready := startServe(t, t.TempDir(), "--only", "chat",
		"--chat-api-max-conns-per-ip", "1", "--chat-gateway-max-pending-per-ip", "1")
	for _, name := range []string{"api", "gateway"} {
		addr, _ := ready[name].(string)
		first, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer first.Close()
		// The first connection is served: it answers a request.
		req := "GET /api/v10/gateway HTTP/1.1\r\nHost: x\r\n\r\n"
		if name == "gateway" {
			req = "GET /?v=10 HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
		}
		if _, err := io.WriteString(first, req); err != nil {
			t.Fatal(err)
		}
		_ = first.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := first.Read(make([]byte, 1)); err != nil {
			t.Fatalf("%s: first connection not served: %v", name, err)
		}
		second, err := net.Dial("tcp", addr)
		if err != nil {
			continue // refused outright
		}
		defer second.Close()
		_, _ = io.WriteString(second, req)
		_ = second.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := second.Read(make([]byte, 1)); err == nil {
			t.Fatalf("%s: a second connection from one address was served", name)
		}
	}
}
