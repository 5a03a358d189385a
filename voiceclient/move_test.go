package voiceclient

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/internal/testkit"
	"github.com/parleyhq/parley/voiceproto"
)

// TestMove: a client talking on one server moves to another (a new
// VOICE_SERVER_UPDATE): the new connection identifies there, announces
// the Speaking state it had, continues the RTP sequence and timestamp,
// and its frames reach the same OnFrame.
func TestMove(t *testing.T) {
	testkit.NoLeaks(t)
	s1, s2 := newFakeServer(t, voiceproto.Modes(false)), newFakeServer(t, voiceproto.Modes(false))
	col := newCollector()
	c1 := dialFake(t, s1, col, "")
	frame := []byte{1, 2, 3}
	for range 3 {
		if err := c1.SendOpus(frame); err != nil {
			t.Fatal(err)
		}
	}
	col.waitFrames(t, 3, 3*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c2, err := c1.Move(ctx, s2.endpoint(), "tok2")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c2.Close() })
	if err := c1.Close(); err != nil {
		t.Fatalf("closing the old connection: %v", err)
	}
	for range 3 {
		if err := c2.SendOpus(frame); err != nil {
			t.Fatal(err)
		}
	}
	got := col.waitFrames(t, 6, 3*time.Second)
	for i := 1; i < len(got); i++ {
		if got[i].Seq != got[i-1].Seq+1 || got[i].Timestamp != got[i-1].Timestamp+SamplesPerFrame {
			t.Fatalf("frame %d: seq %d ts %d after seq %d ts %d: the move broke the RTP sequence", i, got[i].Seq, got[i].Timestamp, got[i-1].Seq, got[i-1].Timestamp)
		}
	}
	s2.mu.Lock()
	defer s2.mu.Unlock()
	if s2.identifies != 1 || len(s2.speaking) == 0 || !strings.Contains(string(s2.speaking[0]), `"speaking":1`) {
		t.Fatalf("new server: %d identifies, speaking %s; want one identify and Speaking on first", s2.identifies, s2.speaking)
	}
}
