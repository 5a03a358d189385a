package signaling

import (
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/parleyhq/parley/internal/testkit"
	"github.com/parleyhq/parley/internal/voicetoken"
	"github.com/parleyhq/parley/voiceproto"
)

// noMedia is a Media for tests that never join the media plane.
type noMedia struct{}

func (noMedia) Join(string, string) (Participant, error) { return nil, errors.New("no media") }
func (noMedia) Modes() []string                          { return nil }
func (noMedia) UDPEndpoint() (string, int)               { return "127.0.0.1", 1 }

// wsPair returns a server-side conn (its writer not started) and the
// client's end of the WebSocket.
func wsPair(t *testing.T) (*conn, *websocket.Conn) {
	t.Helper()
	return wsPairWith(t, nil)
}

// hookedConn calls the hook armed in onWrite (once) after a write.
type hookedConn struct {
	net.Conn
	onWrite *atomic.Pointer[func()]
}

func (h hookedConn) Write(b []byte) (int, error) {
	n, err := h.Conn.Write(b)
	if f := h.onWrite.Swap(nil); f != nil {
		(*f)()
	}
	return n, err
}

type hookedListener struct {
	net.Listener
	onWrite *atomic.Pointer[func()]
}

func (l hookedListener) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return hookedConn{Conn: nc, onWrite: l.onWrite}, nil
}

// wsPairWith is wsPair whose server socket, when onWrite is not nil,
// calls the function stored in onWrite after its next write.
func wsPairWith(t *testing.T, onWrite *atomic.Pointer[func()]) (*conn, *websocket.Conn) {
	t.Helper()
	signer, err := voicetoken.NewSigner(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(Config{Media: noMedia{}, Tokens: signer})
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan *websocket.Conn, 1)
	hs := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := srv.upgrader.Upgrade(w, r, nil)
		if err != nil {
			t.Error(err)
			return
		}
		got <- ws
	}))
	if onWrite != nil {
		hs.Listener = hookedListener{Listener: hs.Listener, onWrite: onWrite}
	}
	hs.Start()
	t.Cleanup(hs.Close)
	client, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(hs.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() })
	ws := <-got
	t.Cleanup(func() { _ = ws.Close() })
	return newConn(srv, ws, nil, voiceproto.DialectV8, "test"), client
}

// TestFullQueueClosesWithoutAGoroutine: a client that lets its queue fill
// is closed with 4015 (resumable) by the connection's own writer, before
// any frame still queued; no goroutine is started for it (it used to be
// `go c.terminate`, which outlived the server's Close).
func TestFullQueueClosesWithoutAGoroutine(t *testing.T) {
	testkit.NoLeaks(t)
	c, client := wsPair(t)
	for i := range outQueue + 1 {
		c.enqueue(outFrame{data: []byte(`{"op":5,"d":` + string(rune('0'+i%10)) + `}`)})
	}
	select {
	case <-c.kill:
	default:
		t.Fatal("a full queue did not request the close")
	}
	go c.writeLoop()
	<-c.writerDone
	_ = client.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _, err := client.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != int(voiceproto.CloseServerCrashed) {
		t.Fatalf("client read %v, want close 4015 before any queued frame", err)
	}
	c.mu.Lock()
	by := c.closedBy
	c.mu.Unlock()
	if by != voiceproto.CloseServerCrashed {
		t.Fatalf("closedBy %v, want server_crashed (so the session stays resumable)", by)
	}
}

// TestBacklogGoesFirst: frames a resume replays are written before what
// is queued after them, and are not bound by the queue's size.
func TestBacklogGoesFirst(t *testing.T) {
	testkit.NoLeaks(t)
	c, client := wsPair(t)
	var replay []outFrame
	for i := range 2 * outQueue {
		replay = append(replay, outFrame{data: []byte(`{"op":11,"d":` + strconv.Itoa(i) + `}`)})
	}
	c.enqueue(outFrame{data: []byte(`{"op":9,"d":null}`)}) // queued first, written last
	c.enqueueBacklog(replay)
	go c.writeLoop()
	_ = client.SetReadDeadline(time.Now().Add(5 * time.Second))
	for i := range 2*outQueue + 1 {
		_, b, err := client.ReadMessage()
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		want := `{"op":9,"d":null}`
		if i < 2*outQueue {
			want = `{"op":11,"d":` + strconv.Itoa(i) + `}`
		}
		if string(b) != want {
			t.Fatalf("message %d = %s, want %s", i, b, want)
		}
	}
	c.closeNow(voiceproto.CloseNormal, "")
	<-c.writerDone
}

// TestKillStopsTheBacklog: a close requested while the writer works
// through a backlog (a resume's replay) stops it at the next frame — the
// client reads the frame being written, then 4015, and nothing more. The
// writer used to write the whole backlog first, each frame re-arming a
// 10 s deadline over requestClose's immediate one.
func TestKillStopsTheBacklog(t *testing.T) {
	testkit.NoLeaks(t)
	var onWrite atomic.Pointer[func()]
	c, client := wsPairWith(t, &onWrite)
	kill := func() { c.requestClose(voiceproto.CloseServerCrashed, "client too slow; resume") }
	onWrite.Store(&kill) // after the first frame is on the socket
	var replay []outFrame
	for i := range 10 {
		replay = append(replay, outFrame{data: []byte(`{"op":11,"d":` + strconv.Itoa(i) + `}`)})
	}
	c.enqueueBacklog(replay)
	go c.writeLoop()
	<-c.writerDone
	_ = client.SetReadDeadline(time.Now().Add(5 * time.Second))
	var frames []string
	for {
		_, b, err := client.ReadMessage()
		if err == nil {
			frames = append(frames, string(b))
			continue
		}
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != int(voiceproto.CloseServerCrashed) {
			t.Fatalf("client read %v after %d frames, want close 4015", err, len(frames))
		}
		break
	}
	if len(frames) != 1 || frames[0] != `{"op":11,"d":0}` {
		t.Fatalf("frames before the close: %q, want only the first", frames)
	}
}
