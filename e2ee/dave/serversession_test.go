package dave

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/parleyhq/parley/e2ee/mls"
)

// simClient is a Go DAVE participant built on e2ee/mls, behaving like
// discord.js + davey (DAVESession.ts): key package on session start and
// on op 24, commit of all cached proposals on op 27, op 23 after op 29/30.
type simClient struct {
	t        *testing.T
	user     uint64
	dave     bool
	version  uint16
	bundle   *mls.KeyPackageBundle
	ext      []byte
	group    *mls.Group
	joined   bool // group came from a commit/welcome (not the pending one)
	lastSent []byte
	executed []uint16
}

func (c *simClient) newKeyPackage() []byte {
	sig, err := mls.GenerateSignatureKey()
	if err != nil {
		c.t.Fatal(err)
	}
	c.bundle, err = mls.NewKeyPackage(sig, mls.BasicCredential(identity(c.user)))
	if err != nil {
		c.t.Fatal(err)
	}
	c.group, c.joined = nil, false
	c.pendingGroup()
	return c.bundle.KeyPackage.Marshal()
}

func (c *simClient) pendingGroup() {
	if c.ext == nil || c.bundle == nil || c.group != nil {
		return
	}
	e, err := mls.ParseExternalSenderEntry(c.ext)
	if err != nil {
		c.t.Fatal(err)
	}
	c.group, err = mls.NewGroup(identity(testChannel), c.bundle, []mls.Extension{mls.ExternalSendersExtension(*e)}, mls.WithUniqueIdentities())
	if err != nil {
		c.t.Fatal(err)
	}
}

const testChannel = 4242

// handle processes one server message and returns the client's replies.
func (c *simClient) handle(m Message) []Message {
	switch m := m.(type) {
	case ExternalSenderPackage:
		c.ext, _ = m.AppendPayload(nil)
		c.pendingGroup()
	case ProposalsMessage:
		if m.Op == ProposalsAppend {
			for b := m.Data; len(b) > 0; {
				_, rest, err := mls.ParseMLSMessagePrefix(b)
				if err != nil {
					c.t.Fatal(err)
				}
				if _, _, err := c.group.ProcessProposal(b[:len(b)-len(rest)]); err != nil {
					c.t.Fatalf("user %d: proposal: %v", c.user, err)
				}
				b = rest
			}
		} else {
			refs, err := m.Refs()
			if err != nil {
				c.t.Fatal(err)
			}
			for _, r := range refs {
				c.group.RemoveCachedProposal(r)
			}
		}
		refs := c.group.CachedProposalRefs()
		if len(refs) == 0 {
			return nil
		}
		c.group.ClearPendingCommit()
		commit, welcome, err := c.group.CreateCommit(refs, nil)
		if err != nil {
			c.t.Fatalf("user %d: commit: %v", c.user, err)
		}
		c.lastSent = commit
		return []Message{CommitWelcome{Data: append(bytes.Clone(commit), welcome...)}}
	case AnnounceCommitTransition:
		if !bytes.Equal(m.Commit, c.lastSent) {
			c.group.ClearPendingCommit()
		}
		if _, err := c.group.ProcessCommit(m.Commit); err != nil {
			c.t.Logf("user %d: commit failed: %v", c.user, err)
			return []Message{InvalidCommitWelcome{TransitionID: m.TransitionID}, KeyPackageMessage{KeyPackage: c.newKeyPackage()}}
		}
		c.joined = true
		return []Message{ReadyForTransition{TransitionID: m.TransitionID}}
	case WelcomeMessage:
		g, err := mls.JoinFromWelcome(m.Welcome, c.bundle, mls.WithUniqueIdentities())
		if err != nil {
			c.t.Fatalf("user %d: welcome: %v", c.user, err)
		}
		c.group, c.joined = g, true
		return []Message{ReadyForTransition{TransitionID: m.TransitionID}}
	case PrepareTransition:
		c.version = m.ProtocolVersion
		if m.TransitionID != 0 {
			return []Message{ReadyForTransition{TransitionID: m.TransitionID}}
		}
	case ExecuteTransition:
		c.executed = append(c.executed, m.TransitionID)
	case PrepareEpoch:
		if m.Epoch == 1 {
			c.version = m.ProtocolVersion
			return []Message{KeyPackageMessage{KeyPackage: c.newKeyPackage()}}
		}
	}
	return nil
}

