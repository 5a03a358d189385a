package sfu_test

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/parleyhq/parley/internal/datadir"
	"github.com/parleyhq/parley/internal/ogg"
	"github.com/parleyhq/parley/internal/voiceclient"
	"github.com/parleyhq/parley/internal/voiceserver"
	"github.com/parleyhq/parley/internal/voicetoken"
	"github.com/parleyhq/parley/sfu/voicecrypto"
)

// room is a voice server with Go clients joined to one channel.
type room struct {
	t       *testing.T
	srv     *voiceserver.Server
	clients map[string]*voiceclient.Conn
	mu      sync.Mutex
	got     map[string][]voiceclient.Frame // receiver -> frames (Opus copied)
}

func newRoom(t *testing.T, users []string, modes map[string]string) *room {
	t.Helper()
	dir, err := datadir.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	tcfg, _ := dir.TLSConfig("", "")
	pool, _ := dir.CertPool()
	key := bytes.Repeat([]byte{7}, 32)
	srv, err := voiceserver.New(voiceserver.Config{TLS: tcfg, TokenKey: key, LegacyModes: true, Readers: 1}) // one reader: the tests assert arrival order
	if err != nil {
		t.Fatal(err)
	}
	_ = srv.Start(context.Background())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Close(ctx)
	})
	signer, _ := voicetoken.NewSigner(key)
	r := &room{t: t, srv: srv, clients: map[string]*voiceclient.Conn{}, got: map[string][]voiceclient.Frame{}}
	for _, u := range users {
		c, tok := signer.IssueFor(u, "g", "lounge", time.Minute, time.Now())
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		conn, err := voiceclient.Dial(ctx, voiceclient.Config{
			Endpoint: srv.GatewayAddr(), Token: tok, SessionID: c.SessionID, UserID: u, GuildID: "g", ChannelID: "lounge",
			RootCAs: pool, Mode: modes[u],
			OnFrame: func(f voiceclient.Frame) {
				f.Opus = bytes.Clone(f.Opus)
				r.mu.Lock()
				r.got[u] = append(r.got[u], f)
				r.mu.Unlock()
			},
		})
		cancel()
		if err != nil {
			t.Fatalf("dial %s: %v", u, err)
		}
		t.Cleanup(func() { _ = conn.Close() })
		r.clients[u] = conn
	}
	// Wait until every client knows every other's SSRC.
	r.waitFor("members", func() bool {
		for _, c := range r.clients {
			if len(c.Members()) < len(users)-1 {
				return false
			}
		}
		return true
	})
	return r
}

