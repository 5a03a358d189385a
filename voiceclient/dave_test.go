package voiceclient

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/parleyhq/parley/internal/testkit"
	"github.com/parleyhq/parley/voicenode"
	"github.com/parleyhq/parley/voicenode/voicenodetest"
	"github.com/parleyhq/parley/voiceproto"
)

// daveRoom is a real voice server with Go clients in one channel.
type daveRoom struct {
	t   *testing.T
	srv *voicenodetest.Node
}

const daveGuild, daveChan = "900", "901"

func newDAVERoom(t *testing.T) *daveRoom {
	t.Helper()
	testkit.NoLeaks(t)
	return &daveRoom{t: t, srv: voicenodetest.Start(t, voicenode.Config{Readers: 1})}
}

func (r *daveRoom) join(user string, noDAVE bool) (*Conn, *collector) {
	r.t.Helper()
	cr := r.srv.Creds(user, daveGuild, daveChan)
	col := newCollector()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Dial(ctx, Config{Endpoint: cr.Endpoint, Token: cr.Token, SessionID: cr.SessionID, UserID: user,
		GuildID: daveGuild, ChannelID: daveChan, RootCAs: r.srv.RootCAs, DisableDAVE: noDAVE,
		OnFrame: col.onFrame, OnEvent: col.onEvent})
	if err != nil {
		r.t.Fatalf("join %s: %v", user, err)
	}
	r.t.Cleanup(func() { _ = c.Close() })
	return c, col
}

// waitSynced waits until every client reports the server's epoch and one
// privacy code with version 1, and has executed its transitions (a member
// sends with the previous epoch's key until its op 22, which a member
// that joined in this epoch cannot decrypt).
func (r *daveRoom) waitSynced(conns ...*Conn) DAVEState {
	r.t.Helper()
	st, _ := r.srv.DAVEState(daveGuild, daveChan)
	var first DAVEState
	synced := testkit.Poll(10*time.Second, func() bool {
		st, _ = r.srv.DAVEState(daveGuild, daveChan)
		ok := st.Established && !st.Transition && st.Proposals == 0 && len(st.GroupUsers) == len(conns)
		for i, c := range conns {
			s := c.DAVE()
			if !s.Ready || s.ProtocolVersion != 1 || s.Epoch != st.Epoch || s.Pending != 0 || s.PrivacyCode == "" || i > 0 && s.PrivacyCode != first.PrivacyCode {
				ok = false
			}
			if i == 0 {
				first = s
			}
		}
		return ok
	})
	if !synced {
		for _, c := range conns {
			r.t.Logf("%s: %+v", c.UserID(), c.DAVE())
		}
		r.t.Fatalf("not synced: server %+v", st)
	}
	return first
}

// exchange sends a burst from every client and checks each other client
// decrypts every frame to the bytes sent.
func exchange(t *testing.T, round int, conns []*Conn, cols []*collector) {
	t.Helper()
	const n = 10
	for _, c := range cols {
		c.mu.Lock()
		c.frames = nil
		c.mu.Unlock()
	}
	for i, c := range conns {
		for k := range n {
			if err := c.SendOpus([]byte(fmt.Sprintf("round %d frame %d from %d", round, k, i))); err != nil {
				t.Fatal(err)
			}
		}
	}
	for j, col := range cols {
		want := n * (len(conns) - 1)
		var got map[string]int
		all := testkit.Poll(5*time.Second, func() bool {
			col.mu.Lock()
			defer col.mu.Unlock()
			got = map[string]int{}
			total := 0
			for _, f := range col.frames {
				for i, c := range conns {
					if f.UserID == c.UserID() && bytes.HasPrefix(f.Opus, []byte(fmt.Sprintf("round %d frame", round))) &&
						bytes.HasSuffix(f.Opus, []byte("from "+strconv.Itoa(i))) {
						got[f.UserID]++
						total++
					}
				}
			}
			return total >= want
		})
		if !all {
			t.Fatalf("round %d: client %d decrypted %v, want %d from each other client (%+v)", round, j, got, n, conns[j].DAVE())
		}
	}
}

func TestDAVEGoClients(t *testing.T) {
	r := newDAVERoom(t)
	a, ca := r.join("1001", false)
	b, cb := r.join("1002", false)
	c, cc := r.join("1003", false)
	st := r.waitSynced(a, b, c)
	if len(st.PrivacyCode) != 30 || len(st.Members) != 3 {
		t.Fatalf("state %+v", st)
	}
	exchange(t, 1, []*Conn{a, b, c}, []*collector{ca, cb, cc})
	if st := a.DAVE(); st.Encrypt.Encrypted == 0 || st.Decrypt.Decrypted == 0 {
		t.Fatalf("frames were not end-to-end encrypted: %+v", st)
	}
	ab, err := a.PairwiseCode("1002")
	if err != nil {
		t.Fatal(err)
	}
	ba, err := b.PairwiseCode("1001")
	if err != nil || ab != ba || len(ab) != 45 {
		t.Fatalf("pairwise codes %q %q (%v)", ab, ba, err)
	}

	// A client without DAVE downgrades the room; all four hear each other.
	x, cx := r.join("1009", true)
	testkit.Eventually(t, 5*time.Second, func() bool {
		return a.DAVE().ProtocolVersion == 0 && b.DAVE().ProtocolVersion == 0 && c.DAVE().ProtocolVersion == 0
	}, "no downgrade: %v %v %v", a.DAVE().ProtocolVersion, b.DAVE().ProtocolVersion, c.DAVE().ProtocolVersion)
	exchange(t, 2, []*Conn{a, b, c, x}, []*collector{ca, cb, cc, cx})

	// It leaves: the room upgrades again.
	_ = x.Close()
	r.waitSynced(a, b, c)
	exchange(t, 3, []*Conn{a, b, c}, []*collector{ca, cb, cc})

	// A member leaves and one joins.
	_ = b.Close()
	d, cd := r.join("1004", false)
	r.waitSynced(a, c, d)
	exchange(t, 4, []*Conn{a, c, d}, []*collector{ca, cc, cd})
	if st := a.DAVE(); st.Recoveries != 0 || st.Decrypt.AuthFailures != 0 {
		t.Fatalf("recoveries or failures: %+v", st)
	}
}