type simRoom struct {
	t       *testing.T
	s       *ServerSession
	now     time.Time
	clients map[uint64]*simClient
	ops     map[Opcode]int
}

func newSimRoom(t *testing.T) *simRoom {
	key, err := mls.GenerateSignatureKey()
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewServerSession(ServerSessionConfig{ChannelID: testChannel, Sender: mls.NewExternalSender(key, identity(0)), MaxProtocolVersion: 1})
	if err != nil {
		t.Fatal(err)
	}
	return &simRoom{t: t, s: s, now: time.Unix(1_800_000_000, 0), clients: map[uint64]*simClient{}, ops: map[Opcode]int{}}
}

// deliver runs messages to quiescence, passing binary ones through the
// wire codecs.
func (r *simRoom) deliver(sends []Send) {
	for len(sends) > 0 {
		snd := sends[0]
		sends = sends[1:]
		r.ops[snd.Msg.Opcode()]++
		c := r.clients[snd.User]
		if c == nil {
			continue
		}
		msg := snd.Msg
		if bm, ok := msg.(BinaryMessage); ok {
			f, err := AppendServerFrame(nil, 1, bm)
			if err != nil {
				r.t.Fatal(err)
			}
			if _, msg, err = DecodeServerFrame(f); err != nil {
				r.t.Fatal(err)
			}
		}
		for _, reply := range c.handle(msg) {
			if bm, ok := reply.(BinaryMessage); ok {
				f, err := AppendClientFrame(nil, bm)
				if err != nil {
					r.t.Fatal(err)
				}
				if reply, err = DecodeClientFrame(f); err != nil {
					r.t.Fatal(err)
				}
			}
			out, err := r.s.Handle(r.now, c.user, reply)
			if err != nil && !errors.Is(err, ErrCommit) {
				r.t.Fatalf("user %d %v: %v", c.user, reply.Opcode(), err)
			}
			sends = append(sends, out...)
		}
	}
}

func (r *simRoom) join(user uint64, dave bool) {
	c := &simClient{t: r.t, user: user, dave: dave}
	r.clients[user] = c
	maxV := uint16(0)
	if dave {
		maxV = 1
	}
	v, sends := r.s.Join(r.now, user, maxV)
	c.version = v
	if v == 1 { // discord.js creates its session on op 4 and sends a key package
		kp := c.newKeyPackage()
		out, err := r.s.KeyPackage(r.now, user, kp)
		if err != nil {
			r.t.Fatal(err)
		}
		sends = append(sends, out...)
	}
	r.deliver(sends)
}

func (r *simRoom) leave(user uint64) {
	delete(r.clients, user)
	r.deliver(r.s.Leave(r.now, user))
}

