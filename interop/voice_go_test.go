package interop

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/parleyhq/parley/internal/ogg"
	"github.com/parleyhq/parley/internal/testkit"
	"github.com/parleyhq/parley/voiceclient"
	"github.com/parleyhq/parley/voiceproto"
)

// Parley's Go client against the real server: the protocol paths the
// third-party tests do not reach (burst ordering, resume, kick, recording).

// TestVoiceOrderUnderBurst sends 500 frames 2 ms apart (ten times real
// time) and requires them to arrive in the sent order: the SFU must not
// reorder one sender's packets, whatever its reader parallelism.
func TestVoiceOrderUnderBurst(t *testing.T) {
	env := startVoice(t, false)
	a := env.joinGoNoDAVE(t, "200000000000000001", "")
	b := env.joinGoNoDAVE(t, "200000000000000002", "")
	frames := ogg.SyntheticOpus(500, 41)
	if err := a.conn.Speaking(true); err != nil {
		t.Fatal(err)
	}
	for _, f := range frames {
		if err := a.conn.SendOpus(f); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond) // paces the burst at ten times real time
	}
	b.got.waitAudio(a.user, len(frames), 3*time.Second)
	checkGoFrames(t, "a -> b", b, a.user, frames)
}

// TestVoiceResume drops a speaker's gateway WebSocket mid-stream: it must
// resume (op 7 -> op 9, same session), its audio must keep flowing in
// order, and the listener must not see it leave.
func TestVoiceResume(t *testing.T) {
	env := startVoice(t, false)
	a := env.joinGoNoDAVE(t, "200000000000000011", "")
	b := env.joinGoNoDAVE(t, "200000000000000012", "")
	frames := ogg.SyntheticOpus(100, 42)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	playErr := make(chan error, 1)
	go func() { playErr <- a.conn.PlayFrames(ctx, frames) }()
	// Mid-stream: a quarter of the frames reached the listener.
	if !b.got.waitAudio(a.user, len(frames)/4, 5*time.Second) {
		t.Fatalf("listener got %d frames before the drop, want %d", len(nonSilence(b.got.from(a.user))), len(frames)/4)
	}
	a.conn.DropGateway()
	if !a.waitEvent(voiceclient.EventResumed, "", 5*time.Second) {
		t.Fatalf("no resume; conn err %v", a.conn.Err())
	}
	if err := <-playErr; err != nil {
		t.Fatalf("play across the resume: %v", err)
	}
	b.got.waitAudio(a.user, len(frames), 3*time.Second)
	checkGoFrames(t, "a -> b across a resume", b, a.user, frames)
	if b.hasEvent(voiceclient.EventClientDisconnect, a.user) {
		t.Error("the listener saw the speaker leave during its resume")
	}
	// The resumed gateway still works both ways.
	if err := a.conn.Speaking(false); err != nil {
		t.Fatal(err)
	}
	if !b.waitEvent(voiceclient.EventSpeaking, a.user, time.Second) {
		t.Error("no speaking event after the resume")
	}
}

// TestVoiceKick: the control plane's Disconnect closes the user's gateway
// with 4014 (no resume), and the others see op 13.
func TestVoiceKick(t *testing.T) {
	env := startVoice(t, false)
	a := env.joinGoNoDAVE(t, "200000000000000021", "")
	b := env.joinGoNoDAVE(t, "200000000000000022", "")
	if err := env.srv.Controller().Disconnect(context.Background(), testGuild, a.user); err != nil {
		t.Fatal(err)
	}
	select {
	case <-a.conn.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("kicked client still connected")
	}
	var ce *voiceclient.CloseError
	if err := a.conn.Err(); !errors.As(err, &ce) || ce.Code != 4014 {
		t.Fatalf("kicked client ended with %v, want close 4014", err)
	}
	if a.hasEvent(voiceclient.EventResumed, "") {
		t.Error("kicked client resumed")
	}
	if !b.waitEvent(voiceclient.EventClientDisconnect, a.user, 3*time.Second) {
		t.Error("no op 13 for the kicked user")
	}
}