// TestDAVESendRightAfterDial: both members send a burst the moment the
// second one's Dial returns. Every frame arrives, end-to-end encrypted:
// Dial returns once the joiner holds its sender key, and the first member
// waits for the op 22 that installs its own rather than send frames the SFU
// drops (transport-only Opus once the group exists).
func TestDAVESendRightAfterDial(t *testing.T) {
	r := newDAVERoom(t)
	a, ca := r.join("2001", false)
	b, cb := r.join("2002", false)
	const n = 50
	send := func(c *Conn, errs chan<- error) {
		for k := range n {
			if err := c.SendOpus([]byte(fmt.Sprintf("frame %d from %s", k, c.UserID()))); err != nil {
				errs <- err
				return
			}
		}
		errs <- nil
	}
	errs := make(chan error, 2)
	go send(a, errs)
	go send(b, errs)
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []struct {
		to   *collector
		from *Conn
	}{{cb, a}, {ca, b}} {
		got := p.to.waitFrames(t, n, 5*time.Second)
		for k, f := range got {
			if want := fmt.Sprintf("frame %d from %s", k, p.from.UserID()); string(f.Opus) != want || f.UserID != p.from.UserID() {
				t.Fatalf("frame %d from %s: %q, want %q", k, p.from.UserID(), f.Opus, want)
			}
		}
	}
	for _, c := range []*Conn{a, b} {
		if st := c.DAVE(); st.Encrypt.Encrypted != n || st.Decrypt.Decrypted != n || st.Decrypt.Passthrough != 0 {
			t.Errorf("%s: not every frame end-to-end encrypted: %+v", c.UserID(), st)
		}
		if st := c.Stats(); st.DAVENotReady != 0 {
			t.Errorf("%s: %+v", c.UserID(), st)
		}
	}
}

// TestDAVESendWaitsForKey: at DAVE version 1 with someone else in the room
// and no sender key, a send waits; it goes out once the client is alone
// (transport-only Opus that no one receives), and Close ends the wait.
func TestDAVESendWaitsForKey(t *testing.T) {
	s := newFakeServer(t, voiceproto.Modes(false))
	s.daveVersion = 1 // and never a key
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	c, err := Dial(ctx, Config{Endpoint: s.endpoint(), Token: "tok", SessionID: "sess", UserID: "11", GuildID: "12",
		ChannelID: "13", RootCAs: s.pool()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	short, cancel2 := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel2()
	if err := c.WaitDAVE(short); !errors.Is(err, ErrDAVENotReady) {
		t.Fatalf("WaitDAVE = %v, want ErrDAVENotReady", err)
	}

	sent := make(chan error, 1)
	go func() { sent <- c.SendOpus([]byte("hello")) }()
	waiting(t, c, 1)
	select {
	case err := <-sent:
		t.Fatalf("SendOpus returned %v before DAVE settled", err)
	default:
	}
	s.write(s.lastWS(), voiceproto.OpClientDisconnect, map[string]any{"user_id": "echo"})
	select {
	case err := <-sent:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("SendOpus still waiting with no one else in the room")
	}
	// (No WaitDAVE check here: the fake server echoes the frame and
	// announces "echo" again with op 5, so the client may no longer be
	// alone by now; SendOpus returning already shows the wait ended.)
	if st := c.Stats(); st.DAVEWaits != 1 || st.FramesSent != 1 {
		t.Fatalf("stats %+v", st)
	}

	s.write(s.lastWS(), voiceproto.OpClientsConnect, map[string]any{"user_ids": []string{"echo"}})
	testkit.Eventually(t, 2*time.Second, func() bool { return len(c.Members()) > 0 }, "op 11 not seen")
	go func() { sent <- c.SendOpus([]byte("again")) }()
	waiting(t, c, 2)
	_ = c.Close()
	select {
	case err := <-sent:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("SendOpus after Close = %v, want ErrClosed", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Close did not end the wait")
	}
}

// waiting waits until the n-th send that had to wait for DAVE is waiting
// (Stats.DAVEWaits counts a send as it starts to wait).
func waiting(t *testing.T, c *Conn, n uint64) {
	t.Helper()
	testkit.Eventually(t, 2*time.Second, func() bool { return c.Stats().DAVEWaits >= n }, "send %d not waiting for DAVE: %+v", n, c.Stats())
}
