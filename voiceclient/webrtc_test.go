package voiceclient

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/parleyhq/parley/internal/ogg"
	"github.com/parleyhq/parley/internal/testkit"
	"github.com/parleyhq/parley/voicenode"
	"github.com/parleyhq/parley/voicenode/voicenodetest"
)

// TestWebRTCDialect: a client in the webrtc dialect (pion, as a browser)
// and native clients share a channel through a real voice node: each
// hears the others byte for byte, with and without DAVE end-to-end
// encryption on top (DAVE frames travel inside SRTP as they do inside the
// native transport).
func TestWebRTCDialect(t *testing.T) {
	for _, e2ee := range []bool{false, true} {
		t.Run(fmt.Sprintf("dave=%v", e2ee), func(t *testing.T) {
			testkit.NoLeaks(t)
			n := voicenodetest.Start(t, voicenode.Config{WebRTCAddr: "127.0.0.1:0", Readers: 1})
			join := func(user string, webrtc bool) (*Conn, *collector) { return joinDialect(t, n, user, webrtc, e2ee) }
			native, nCol := join("1001", false)
			web, wCol := join("1002", true)
			other, oCol := join("1003", false) // joins after the browser: a renegotiation
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if e2ee {
				// Everyone in the same epoch first: a member sends with the
				// previous epoch's key until its op 22, which the newest
				// member cannot decrypt (the DAVE tests wait the same way).
				(&daveRoom{t: t, srv: n}).waitSynced(native, web, other)
			}
			frames := ogg.SyntheticOpus(25, 11)
			for _, c := range []*Conn{web, native, other} {
				if err := c.PlayFrames(ctx, frames); err != nil {
					t.Fatalf("%s plays: %v", c.UserID(), err)
				}
			}
			for _, rx := range []struct {
				name string
				col  *collector
				from []string
			}{{"native", nCol, []string{"1002", "1003"}}, {"webrtc", wCol, []string{"1001", "1003"}}, {"other", oCol, []string{"1001", "1002"}}} {
				for _, from := range rx.from {
					var got []Frame
					testkit.Eventually(t, 10*time.Second, func() bool {
						got = voiced(rx.col, from)
						return len(got) >= len(frames)
					}, "%s: %d of %d frames from %s; stats %+v %+v %+v", rx.name, len(voiced(rx.col, from)), len(frames), from, native.Stats(), web.Stats(), other.Stats())
					for i := range frames {
						if !bytes.Equal(got[i].Opus, frames[i]) {
							t.Fatalf("%s: frame %d from %s differs", rx.name, i, from)
						}
						if i > 0 && got[i].Seq != got[i-1].Seq+1 {
							t.Fatalf("%s: frames from %s not contiguous at %d", rx.name, from, i)
						}
					}
				}
			}
		})
	}
}

// voiced returns the non-silence frames col got from user.
func voiced(col *collector, user string) []Frame {
	col.mu.Lock()
	defer col.mu.Unlock()
	var out []Frame
	for _, f := range col.frames {
		if f.UserID == user && !ogg.IsSilence(f.Opus) {
			out = append(out, f)
		}
	}
	return out
}

// TestWebRTCResume: a webrtc client whose gateway connection drops resumes
// the session; its peer connection (ICE, DTLS, SRTP) was never the
// gateway's, so media flows on without a new handshake.
func TestWebRTCResume(t *testing.T) {
	testkit.NoLeaks(t)
	n := voicenodetest.Start(t, voicenode.Config{WebRTCAddr: "127.0.0.1:0", Readers: 1})
	join := func(user string, webrtc bool) (*Conn, *collector) { return joinDialect(t, n, user, webrtc, false) }
	native, nCol := join("2001", false)
	web, wCol := join("2002", true)
	web.DropGateway()
	testkit.Eventually(t, 10*time.Second, func() bool {
		wCol.mu.Lock()
		defer wCol.mu.Unlock()
		for _, e := range wCol.events {
			if e.Type == EventResumed {
				return true
			}
		}
		return false
	}, "the webrtc client resumed")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	frames := ogg.SyntheticOpus(10, 3)
	if err := web.PlayFrames(ctx, frames); err != nil {
		t.Fatal(err)
	}
	if err := native.PlayFrames(ctx, frames); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 10*time.Second, func() bool { return len(voiced(nCol, "2002")) == len(frames) }, "native hears the resumed client")
	testkit.Eventually(t, 10*time.Second, func() bool { return len(voiced(wCol, "2001")) == len(frames) }, "the resumed client hears native")
}

// joinDialect joins user to the DAVE test channel on n in the native or the
// webrtc dialect, collecting what it hears.
func joinDialect(t *testing.T, n *voicenodetest.Node, user string, webrtc, e2ee bool) (*Conn, *collector) {
	t.Helper()
	cr := n.Creds(user, daveGuild, daveChan)
	col := newCollector()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	c, err := Dial(ctx, Config{Endpoint: cr.Endpoint, Token: cr.Token, SessionID: cr.SessionID, UserID: user,
		GuildID: daveGuild, ChannelID: daveChan, RootCAs: n.RootCAs, WebRTC: webrtc, DisableDAVE: !e2ee,
		OnFrame: col.onFrame, OnEvent: col.onEvent})
	if err != nil {
		t.Fatalf("join %s (webrtc %v): %v", user, webrtc, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c, col
}
