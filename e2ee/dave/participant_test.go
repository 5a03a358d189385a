package dave

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/parleyhq/parley/e2ee/mls"
)

// member is a Participant with its FrameSession, driven by a test playing
// the gateway with a real ServerSession.
type member struct {
	t         *testing.T
	user      uint64
	p         *Participant
	fs        *FrameSession
	out       []Message // what it sent, not yet handled
	announced []uint64
}

func newMember(t *testing.T, user uint64) *member {
	t.Helper()
	m := &member{t: t, user: user, fs: NewFrameSession()}
	p, err := NewParticipant(ParticipantConfig{UserID: user, ChannelID: 13, Keys: m.fs,
		Announced: func(u uint64) bool { return u == user || slices.Contains(m.announced, u) }})
	if err != nil {
		t.Fatal(err)
	}
	m.p = p
	return m
}

func (m *member) queue(out []Outgoing) {
	for _, o := range out {
		if o.Binary != nil {
			m.out = append(m.out, o.Binary)
		} else {
			m.out = append(m.out, o.Payload.(Message))
		}
	}
}

// next returns the next message the member sent.
func (m *member) next() Message {
	m.t.Helper()
	if len(m.out) == 0 {
		m.t.Fatalf("member %d sent nothing", m.user)
	}
	msg := m.out[0]
	m.out = m.out[1:]
	return msg
}

// deliver hands the gateway's sends to the members they are for.
func deliver(t *testing.T, sends []Send, to ...*member) {
	t.Helper()
	for _, s := range sends {
		for _, m := range to {
			if m.user != s.User {
				continue
			}
			if bm, ok := s.Msg.(BinaryMessage); ok {
				out, _ := m.p.HandleBinary(bm)
				m.queue(out)
				continue
			}
			raw, err := json.Marshal(s.Msg)
			if err != nil {
				t.Fatal(err)
			}
			out, _, err := m.p.HandleJSON(s.Msg.Opcode(), raw)
			if err != nil {
				t.Fatal(err)
			}
			m.queue(out)
		}
	}
}

// handle passes a member's message to the gateway.
func handle(t *testing.T, ss *ServerSession, user uint64, msg Message) []Send {
	t.Helper()
	sends, err := ss.Handle(time.Now(), user, msg)
	if err != nil {
		t.Fatalf("gateway: %v from %d: %v", msg.Opcode(), user, err)
	}
	return sends
}

// outsider is a key package of a user that is not a member.
func outsider(t *testing.T, user uint64) KeyPackageMessage {
	t.Helper()
	sig, err := mls.GenerateSignatureKey()
	if err != nil {
		t.Fatal(err)
	}
	b, err := mls.NewKeyPackage(sig, mls.BasicCredential(binary.BigEndian.AppendUint64(nil, user)))
	if err != nil {
		t.Fatal(err)
	}
	return KeyPackageMessage{KeyPackage: b.KeyPackage.Marshal()}
}

func newServer(t *testing.T) *ServerSession {
	t.Helper()
	key, err := mls.GenerateSignatureKey()
	if err != nil {
		t.Fatal(err)
	}
	ss, err := NewServerSession(ServerSessionConfig{ChannelID: 13, MaxProtocolVersion: 1,
		Sender: mls.NewExternalSender(key, []byte("gateway"))})
	if err != nil {
		t.Fatal(err)
	}
	return ss
}

// createGroup joins a and b and runs the group's creation (a's commit wins).
func createGroup(t *testing.T, ss *ServerSession, a, b *member) {
	t.Helper()
	now := time.Now()
	for _, m := range []*member{a, b} {
		v, sends := ss.Join(now, m.user, 1)
		out, _ := m.p.SessionDescription(v)
		m.queue(out)
		deliver(t, sends, a, b)
	}
	deliver(t, handle(t, ss, a.user, a.next()), a, b) // key packages
	deliver(t, handle(t, ss, b.user, b.next()), a, b)
	deliver(t, handle(t, ss, a.user, a.next()), a, b) // a's op 28
	_ = b.next()                                      // b's losing op 28
	deliver(t, handle(t, ss, a.user, a.next()), a, b) // op 23
	deliver(t, handle(t, ss, b.user, b.next()), a, b) // op 23 -> op 22
	if sa, sb := a.p.State(), b.p.State(); !sa.Ready || sa.Epoch != 1 || sa.PrivacyCode != sb.PrivacyCode {
		t.Fatalf("group not created: %+v / %+v", sa, sb)
	}
}

func TestNewParticipantConfig(t *testing.T) {
	if _, err := NewParticipant(ParticipantConfig{UserID: 1}); !errors.Is(err, ErrConfig) {
		t.Fatalf("no Keys: %v, want ErrConfig", err)
	}
}

