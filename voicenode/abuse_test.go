package voicenode_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/parleyhq/parley/internal/ogg"
	"github.com/parleyhq/parley/internal/testkit"
	"github.com/parleyhq/parley/voiceclient"
	"github.com/parleyhq/parley/voicenode"
	"github.com/parleyhq/parley/voicenode/voicenodetest"
	"github.com/parleyhq/parley/voiceproto"
)

// abuseCorpus are messages a client might send, valid and not; the abusers
// send them mutated.
func abuseCorpus(cr func(string) (string, string, string)) [][]byte {
	user, session, token := cr("abuser")
	msgs := []any{
		voiceproto.Message{Op: voiceproto.OpIdentify, D: voiceproto.Identify{ServerID: "1", UserID: voiceproto.ID(user), SessionID: voiceproto.ID(session), Token: token, MaxDaveProtocolVersion: 1}},
		voiceproto.Message{Op: voiceproto.OpSelectProtocol, D: voiceproto.SelectProtocol{Protocol: "udp", Data: voiceproto.SelectProtocolData{Address: "127.0.0.1", Port: 9, Mode: voiceproto.ModeAES256GCMRTPSize}}},
		voiceproto.Message{Op: voiceproto.OpHeartbeat, D: map[string]any{"t": 1, "seq_ack": 3}},
		voiceproto.Message{Op: voiceproto.OpSpeaking, D: voiceproto.Speaking{Speaking: 1}},
		voiceproto.Message{Op: voiceproto.OpResume, D: map[string]any{"server_id": "1", "session_id": session, "token": token, "seq_ack": 1}},
		voiceproto.Message{Op: voiceproto.OpDAVEReadyForTransition, D: map[string]any{"transition_id": 7}},
		voiceproto.Message{Op: voiceproto.OpDAVEInvalidCommitWelcome, D: map[string]any{"transition_id": 7}},
		voiceproto.Message{Op: 99, D: nil},
	}
	var out [][]byte
	for _, m := range msgs {
		b, _ := json.Marshal(m)
		out = append(out, b)
	}
	return out
}

// mutate returns a random variation of b: a flipped byte, a cut, a
// repeated run, an op swapped for another number, or b as it is.
func mutate(r *mrand.Rand, b []byte) []byte {
	b = append([]byte(nil), b...)
	switch r.IntN(6) {
	case 0:
		if len(b) > 0 {
			b[r.IntN(len(b))] ^= byte(1 << r.IntN(8))
		}
	case 1:
		b = b[:r.IntN(len(b)+1)]
	case 2:
		i := r.IntN(len(b) + 1)
		run := b[i:min(len(b), i+8)]
		for range r.IntN(200) {
			b = append(b[:i:i], append(run, b[i:]...)...)
		}
	case 3:
		b = fmt.Appendf(nil, `{"op":%d,"d":%s}`, r.IntN(70000)-1000, b)
	case 4:
		junk := make([]byte, r.IntN(300))
		_, _ = rand.Read(junk)
		return junk
	}
	return b
}