// TestVoiceRecorder: a listener records a speaker through the real server;
// the Ogg Opus file holds the sent frames, then the five silence frames.
func TestVoiceRecorder(t *testing.T) {
	env := startVoice(t, false)
	dir := t.TempDir()
	rec, err := voiceclient.NewRecorder(dir)
	if err != nil {
		t.Fatal(err)
	}
	c := env.creds("200000000000000032")
	got := newFrameLog()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	listener, err := voiceclient.Dial(ctx, voiceclient.Config{
		Endpoint: c.Endpoint, Token: c.Token, SessionID: c.SessionID, UserID: c.UserID, GuildID: c.GuildID,
		RootCAs: env.pool, Logger: env.log, DisableDAVE: true,
		OnFrame: func(f voiceclient.Frame) { rec.OnFrame(f); got.add(f.UserID, f.Opus) },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer listener.Close()
	a := env.joinGoNoDAVE(t, "200000000000000031", "")
	src := filepath.Join(t.TempDir(), "in.ogg")
	frames := ogg.SyntheticOpus(50, 43)
	if err := ogg.WriteFile(src, frames); err != nil {
		t.Fatal(err)
	}
	f, err := openFile(src)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := a.conn.PlayOgg(ctx, f); err != nil {
		t.Fatal(err)
	}
	testkit.Poll(3*time.Second, func() bool { return len(got.from(a.user)) >= len(frames)+voiceclient.SilenceFrames }) // checkFrames says what is missing
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	recorded, err := ogg.ReadFile(filepath.Join(dir, a.user+".ogg"))
	if err != nil {
		t.Fatal(err)
	}
	checkFrames(t, "recording", recorded, frames)
	if n := len(recorded) - len(nonSilence(recorded)); n != voiceclient.SilenceFrames {
		t.Errorf("recording has %d silence frames, want %d", n, voiceclient.SilenceFrames)
	}
}

// TestVoiceEveryMode puts one Go client per mode the server offers with
// LegacyModes (the two AEAD modes and the five deprecated ones, which no
// third-party client here exercises except discordgo's xsalsa20_poly1305)
// in one room; everyone talks at once and must hear everyone else.
func TestVoiceEveryMode(t *testing.T) {
	env := startVoice(t, true)
	modes := voiceproto.Modes(true)
	peers := make([]*goPeer, len(modes))
	sent := map[string][][]byte{}
	for i, m := range modes {
		user := fmt.Sprintf("4000000000000000%02d", i)
		peers[i] = env.joinGoNoDAVE(t, user, m)
		if peers[i].conn.Mode() != m {
			t.Fatalf("asked for %s, got %s", m, peers[i].conn.Mode())
		}
		sent[user] = ogg.SyntheticOpus(25, uint64(400+i))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	errs := make(chan error, len(peers))
	for _, p := range peers {
		go func() { errs <- p.conn.PlayFrames(ctx, sent[p.user]) }()
	}
	for range peers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	for i, rx := range peers {
		for j, tx := range peers {
			if i == j {
				continue
			}
			rx.got.waitAudio(tx.user, len(sent[tx.user]), 3*time.Second)
			checkGoFrames(t, fmt.Sprintf("%s -> %s", modes[j], modes[i]), rx, tx.user, sent[tx.user])
		}
		if st := rx.conn.Stats(); st.DecryptErrors != 0 {
			t.Errorf("%s: %d packets failed to decrypt", modes[i], st.DecryptErrors)
		}
	}
}

// TestVoiceNATAddress: a client whose Select Protocol reports an address
// other than its real one (a NAT) still receives audio, because the server
// answers the source address of its packets.
func TestVoiceNATAddress(t *testing.T) {
	env := startVoice(t, false)
	a := env.joinGoNoDAVE(t, "500000000000000001", "")
	c := env.creds("500000000000000002")
	got := newFrameLog()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := voiceclient.Dial(ctx, voiceclient.Config{
		Endpoint: c.Endpoint, Token: c.Token, SessionID: c.SessionID, UserID: c.UserID, GuildID: c.GuildID,
		RootCAs: env.pool, Logger: env.log, DisableDAVE: true, ReportAddr: "192.0.2.7:9",
		OnFrame: func(f voiceclient.Frame) { got.add(f.UserID, f.Opus) },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	// Like every client, b sends before it hears (the keepalive or its own
	// audio is what teaches the server its address).
	if err := b.PlayFrames(ctx, ogg.SyntheticOpus(3, 60)); err != nil {
		t.Fatal(err)
	}
	frames := ogg.SyntheticOpus(25, 61)
	if err := a.conn.PlayFrames(ctx, frames); err != nil {
		t.Fatal(err)
	}
	got.waitAudio(a.user, len(frames), 3*time.Second)
	checkFrames(t, "a -> b behind a NAT", got.from(a.user), frames)
}

// TestVoiceIdentifyRejected: Identify with a token that does not match is
// refused with close 4004 (authentication failed).
func TestVoiceIdentifyRejected(t *testing.T) {
	env := startVoice(t, false)
	good := env.creds("600000000000000001")
	other := env.creds("600000000000000002")
	_, expired := env.signer.IssueFor(good.UserID, testGuild, testChannel, time.Second, time.Now().Add(-time.Hour))
	tests := []struct {
		name string
		mut  func(*creds)
	}{
		{"garbage token", func(c *creds) { c.Token = "pv1.nope.nope" }},
		{"another user's token", func(c *creds) { c.Token = other.Token }},
		{"wrong session", func(c *creds) { c.SessionID = other.SessionID }},
		{"wrong guild", func(c *creds) { c.GuildID = "900000000000000099" }},
		{"expired", func(c *creds) { c.Token = expired }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := good
			tt.mut(&c)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			conn, err := voiceclient.Dial(ctx, voiceclient.Config{
				Endpoint: c.Endpoint, Token: c.Token, SessionID: c.SessionID, UserID: c.UserID, GuildID: c.GuildID,
				RootCAs: env.pool, Logger: env.log, DisableDAVE: true,
			})
			if err == nil {
				conn.Close()
				t.Fatal("joined")
			}
			var ce *voiceclient.CloseError
			if !errors.As(err, &ce) || ce.Code != 4004 {
				t.Fatalf("err = %v, want close 4004", err)
			}
		})
	}
}
