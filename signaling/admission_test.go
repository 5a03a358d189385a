package signaling_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/parleyhq/parley/internal/testkit"
	"github.com/parleyhq/parley/internal/voicectl"
	"github.com/parleyhq/parley/signaling"
	"github.com/parleyhq/parley/voicenode"
	"github.com/parleyhq/parley/voicenode/voicenodetest"
)

// fakeAdmitter is a control plane: per user, the moderation it stores or
// the error it answers.
type fakeAdmitter struct {
	mu    sync.Mutex
	mod   map[string]voicectl.Moderation
	err   map[string]error
	calls []voicectl.Session
}

func (f *fakeAdmitter) Admit(_ context.Context, s voicectl.Session) (voicectl.Moderation, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, s)
	return f.mod[s.UserID], f.err[s.UserID]
}

func (f *fakeAdmitter) set(user string, m voicectl.Moderation, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.mod[user], f.err[user] = m, err
}

func participant(h *harness, user string) (voicectl.Participant, bool) {
	for _, p := range h.srv.Participants() {
		if p.UserID == user {
			return p, true
		}
	}
	return voicectl.Participant{}, false
}

// join identifies user in c1 and returns the client after Ready.
func (h *harness) join(user string) *client {
	c := h.dial("?v=8")
	c.next(8)
	c.identify(h, user, "c1")
	c.next(2)
	return c
}

// resume drops c's connection and resumes its session on a new one.
func (h *harness) resume(c *client) *client {
	_ = c.ws.UnderlyingConn().Close()
	r := h.dial("?v=8")
	r.next(8)
	r.c, r.tk = c.c, c.tk
	r.send(7, map[string]any{"server_id": "g1", "session_id": c.c.SessionID, "token": c.tk, "seq_ack": 0})
	return r
}

// TestModerationHoldsAcrossSessions: a server mute or deafen set while the
// user is not connected applies when they join, and holds across a
// reconnect with new credentials and across a resume (it was lost
// whenever a voice session started).
func TestModerationHoldsAcrossSessions(t *testing.T) {
	h := newHarness(t, signaling.Config{})
	ctl := h.srv.Controller()
	ctx := context.Background()
	if err := ctl.SetServerMute(ctx, "g1", "u1", true); err != nil {
		t.Fatalf("mute before joining: %v", err)
	}
	if err := ctl.SetServerDeaf(ctx, "g1", "u1", true); err != nil {
		t.Fatal(err)
	}
	c := h.join("u1")
	check := func(when string, mute, deaf bool) {
		t.Helper()
		p, ok := participant(h, "u1")
		if !ok || p.Mute != mute || p.Deaf != deaf {
			t.Fatalf("%s: participant %+v (present %v), want mute %v deaf %v", when, p, ok, mute, deaf)
		}
	}
	check("joined", true, true)

	r := h.resume(c)
	r.next(9)
	check("resumed", true, true)

	_ = r.ws.Close()
	again := h.join("u1") // new credentials, new session
	check("new session", true, true)

	_ = ctl.SetServerMute(ctx, "g1", "u1", false)
	check("unmuted live", false, true)
	_ = again.ws.Close()
	h.join("u1")
	check("after unmute, new session", false, true)
}

