package voiceclient

import (
	"encoding/binary"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/parleyhq/parley/e2ee/dave"
	"github.com/parleyhq/parley/e2ee/mls"
	"github.com/parleyhq/parley/voiceproto"
)

// daveMember is a daveSession driven directly by a test playing the
// gateway with a real dave.ServerSession. What the client writes is read
// back from a loopback WebSocket.
type daveMember struct {
	t    *testing.T
	user uint64
	c    *Conn
	out  chan dave.Message
}

func newDAVEMember(t *testing.T, user uint64) *daveMember {
	t.Helper()
	m := &daveMember{t: t, user: user, out: make(chan dave.Message, 64)}
	up := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		for {
			typ, data, err := ws.ReadMessage()
			if err != nil {
				return
			}
			var msg dave.Message
			if typ == websocket.BinaryMessage {
				msg, err = dave.DecodeClientFrame(data)
			} else {
				var in voiceproto.RawMessage
				if err = json.Unmarshal(data, &in); err == nil {
					msg, err = dave.DecodeJSON(dave.Opcode(in.Op), in.D)
				}
			}
			if err != nil {
				t.Errorf("member %d wrote %q: %v", user, data, err)
				return
			}
			m.out <- msg
		}
	}))
	t.Cleanup(srv.Close)
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ws.Close() })
	c := newBareConn(nil)
	c.cfg.UserID, c.cfg.ChannelID = strconv.FormatUint(user, 10), "13"
	c.ws = ws
	if c.dave, err = newDAVESession(c); err != nil {
		t.Fatal(err)
	}
	m.c = c
	return m
}

// next returns the next message the client wrote.
func (m *daveMember) next() dave.Message {
	m.t.Helper()
	select {
	case msg := <-m.out:
		return msg
	case <-time.After(5 * time.Second):
		m.t.Fatalf("member %d wrote nothing", m.user)
		return nil
	}
}

// announce makes users known to the client (op 11).
func (m *daveMember) announce(users ...uint64) {
	m.c.dmu.Lock()
	defer m.c.dmu.Unlock()
	for _, u := range users {
		m.c.members[strconv.FormatUint(u, 10)] = struct{}{}
	}
}

// deliver hands the gateway's sends to the members they are for.
func deliver(t *testing.T, sends []dave.Send, to ...*daveMember) {
	t.Helper()
	for _, s := range sends {
		for _, m := range to {
			if m.user != s.User {
				continue
			}
			if bm, ok := s.Msg.(dave.BinaryMessage); ok {
				m.c.dave.handleBinary(bm)
				continue
			}
			raw, err := json.Marshal(s.Msg)
			if err != nil {
				t.Fatal(err)
			}
			m.c.dave.handleJSON(voiceproto.Op(s.Msg.Opcode()), raw)
		}
	}
}

// handle passes a client message to the gateway.
func handle(t *testing.T, ss *dave.ServerSession, user uint64, msg dave.Message) []dave.Send {
	t.Helper()
	sends, err := ss.Handle(time.Now(), user, msg)
	if err != nil {
		t.Fatalf("gateway: %v from %d: %v", msg.Opcode(), user, err)
	}
	return sends
}

// outsider is a key package of a user that is not a daveMember.
func outsider(t *testing.T, user uint64) dave.KeyPackageMessage {
	t.Helper()
	sig, err := mls.GenerateSignatureKey()
	if err != nil {
		t.Fatal(err)
	}
	b, err := mls.NewKeyPackage(sig, mls.BasicCredential(binary.BigEndian.AppendUint64(nil, user)))
	if err != nil {
		t.Fatal(err)
	}
	return dave.KeyPackageMessage{KeyPackage: b.KeyPackage.Marshal()}
}

// TestDAVEOwnEarlierCommitWins: a member commits the live proposals, then
// commits again when an Add arrives and once more when that Add is
// revoked (its user left). A gateway that then announces the first commit
// (it covers the live proposals again; Parley's gateway re-issues them
// after a revoke so it does not, other gateways may) must find the member
// merging it, not recovering with op 31 (which silenced this client, and
// everyone for it, during churn).
func TestDAVEOwnEarlierCommitWins(t *testing.T) {
	key, err := mls.GenerateSignatureKey()
	if err != nil {
		t.Fatal(err)
	}
	ss, err := dave.NewServerSession(dave.ServerSessionConfig{ChannelID: 13, MaxProtocolVersion: 1,
		Sender: mls.NewExternalSender(key, []byte("gateway"))})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	a, b := newDAVEMember(t, 1), newDAVEMember(t, 2)
	const y, x = 3, 4
	a.announce(2, y, x)
	b.announce(1, y, x)
	for _, m := range []*daveMember{a, b} {
		v, sends := ss.Join(now, m.user, 1)
		m.c.dave.sessionDescription(v)
		deliver(t, sends, a, b)
	}
	// Group creation: both key packages, Adds, a's commit wins.
	deliver(t, handle(t, ss, 1, a.next()), a, b)
	deliver(t, handle(t, ss, 2, b.next()), a, b)
	deliver(t, handle(t, ss, 1, a.next()), a, b) // a's op 28
	_ = b.next()                                 // b's losing op 28
	deliver(t, handle(t, ss, 1, a.next()), a, b) // op 23
	deliver(t, handle(t, ss, 2, b.next()), a, b) // op 23 -> op 22
	if sa, sb := a.c.DAVE(), b.c.DAVE(); !sa.Ready || sa.Epoch != 1 || sa.PrivacyCode != sb.PrivacyCode {
		t.Fatalf("group not created: %+v / %+v", sa, sb)
	}

	// y joins: Add y; a commits (c1, in flight).
	ss.Join(now, y, 1)
	deliver(t, handle(t, ss, y, outsider(t, y)), a)
	c1 := a.next().(dave.CommitWelcome)
	// x joins: Add x; a commits again. x leaves and a gateway that does
	// not re-issue proposals revokes only its Add; a commits again.
	ss.Join(now, x, 1)
	before := len(a.c.dave.group.CachedProposalRefs())
	deliver(t, handle(t, ss, x, outsider(t, x)), a)
	_ = a.next()
	refs := a.c.dave.group.CachedProposalRefs()
	if len(refs) != before+1 {
		t.Fatalf("cached proposals %d, want %d", len(refs), before+1)
	}
	revoke, err := dave.RevokeProposals(refs[len(refs)-1])
	if err != nil {
		t.Fatal(err)
	}
	a.c.dave.handleBinary(revoke)
	_ = a.next()
	// The gateway announces c1: the commit MLSMessage without the Welcome.
	_, welcome, err := mls.ParseMLSMessagePrefix(c1.Data)
	if err != nil {
		t.Fatal(err)
	}
	a.c.dave.handleBinary(dave.AnnounceCommitTransition{TransitionID: 7, Commit: c1.Data[:len(c1.Data)-len(welcome)]})
	if st := a.c.DAVE(); st.Recoveries != 0 || st.Epoch != 2 || len(st.Members) != 3 {
		t.Fatalf("a did not merge its own earlier commit: %+v", st)
	}
	if msg := a.next(); msg.Opcode() != dave.OpReadyForTransition {
		t.Fatalf("a answered %v, want op 23", msg.Opcode())
	}
}
