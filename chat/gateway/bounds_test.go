package gateway

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/gobwas/ws"
	"github.com/parleyhq/parley/chat/model"
)

// TestReplayLogBytes (issue item 6): a session's dispatch list is bounded
// in bytes, not only in dispatches. A client that reads everything but
// never acknowledges keeps at most ReplayBytes of replay log; a dispatch
// larger than the whole budget is still delivered; a resume from before
// what was kept is refused (op 9) and one from the end works.
func TestReplayLogBytes(t *testing.T) {
	const budget = 32 << 10
	s, url, _ := startServer(t, func(c *Config) { c.ReplayLimit = 1000; c.ReplayBytes = budget })
	c := dial(t, url)
	c.expect("10")
	c.send(identifyPayload("good", int(model.IntentGuildMessages)))
	ready := c.expect("READY")
	c.expect("GUILD_CREATE")
	var last int64
	for i := range 40 {
		ev, _ := model.NewEvent("MESSAGE_CREATE", testGuild, model.IntentGuildMessages, map[string]string{"content": strings.Repeat("x", 4000)})
		s.Dispatch(ev)
		f := c.expect("MESSAGE_CREATE")
		last = *f.S
		if st := s.Stats(); st.MaxReplayBytes > budget {
			t.Fatalf("after %d dispatches of 4 kB the replay log holds %d bytes, budget %d", i+1, st.MaxReplayBytes, budget)
		}
	}
	big, _ := model.NewEvent("MESSAGE_CREATE", testGuild, model.IntentGuildMessages, map[string]string{"content": strings.Repeat("y", 3*budget)})
	s.Dispatch(big)
	if f := c.expect("MESSAGE_CREATE"); !strings.Contains(string(f.D), "yyyy") {
		t.Fatalf("the oversized dispatch was not delivered: %.100s", f.D)
	}
	last++
	var rd struct {
		SessionID string `json:"session_id"`
	}
	if err := json.Unmarshal(ready.D, &rd); err != nil {
		t.Fatal(err)
	}
	c.nc.Close()
	early := dial(t, url)
	early.expect("10")
	early.send(map[string]any{"op": 6, "d": map[string]any{"token": "good", "session_id": rd.SessionID, "seq": 3}})
	if f := early.expect("9"); string(f.D) != "false" {
		t.Fatalf("resume from a trimmed seq: op 9 d=%s", f.D)
	}
	late := dial(t, url)
	late.expect("10")
	late.send(map[string]any{"op": 6, "d": map[string]any{"token": "good", "session_id": rd.SessionID, "seq": last}})
	late.expect("RESUMED")
}

// TestPingsCounted (issue item 6, the control-frame door): pings count
// against the per-connection event limit like payloads (they were free:
// unlimited pongs queued for a client that need not read them).
func TestPingsCounted(t *testing.T) {
	_, url, _ := startServer(t, func(c *Config) { c.EventsPerMinute = 20 })
	c := dial(t, url)
	c.expect("10")
	for range 30 {
		if err := ws.WriteFrame(c.nc, ws.MaskFrame(ws.NewPingFrame([]byte("p")))); err != nil {
			break // closed by the server
		}
	}
	if got := c.expectClose(); got != int(CloseRateLimited) {
		t.Fatalf("close %d, want %d", got, CloseRateLimited)
	}
	// An oversized ping is a protocol error.
	c2 := dial(t, url)
	c2.expect("10")
	if err := ws.WriteFrame(c2.nc, ws.MaskFrame(ws.NewPingFrame([]byte(strings.Repeat("p", 126))))); err != nil {
		t.Fatal(err)
	}
	if got := c2.expectClose(); got != int(CloseDecodeError) {
		t.Fatalf("close %d, want %d", got, CloseDecodeError)
	}
}

// TestControlQueueBounded: unwritten control frames stay within
// maxCtrlBytes; past it the connection is closed with 4008.
func TestControlQueueBounded(t *testing.T) {
	c := &wsConn{srv: &Server{}}
	c.flushing = true // no writer: everything stays queued
	pong := make([]byte, 127)
	for range 2 * maxCtrlBytes / len(pong) {
		c.queue(pong)
	}
	if c.ctrlBytes > maxCtrlBytes || !c.closing || c.closeCode != CloseRateLimited {
		t.Fatalf("ctrl %d bytes (cap %d), closing %v code %d", c.ctrlBytes, maxCtrlBytes, c.closing, c.closeCode)
	}
}