// TestAdmission: with a control plane, its stored moderation applies at
// Identify and Resume, a session it no longer knows is refused with 4014
// at both (and a refused resume ends the session), and an unreachable
// control plane refuses with 4011 rather than admitting.
func TestAdmission(t *testing.T) {
	testkit.NoLeaks(t)
	adm := &fakeAdmitter{mod: map[string]voicectl.Moderation{}, err: map[string]error{}}
	srv := voicenodetest.Start(t, voicenode.Config{Gateway: signaling.Config{Admitter: adm}, Readers: 1})
	h := &harness{t: t, srv: srv}

	adm.set("muted", voicectl.Moderation{Mute: true}, nil)
	h.join("muted")
	if p, _ := participant(h, "muted"); !p.Mute || p.Deaf {
		t.Fatalf("participant %+v, want the stored mute", p)
	}

	adm.set("kicked", voicectl.Moderation{}, voicectl.ErrRevoked)
	c := h.dial("?v=8")
	c.next(8)
	c.identify(h, "kicked", "c1")
	if code := c.closeCode(); code != 4014 {
		t.Fatalf("revoked identify closed with %d, want 4014", code)
	}

	live := h.join("live")
	adm.set("live", voicectl.Moderation{}, voicectl.ErrRevoked)
	r := h.resume(live)
	if code := r.closeCode(); code != 4014 {
		t.Fatalf("revoked resume closed with %d, want 4014", code)
	}
	if _, ok := participant(h, "live"); ok {
		t.Fatal("a revoked session stayed for another resume")
	}

	adm.set("later", voicectl.Moderation{}, errors.New("control plane down"))
	c = h.dial("?v=8")
	c.next(8)
	c.identify(h, "later", "c1")
	if code := c.closeCode(); code != 4011 {
		t.Fatalf("identify with the control plane down closed with %d, want 4011", code)
	}

	adm.set("operator", voicectl.Moderation{}, voicectl.ErrNotManaged)
	_ = srv.Controller().SetServerDeaf(context.Background(), "g1", "operator", true)
	h.join("operator")
	if p, _ := participant(h, "operator"); !p.Deaf {
		t.Fatalf("unmanaged guild: %+v, want the node's own deafen", p)
	}
	// A token from a control plane in another process carries the
	// server mute and deafen it stored (a moved call keeps them).
	adm.set("carried", voicectl.Moderation{}, voicectl.ErrNotManaged)
	c = h.dial("?v=8")
	c.next(8)
	c.c, _ = h.creds("carried", "c1")
	c.c.Mute, c.c.Deaf = true, true
	c.tk = h.srv.Signer.Issue(c.c)
	c.send(0, map[string]any{"server_id": "g1", "user_id": "carried", "session_id": c.c.SessionID, "token": c.tk})
	c.next(2)
	if p, _ := participant(h, "carried"); !p.Mute || !p.Deaf {
		t.Fatalf("unmanaged guild, token with mute and deaf: %+v", p)
	}
	adm.mu.Lock()
	defer adm.mu.Unlock()
	for _, s := range adm.calls {
		if s.GuildID != "g1" || s.ChannelID != "c1" || s.SessionID == "" {
			t.Fatalf("Admit called with %+v", s)
		}
	}
}

// TestRevoke: a revoked session is ended with 4014 where it is live,
// refused at Identify and Resume until the revocation ends, and a newer
// session of the same user is untouched.
func TestRevoke(t *testing.T) {
	testkit.NoLeaks(t)
	h := newHarness(t, signaling.Config{})
	ctl, ok := h.srv.Controller().(voicectl.Bus)
	if !ok {
		t.Fatal("the node's Controller is not a voicectl.Bus")
	}
	ctx := context.Background()
	live := h.join("u1")
	old := live.c
	newer := h.join("u2")
	if err := ctl.Revoke(ctx, voicectl.Session{GuildID: "g1", ChannelID: "c1", UserID: "u1", SessionID: old.SessionID}, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if code := live.closeCode(); code != 4014 {
		t.Fatalf("revoked live session closed with %d, want 4014", code)
	}
	testkit.Eventually(t, 5*time.Second, func() bool { _, ok := participant(h, "u1"); return !ok }, "revoked session gone")
	// The same token again: refused at Identify.
	c := h.dial("?v=8")
	c.next(8)
	c.c, c.tk = old, live.tk
	c.send(0, map[string]any{"server_id": "g1", "user_id": "u1", "session_id": old.SessionID, "token": live.tk})
	if code := c.closeCode(); code != 4014 {
		t.Fatalf("identify of a revoked session closed with %d, want 4014", code)
	}
	// Resume of a revoked session: refused too.
	r := h.dial("?v=8")
	r.next(8)
	r.send(7, map[string]any{"server_id": "g1", "session_id": old.SessionID, "token": live.tk, "seq_ack": 0})
	if code := r.closeCode(); code != 4014 && code != 4006 {
		t.Fatalf("resume of a revoked session closed with %d, want 4014 or 4006", code)
	}
	// A revocation naming another user's session does nothing to it; a
	// newer session of the revoked user joins.
	_ = ctl.Revoke(ctx, voicectl.Session{GuildID: "g1", UserID: "u1", SessionID: newer.c.SessionID}, time.Now().Add(time.Hour))
	if _, ok := participant(h, "u2"); !ok {
		t.Fatal("a revocation naming another user ended u2's session")
	}
	h.join("u1")
	// An ended revocation is forgotten: that session may identify again.
	_ = ctl.Revoke(ctx, voicectl.Session{GuildID: "g1", UserID: "u3", SessionID: "gone"}, time.Now().Add(-time.Second))
}