func (r *room) waitFor(what string, cond func() bool) {
	r.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			r.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// frames returns what receiver got from sender.
func (r *room) frames(receiver, sender string) []voiceclient.Frame {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []voiceclient.Frame
	for _, f := range r.got[receiver] {
		if f.UserID == sender {
			out = append(out, f)
		}
	}
	return out
}

func (r *room) waitFrames(receiver, sender string, n int) []voiceclient.Frame {
	r.t.Helper()
	r.waitFor(fmt.Sprintf("%d frames %s->%s", n, sender, receiver), func() bool { return len(r.frames(receiver, sender)) >= n })
	return r.frames(receiver, sender)
}

// send paces packets so loopback keeps them in order.
func (r *room) send(user string, pkts []voiceclient.Packet) {
	r.t.Helper()
	for _, p := range pkts {
		if err := r.clients[user].SendPacket(p); err != nil {
			r.t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
	}
}

func packets(frames [][]byte, seq uint16, ts uint32) []voiceclient.Packet {
	out := make([]voiceclient.Packet, len(frames))
	for i, f := range frames {
		out[i] = voiceclient.Packet{Seq: seq + uint16(i), Timestamp: ts + uint32(i)*960, Opus: f}
	}
	return out
}

// checkContiguous asserts consecutive sequence numbers and returns the
// timestamp deltas.
func checkContiguous(t *testing.T, fs []voiceclient.Frame) []uint32 {
	t.Helper()
	var deltas []uint32
	for i := 1; i < len(fs); i++ {
		if fs[i].Seq != fs[i-1].Seq+1 {
			t.Fatalf("frame %d: seq %d after %d, not contiguous", i, fs[i].Seq, fs[i-1].Seq)
		}
		deltas = append(deltas, fs[i].Timestamp-fs[i-1].Timestamp)
	}
	return deltas
}

func TestForwardEveryModeByteForByte(t *testing.T) {
	modes := voicecrypto.Modes(true)
	users := make([]string, len(modes))
	byUser := map[string]string{}
	for i, m := range modes {
		users[i] = fmt.Sprintf("u%d", i)
		byUser[users[i]] = m
	}
	r := newRoom(t, users, byUser)
	for i, sender := range users {
		frames := ogg.SyntheticOpus(20, uint64(i))
		r.send(sender, packets(frames, 65530, 4294967000)) // wraps both
		for _, recv := range users {
			if recv == sender {
				continue
			}
			got := r.waitFrames(recv, sender, len(frames))
			for j, f := range got {
				if !bytes.Equal(f.Opus, frames[j]) {
					t.Fatalf("%s (%s) -> %s (%s): frame %d differs", sender, byUser[sender], recv, byUser[recv], j)
				}
				if f.SSRC != r.clients[sender].SSRC() {
					t.Fatalf("frame from SSRC %d, want sender's %d", f.SSRC, r.clients[sender].SSRC())
				}
			}
			for _, d := range checkContiguous(t, got) {
				if d != 960 {
					t.Fatalf("timestamp delta %d, want 960", d)
				}
			}
		}
	}
}

func TestSilenceSuppressionKeepsStreamContiguous(t *testing.T) {
	r := newRoom(t, []string{"talker", "marks", "plain"}, nil)
	// "marks" sends a marked packet so the server knows it accepts markers.
	r.send("marks", []voiceclient.Packet{{Seq: 1, Timestamp: 960, Marker: true, Opus: []byte{0xFC, 1, 2, 3}}})
	r.waitFrames("plain", "marks", 1)

	voice := ogg.SyntheticOpus(10, 42)
	silence := []byte{0xF8, 0xFF, 0xFE}
	var frames [][]byte
	frames = append(frames, voice[:5]...)
	for range 20 {
		frames = append(frames, silence)
	}
	frames = append(frames, voice[5:]...)
	r.send("talker", packets(frames, 100, 48000))

	for _, recv := range []string{"marks", "plain"} {
		got := r.waitFrames(recv, "talker", 5+5+5)
		time.Sleep(50 * time.Millisecond)
		got = r.frames(recv, "talker")
		if len(got) != 15 {
			t.Fatalf("%s got %d frames, want 15 (5 voice, 5 trailing silence, 5 voice)", recv, len(got))
		}
		deltas := checkContiguous(t, got)
		// After 5 forwarded silence frames, 15 were suppressed: the jump
		// carries the real elapsed time.
		if deltas[9] != 16*960 {
			t.Fatalf("%s: timestamp jump over suppressed silence %d, want %d", recv, deltas[9], 16*960)
		}
		resumed := got[10]
		if want := recv == "marks"; resumed.Marker != want {
			t.Fatalf("%s: marker on the new talkspurt = %v, want %v", recv, resumed.Marker, want)
		}
		if !bytes.Equal(resumed.Opus, voice[5]) {
			t.Fatalf("%s: first frame after silence differs", recv)
		}
	}
}

func TestServerMuteAndDeafen(t *testing.T) {
	r := newRoom(t, []string{"a", "b", "c"}, nil)
	ctl := r.srv.Controller()
	frames := ogg.SyntheticOpus(30, 1)
	r.send("a", packets(frames[:10], 0, 0))
	r.waitFrames("b", "a", 10)
	r.waitFrames("c", "a", 10)

	if err := ctl.SetServerMute("g", "a", true); err != nil {
		t.Fatal(err)
	}
	r.send("a", packets(frames[10:20], 10, 10*960))
	if err := ctl.SetServerMute("g", "a", false); err != nil {
		t.Fatal(err)
	}
	if err := ctl.SetServerDeaf("g", "c", true); err != nil {
		t.Fatal(err)
	}
	r.send("a", packets(frames[20:], 20, 20*960))
	got := r.waitFrames("b", "a", 20)
	time.Sleep(50 * time.Millisecond)
	if got = r.frames("b", "a"); len(got) != 20 {
		t.Fatalf("b got %d frames, want 20 (10 muted ones dropped)", len(got))
	}
	deltas := checkContiguous(t, got)
	if deltas[9] != 11*960 {
		t.Fatalf("timestamp jump across the mute %d, want %d", deltas[9], 11*960)
	}
	if !bytes.Equal(got[10].Opus, frames[20]) {
		t.Fatal("first frame after unmute differs")
	}
	if n := len(r.frames("c", "a")); n != 10 {
		t.Fatalf("deafened c got %d frames, want the 10 from before", n)
	}
	if err := ctl.SetServerMute("g", "nobody", true); err == nil {
		t.Fatal("muting an unknown user succeeded")
	}
	drops := r.srv.Node().Stats().Snapshot().Drops
	if drops["server_mute"] != 20 || drops["server_deaf"] != 10 {
		t.Fatalf("drops %v, want server_mute 20 (10 packets x 2 receivers), server_deaf 10", drops)
	}
}

func TestReorderedPacketsKeepTheirNumbers(t *testing.T) {
	r := newRoom(t, []string{"a", "b"}, nil)
	frames := ogg.SyntheticOpus(5, 9)
	p := packets(frames, 500, 0)
	r.send("a", []voiceclient.Packet{p[0], p[1], p[3], p[2], p[4], p[4]})
	got := r.waitFrames("b", "a", 5)
	time.Sleep(50 * time.Millisecond)
	got = r.frames("b", "a")
	if len(got) != 5 {
		t.Fatalf("got %d frames, want 5 (the duplicate dropped)", len(got))
	}
	order := []int{0, 1, 3, 2, 4}
	for i, f := range got {
		if !bytes.Equal(f.Opus, frames[order[i]]) {
			t.Fatalf("frame %d is not input %d", i, order[i])
		}
		if want := got[0].Seq + uint16(order[i]); f.Seq != want {
			t.Fatalf("frame %d seq %d, want %d", i, f.Seq, want)
		}
	}
}

func TestGarbageIsDroppedAndCounted(t *testing.T) {
	r := newRoom(t, []string{"a", "b"}, nil)
	a := r.clients["a"]
	ssrc := a.SSRC()
	bad := [][]byte{
		{0x80, 0x78, 0, 1, 0, 0, 0, 1, byte(ssrc >> 24), byte(ssrc >> 16), byte(ssrc >> 8), byte(ssrc), 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20}, // bad tag
		{0x80, 0x78, 0, 1, 0, 0, 0, 1, 0xde, 0xad, 0xbe, 0xef, 1, 2, 3}, // unknown ssrc
		{1, 2, 3},       // unknown kind
		make([]byte, 8), // keepalive
		{0x80, 0xc8, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, // RTCP
	}
	for _, b := range bad {
		if err := a.WriteDatagram(b); err != nil {
			t.Fatal(err)
		}
	}
	frames := ogg.SyntheticOpus(3, 3)
	r.send("a", packets(frames, 0, 0))
	r.waitFrames("b", "a", 3)
	st := r.srv.Node().Stats().Snapshot()
	if st.Drops["decrypt"] < 1 || st.Drops["unknown_ssrc"] < 1 || st.Drops["unknown_kind"] < 1 || st.Keepalives < 1 || st.RTCP < 1 {
		t.Fatalf("stats %+v", st)
	}
}
