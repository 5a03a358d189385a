package voicenode_test

import (
	"errors"
	"net"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/parleyhq/parley/internal/connlimit"
	"github.com/parleyhq/parley/internal/testkit"
	"github.com/parleyhq/parley/voicenode"
	"github.com/parleyhq/parley/voicenode/voicenodetest"
)

// dialFrom opens a gateway WebSocket from the loopback address src.
func dialFrom(n *voicenodetest.Node, src string) (*websocket.Conn, error) {
	d := n.Dialer()
	nd := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 2 * time.Second}
	d.NetDialContext = nd.DialContext
	ws, _, err := d.Dial("wss://"+n.GatewayAddr()+"/?v=8", nil)
	return ws, err
}

// TestPendingConnectionsPerIPAreCapped: one address cannot hold more than
// the cap of connections that have not identified; other addresses and
// identified clients are unaffected, and a slot frees when a connection
// identifies or closes.
func TestPendingConnectionsPerIPAreCapped(t *testing.T) {
	testkit.NoLeaks(t)
	n := voicenodetest.Start(t, voicenode.Config{Conns: connlimit.Config{PendingPerIP: 4}, Readers: 1})
	var idle []*websocket.Conn
	for range 4 {
		ws, err := dialFrom(n, "127.0.0.9")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = ws.Close() })
		idle = append(idle, ws)
	}
	if _, err := dialFrom(n, "127.0.0.9"); err == nil {
		t.Fatal("a fifth unidentified connection from one address was accepted")
	}
	// Another address, and a client that identifies, are unaffected.
	ws, err := dialFrom(n, "127.0.0.10")
	if err != nil {
		t.Fatalf("another address: %v", err)
	}
	_ = ws.Close()
	cr := n.Creds("100", "1", "2")
	_ = idle[0].WriteJSON(map[string]any{"op": 0, "d": map[string]any{"server_id": cr.GuildID, "user_id": cr.UserID,
		"session_id": cr.SessionID, "token": cr.Token}})
	readOp(t, idle[0], 2) // Ready: identified, its pending slot is free
	if ws, err = dialFrom(n, "127.0.0.9"); err != nil {
		t.Fatalf("after one identified: %v", err)
	}
	_ = ws.Close()
}

// TestUnidentifiedConnectionIsClosedSoon: a connection that does not
// identify is closed with 4003 within the identify timeout (5 s by
// default).
func TestUnidentifiedConnectionIsClosedSoon(t *testing.T) {
	testkit.NoLeaks(t)
	n := voicenodetest.Start(t, voicenode.Config{Readers: 1})
	start := time.Now()
	ws, err := dialFrom(n, "127.0.0.11")
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	_ = ws.SetReadDeadline(time.Now().Add(25 * time.Second)) // 5x the timeout
	for {
		_, _, err := ws.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != 4003 {
			t.Fatalf("got %v, want close 4003", err)
		}
		break
	}
	if d := time.Since(start); d < 4*time.Second {
		t.Fatalf("closed after %v, before the identify timeout", d)
	}
}

func readOp(t *testing.T, ws *websocket.Conn, op int) {
	t.Helper()
	_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		var m struct {
			Op int `json:"op"`
		}
		if err := ws.ReadJSON(&m); err != nil {
			t.Fatalf("waiting for op %d: %v", op, err)
		}
		if m.Op == op {
			return
		}
	}
}