// assertSynced checks every DAVE client is in the server's epoch with the
// same privacy code, and that media from each decrypts at the others.
func (r *simRoom) assertSynced(users ...uint64) {
	r.t.Helper()
	var code string
	for i, u := range users {
		c := r.clients[u]
		if c.group == nil || !c.joined || c.group.Epoch() != r.s.Epoch() {
			r.t.Fatalf("user %d not in epoch %d (group %v)", u, r.s.Epoch(), c.group != nil)
		}
		got, err := VoicePrivacyCode(c.group.EpochAuthenticator())
		if err != nil {
			r.t.Fatal(err)
		}
		if i == 0 {
			code = got
		} else if got != code {
			r.t.Fatalf("user %d privacy code %s, want %s", u, got, code)
		}
	}
	for _, from := range users {
		enc := NewEncryptor()
		rs, err := NewSenderKeyRatchet(ExporterFunc(r.clients[from].group.Exporter), from)
		if err != nil {
			r.t.Fatal(err)
		}
		enc.SetKeyRatchet(rs)
		frame, _ := enc.Encrypt(nil, []byte("hello from a member"))
		for _, to := range users {
			if to == from {
				continue
			}
			d := NewDecryptor(WithClock(func() time.Time { return r.now }))
			rr, err := NewSenderKeyRatchet(ExporterFunc(r.clients[to].group.Exporter), from)
			if err != nil {
				r.t.Fatal(err)
			}
			d.TransitionToKeyRatchet(rr)
			if pt, err := d.Decrypt(nil, frame); err != nil || string(pt) != "hello from a member" {
				r.t.Fatalf("%d -> %d: %v", from, to, err)
			}
		}
	}
}

func TestServerSessionFlows(t *testing.T) {
	r := newSimRoom(t)
	r.join(1, true)
	if r.s.ProtocolVersion() != 1 || r.s.Epoch() != 0 {
		t.Fatalf("version %d epoch %d", r.s.ProtocolVersion(), r.s.Epoch())
	}
	r.join(2, true) // initial creation: both commit, the first wins
	if r.s.Epoch() != 1 {
		t.Fatalf("epoch %d after creation", r.s.Epoch())
	}
	r.deliver(r.s.Tick(r.now.Add(time.Hour))) // nothing pending: all were ready
	r.assertSynced(1, 2)
	if len(r.clients[1].executed) != 1 || len(r.clients[2].executed) != 1 {
		t.Fatalf("op 22: %v %v", r.clients[1].executed, r.clients[2].executed)
	}

	r.join(3, true) // joins the established group
	r.assertSynced(1, 2, 3)
	epoch := r.s.Epoch()

	r.leave(2) // external Remove, committed by a remaining member
	if r.s.Epoch() != epoch+1 {
		t.Fatalf("epoch %d after remove", r.s.Epoch())
	}
	r.assertSynced(1, 3)

	// Recovery: user 3 reports an invalid commit and sends a new key
	// package; it is removed and re-added.
	out := r.s.InvalidCommitWelcome(r.now, 3, 0)
	r.clients[3].group = nil
	r.deliver(out)
	kp := r.clients[3].newKeyPackage()
	out, err := r.s.KeyPackage(r.now, 3, kp)
	if err != nil {
		t.Fatal(err)
	}
	r.deliver(out)
	r.assertSynced(1, 3)

	// Downgrade: a client without DAVE joins.
	r.join(9, false)
	if r.s.ProtocolVersion() != 0 {
		t.Fatal("no downgrade")
	}
	if r.clients[1].version != 0 || r.clients[3].version != 0 {
		t.Fatal("op 21 version 0 not delivered")
	}
	// Upgrade once it leaves: op 24 epoch 1, new group.
	r.leave(9)
	if r.s.ProtocolVersion() != 1 {
		t.Fatal("no upgrade")
	}
	r.assertSynced(1, 3)

	// Sole-member reset.
	r.leave(3)
	if r.s.Epoch() != 0 || r.ops[OpPrepareEpoch] < 3 {
		t.Fatalf("epoch %d, %d op 24", r.s.Epoch(), r.ops[OpPrepareEpoch])
	}
	r.join(4, true)
	r.assertSynced(1, 4)
}