// TestGatewayAbuse: many connections from many addresses send random and
// mutated frames, text and binary, identified or not, while two real
// clients talk through the node. The conversation is unaffected, every
// abusive connection ends with a close code (never a panic or a hang), and
// memory and goroutines come back once the abuse stops.
func TestGatewayAbuse(t *testing.T) {
	testkit.NoLeaks(t)
	n := voicenodetest.Start(t, voicenode.Config{Readers: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	join := func(user string, got *atomic.Int64) *voiceclient.Conn {
		cr := n.Creds(user, "1", "2")
		c, err := voiceclient.Dial(ctx, voiceclient.Config{Endpoint: cr.Endpoint, Token: cr.Token, SessionID: cr.SessionID,
			UserID: user, GuildID: "1", ChannelID: "2", RootCAs: n.RootCAs, DisableDAVE: true,
			OnFrame: func(f voiceclient.Frame) {
				if got != nil && !ogg.IsSilence(f.Opus) {
					got.Add(1)
				}
			}})
		if err != nil {
			t.Fatalf("join %s: %v", user, err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	var heard atomic.Int64
	speaker := join("100", nil)
	listener := join("101", &heard)
	testkit.Eventually(t, 5*time.Second, func() bool { return len(listener.Members()) == 1 }, "the listener sees the speaker")

	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)

	const abusers, window = 24, 2 * time.Second
	corpus := abuseCorpus(func(u string) (string, string, string) {
		cr := n.Creds(u, "1", "2")
		return cr.UserID, cr.SessionID, cr.Token
	})
	stop := time.Now().Add(window)
	var wg sync.WaitGroup
	var conns, closes atomic.Int64
	for a := range abusers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := mrand.New(mrand.NewPCG(uint64(a), 7))
			d := n.Dialer()
			nd := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 2, byte(a), 1)}, Timeout: 2 * time.Second}
			d.NetDialContext = nd.DialContext
			for time.Now().Before(stop) {
				ws, _, err := d.Dial("wss://"+n.GatewayAddr()+"/?v=8", nil)
				if err != nil {
					continue // over a cap, or the server closed at accept
				}
				conns.Add(1)
				done := make(chan struct{})
				go func() { // drain until the server closes
					defer close(done)
					for {
						if _, _, err := ws.ReadMessage(); err != nil {
							if _, ok := err.(*websocket.CloseError); ok {
								closes.Add(1)
							}
							return
						}
					}
				}()
				for i := 0; i < 50 && time.Now().Before(stop); i++ {
					typ := websocket.TextMessage
					if r.IntN(5) == 0 {
						typ = websocket.BinaryMessage
					}
					if ws.WriteMessage(typ, mutate(r, corpus[r.IntN(len(corpus))])) != nil {
						break
					}
				}
				_ = ws.Close()
				<-done
			}
		}()
	}
	// Junk on the media port too: random datagrams and the speaker's SSRC
	// with garbage, from another socket.
	wg.Add(1)
	go func() {
		defer wg.Done()
		u, err := net.Dial("udp", n.UDPAddr())
		if err != nil {
			return
		}
		defer u.Close()
		r := mrand.New(mrand.NewPCG(99, 1))
		buf := make([]byte, 1200)
		// Paced at about 4000 datagrams a second: an unpaced loopback
		// flood fills the kernel's socket buffers, which is a volumetric
		// attack for the network's edge, not something the node can
		// answer; this checks that junk is dropped without harm.
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for time.Now().Before(stop) {
			<-tick.C
			for k := 0; k < 4; k++ {
				b := buf[:r.IntN(len(buf))]
				_, _ = rand.Read(b)
				if len(b) >= voiceproto.FixedHeaderLen && r.IntN(2) == 0 {
					voiceproto.PutFixedHeader(b, false, voiceproto.PayloadTypeOpus, uint16(r.Uint32()), r.Uint32(), speaker.SSRC())
				}
				_, _ = u.Write(b)
			}
		}
	}()
	// Meanwhile the two real clients talk.
	frames := ogg.SyntheticOpus(int(window/voiceclient.FrameDuration), 5)
	if err := speaker.PlayFrames(ctx, frames); err != nil {
		t.Fatalf("speaker: %v", err)
	}
	wg.Wait()
	testkit.Eventually(t, 5*time.Second, func() bool { return heard.Load() == int64(len(frames)) },
		"the listener heard %d of %d frames during the abuse", heard.Load(), len(frames))
	if st := listener.Stats(); st.DecryptErrors != 0 || st.BadMessages != 0 {
		t.Fatalf("listener stats %+v", st)
	}
	if conns.Load() < abusers {
		t.Fatalf("only %d abusive connections were made", conns.Load())
	}
	t.Logf("%d abusive connections, %d closed with a close code", conns.Load(), closes.Load())
	// The node is back to the two real sessions, and its memory to where
	// it was (within the allowance of a few MiB of caches).
	testkit.Eventually(t, 5*time.Second, func() bool { return len(n.Participants()) == 2 },
		"participants %v, want only the two real clients", n.Participants())
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	if grown := int64(after.HeapInuse) - int64(before.HeapInuse); grown > 32<<20 {
		t.Fatalf("heap in use grew by %d MiB during the abuse", grown>>20)
	}
}
