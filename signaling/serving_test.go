package signaling_test

import (
	"testing"
	"time"

	"github.com/parleyhq/parley/internal/testkit"
	"github.com/parleyhq/parley/voicenode"
	"github.com/parleyhq/parley/voicenode/voicenodetest"
)

// TestNotServing: a node that stops serving (it lost its fleet registry
// session) ends every session with 4022 and takes its users out of the
// SFU's rooms, refuses Identify with 4011 and a resume as well, and
// admits again once it serves.
func TestNotServing(t *testing.T) {
	testkit.NoLeaks(t)
	srv := voicenodetest.Start(t, voicenode.Config{Readers: 1})
	h := &harness{t: t, srv: srv}
	a, b := h.join("a"), h.join("b")
	if n := len(srv.Participants()); n != 2 {
		t.Fatalf("%d participants, want 2", n)
	}

	srv.SetServing(false)
	for _, c := range []*client{a, b} {
		if code := c.closeCode(); code != 4022 {
			t.Fatalf("live session closed with %d, want 4022 (call terminated)", code)
		}
	}
	testkit.Eventually(t, 5*time.Second, func() bool { return len(srv.Participants()) == 0 && srv.SFU().RoomSize("g1/c1") == 0 },
		"sessions ended and the SFU room emptied")

	c := h.dial("?v=8")
	c.next(8)
	c.identify(h, "c", "c1")
	if code := c.closeCode(); code != 4011 {
		t.Fatalf("identify while not serving closed with %d, want 4011", code)
	}
	r := h.resume(a)
	if code := r.closeCode(); code != 4011 {
		t.Fatalf("resume while not serving closed with %d, want 4011", code)
	}

	srv.SetServing(true)
	h.join("d")
	if !srv.Serving() || len(srv.Participants()) != 1 {
		t.Fatalf("serving again: %v, %d participants", srv.Serving(), len(srv.Participants()))
	}
}

// TestLoadMeter: the node's load counts rooms and participants.
func TestLoadMeter(t *testing.T) {
	testkit.NoLeaks(t)
	srv := voicenodetest.Start(t, voicenode.Config{Readers: 1})
	h := &harness{t: t, srv: srv}
	m := srv.NewLoadMeter()
	h.join("a")
	h.join("b")
	l := m.Measure()
	if l.Rooms != 1 || l.Participants != 2 || l.CPU < 0 || l.CPU > 1 || l.PacketsPerSecond < 0 {
		t.Fatalf("load %+v, want 1 room and 2 participants", l)
	}
}