func TestServerSessionRejects(t *testing.T) {
	r := newSimRoom(t)
	r.join(1, true)
	if _, err := r.s.KeyPackage(r.now, 7, nil); !errors.Is(err, ErrNotMember) {
		t.Fatalf("unknown user: %v", err)
	}
	other := &simClient{t: t, user: 2}
	kp := other.newKeyPackage()
	if _, err := r.s.KeyPackage(r.now, 1, kp); !errors.Is(err, ErrKeyPackage) {
		t.Fatalf("foreign identity: %v", err)
	}
	if _, err := r.s.KeyPackage(r.now, 1, []byte{0, 1, 0, 2}); !errors.Is(err, ErrKeyPackage) {
		t.Fatalf("garbage: %v", err)
	}
	if _, err := r.s.CommitWelcome(r.now, 1, []byte{0, 1, 0, 1, 9}); !errors.Is(err, ErrCommit) {
		t.Fatalf("garbage commit: %v", err)
	}
	if _, err := r.s.Handle(r.now, 1, PrepareEpoch{}); !errors.Is(err, ErrWrongDirection) {
		t.Fatalf("server op from client: %v", err)
	}
	// Transition timeout: a member that never answers op 23.
	s, _ := NewServerSession(ServerSessionConfig{ChannelID: 1, Sender: r.s.cfg.Sender, MaxProtocolVersion: 1})
	s.Join(r.now, 1, 1)
	_, out := s.Join(r.now, 2, 0) // downgrade: op 21 to user 1
	if len(out) != 1 || out[0].Msg != (PrepareTransition{ProtocolVersion: 0, TransitionID: 1}) {
		t.Fatalf("downgrade sends %+v", out)
	}
	if d, ok := s.NextDeadline(); !ok || s.Tick(d.Add(-time.Millisecond)) != nil {
		t.Fatal("early tick")
	}
	out = s.Tick(r.now.Add(DefaultTransitionTimeout))
	if len(out) != 1 || out[0].Msg != (ExecuteTransition{TransitionID: 1}) {
		t.Fatalf("timeout sends %+v", out)
	}
	if err := (ServerSessionConfig{MaxProtocolVersion: 1}).Validate(); err == nil {
		t.Fatal("missing sender accepted")
	}
	_ = binary.BigEndian
}

// TestServerSessionRevokeReissues: a member commits the live proposals
// (Add 3), commits again when Add 4 arrives, and once more after 4 leaves
// and its Add is revoked. Its first commit, still in flight, covers what
// is left, but must lose: the member has replaced it, and davey (or
// libdave) cannot merge a superseded own commit. The gateway re-issues the
// remaining proposals with new refs, so only commits made after the revoke
// match.
func TestServerSessionRevokeReissues(t *testing.T) {
	r := newSimRoom(t)
	r.join(1, true)
	r.join(2, true)
	r.assertSynced(1, 2)
	c1 := r.clients[1]
	// Feed the gateway's messages for member 1 by hand; hold its commits.
	var held []Message
	toOne := func(sends []Send) {
		for _, s := range sends {
			if s.User == 1 {
				held = append(held, c1.handle(s.Msg)...)
			}
		}
	}
	kp := func(u uint64) []Send {
		c := &simClient{t: t, user: u, dave: true}
		_, sends := r.s.Join(r.now, u, 1)
		out, err := r.s.KeyPackage(r.now, u, c.newKeyPackage())
		if err != nil {
			t.Fatal(err)
		}
		return append(sends, out...)
	}
	toOne(kp(3))
	toOne(kp(4))
	toOne(r.s.Leave(r.now, 4))
	if len(held) < 3 {
		t.Fatalf("member 1 sent %d commits, want 3", len(held))
	}
	first, last := held[0], held[len(held)-1]
	if _, err := r.s.Handle(r.now, 1, first); !errors.Is(err, ErrCommit) {
		t.Fatalf("commit made before the revoke: %v, want ErrCommit", err)
	}
	if _, err := r.s.Handle(r.now, 1, last); err != nil {
		t.Fatalf("commit made after the revoke: %v", err)
	}
	if r.s.Epoch() != 2 {
		t.Fatalf("epoch %d, want 2", r.s.Epoch())
	}
}