// TestParticipantGroupKeys: after the group's creation both members hold
// each other's keys, agree on the pairwise keys, and a frame one encrypts
// the other decrypts.
func TestParticipantGroupKeys(t *testing.T) {
	ss := newServer(t)
	a, b := newMember(t, 1), newMember(t, 2)
	a.announced, b.announced = []uint64{2}, []uint64{1}
	createGroup(t, ss, a, b)
	if st := a.p.State(); st.Transitions == 0 || st.Pending != 0 || !slices.Equal(st.Members, []string{"1", "2"}) && !slices.Equal(st.Members, []string{"2", "1"}) {
		t.Fatalf("state %+v", st)
	}
	mine, theirs, ok := a.p.MemberKeys(2)
	bm, bt, bok := b.p.MemberKeys(1)
	if !ok || !bok || !slices.Equal(mine, bt) || !slices.Equal(theirs, bm) {
		t.Fatal("member keys disagree")
	}
	if _, _, ok := a.p.MemberKeys(9); ok {
		t.Fatal("keys of a non-member")
	}
	frame := []byte("opus frame")
	enc, st, err := a.fs.Encrypt(nil, CodecOpus, frame, false)
	if err != nil || st != SendEncrypted {
		t.Fatalf("encrypt: %v %v", st, err)
	}
	var got []string
	b.fs.Decrypt(1, enc, func(plain []byte, ok bool) { got = append(got, string(plain)+map[bool]string{true: "/ok"}[ok]) })
	if !slices.Equal(got, []string{"opus frame/ok"}) {
		t.Fatalf("decrypted %q", got)
	}
}

// TestParticipantRefusesUnannouncedAdd: an Add for a user the server did
// not announce is not committed (dave.md §3).
func TestParticipantRefusesUnannouncedAdd(t *testing.T) {
	ss := newServer(t)
	a, b := newMember(t, 1), newMember(t, 2)
	a.announced, b.announced = []uint64{2}, []uint64{1}
	createGroup(t, ss, a, b)
	ss.Join(time.Now(), 5, 1)
	deliver(t, handle(t, ss, 5, outsider(t, 5)), a)
	if len(a.out) != 0 {
		t.Fatalf("a committed an Add of an unannounced user: %v", a.out[0].Opcode())
	}
}

// TestDAVEOwnEarlierCommitWins: a member commits the live proposals, then
// commits again when an Add arrives and once more when that Add is
// revoked (its user left). A gateway that then announces the first commit
// (it covers the live proposals again; Parley's gateway re-issues them
// after a revoke so it does not, other gateways may) must find the member
// merging it, not recovering with op 31 (which silenced this client, and
// everyone for it, during churn).
func TestDAVEOwnEarlierCommitWins(t *testing.T) {
	ss := newServer(t)
	now := time.Now()
	a, b := newMember(t, 1), newMember(t, 2)
	const y, x = 3, 4
	a.announced = []uint64{2, y, x}
	b.announced = []uint64{1, y, x}
	createGroup(t, ss, a, b)

	// y joins: Add y; a commits (c1, in flight).
	ss.Join(now, y, 1)
	deliver(t, handle(t, ss, y, outsider(t, y)), a)
	c1 := a.next().(CommitWelcome)
	// x joins: Add x; a commits again. x leaves and a gateway that does
	// not re-issue proposals revokes only its Add; a commits again.
	ss.Join(now, x, 1)
	before := len(a.p.group.CachedProposalRefs())
	deliver(t, handle(t, ss, x, outsider(t, x)), a)
	_ = a.next()
	refs := a.p.group.CachedProposalRefs()
	if len(refs) != before+1 {
		t.Fatalf("cached proposals %d, want %d", len(refs), before+1)
	}
	revoke, err := RevokeProposals(refs[len(refs)-1])
	if err != nil {
		t.Fatal(err)
	}
	out, _ := a.p.HandleBinary(revoke)
	a.queue(out)
	_ = a.next()
	// The gateway announces c1: the commit MLSMessage without the Welcome.
	_, welcome, err := mls.ParseMLSMessagePrefix(c1.Data)
	if err != nil {
		t.Fatal(err)
	}
	out, changed := a.p.HandleBinary(AnnounceCommitTransition{TransitionID: 7, Commit: c1.Data[:len(c1.Data)-len(welcome)]})
	a.queue(out)
	if st := a.p.State(); !changed || st.Recoveries != 0 || st.Epoch != 2 || len(st.Members) != 3 {
		t.Fatalf("a did not merge its own earlier commit: %+v", st)
	}
	if msg := a.next(); msg.Opcode() != OpReadyForTransition {
		t.Fatalf("a answered %v, want op 23", msg.Opcode())
	}
}

// TestParticipantPrepare: op 4 sends the key package Prepare made (once;
// a second op 4 makes a new one), and a prepared member joins the group
// as any other.
func TestParticipantPrepare(t *testing.T) {
	ss := newServer(t)
	a, b := newMember(t, 1), newMember(t, 2)
	a.announced, b.announced = []uint64{2}, []uint64{1}
	for _, m := range []*member{a, b} {
		if err := m.p.Prepare(); err != nil {
			t.Fatal(err)
		}
	}
	prepared := a.p.spare.KeyPackage.Marshal()
	if err := a.p.Prepare(); err != nil || !slices.Equal(a.p.spare.KeyPackage.Marshal(), prepared) {
		t.Fatalf("a second Prepare (%v) replaced the prepared key package", err)
	}
	createGroup(t, ss, a, b)
	if a.p.spare != nil || !slices.Equal(a.p.bundle.KeyPackage.Marshal(), prepared) {
		t.Fatal("op 4 did not send the prepared key package")
	}
	out, _ := a.p.SessionDescription(1)
	kp, ok := out[0].Binary.(KeyPackageMessage)
	if len(out) != 1 || !ok || slices.Equal(kp.KeyPackage, prepared) {
		t.Fatalf("a second op 4 sent %v; want a fresh key package", out)
	}
}
