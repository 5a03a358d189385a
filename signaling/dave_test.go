package signaling_test

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/parleyhq/parley/e2ee/dave"
	"github.com/parleyhq/parley/e2ee/mls"
	"github.com/parleyhq/parley/internal/testkit"
	"github.com/parleyhq/parley/signaling"
)

const daveChannel = "4242"

// synced waits until every member is in the server's epoch with the same
// voice privacy code, the server's group is exactly these users, and
// media encrypted by each member decrypts at the others.
func synced(t *testing.T, h *harness, members ...*daveMember) {
	t.Helper()
	want := make([]uint64, 0, len(members))
	for _, m := range members {
		want = append(want, m.user)
	}
	slices.Sort(want)
	var st signaling.DAVERoomState
	allIn := func() bool {
		var ok bool
		st, ok = h.srv.DAVEState("g1", daveChannel)
		group := slices.Clone(st.GroupUsers)
		slices.Sort(group)
		return ok && st.Established && !st.Transition && st.Proposals == 0 && slices.Equal(group, want) &&
			membersAt(st.Epoch, members)
	}
	if !testkit.Poll(5*time.Second, allIn) {
		for _, m := range members {
			e, c := m.state()
			t.Logf("user %d: epoch %d code %q ops %v", m.user, e, c, m.snapshotOps())
		}
		t.Fatalf("members %v not synced with the server: %+v", want, st)
	}
	if !st.Enforced {
		t.Errorf("room at DAVE v1 without SFU enforcement: %+v", st)
	}
	for _, from := range members {
		frame := from.encrypt([]byte("opus from " + strconv.FormatUint(from.user, 10)))
		for _, to := range members {
			if to == from {
				continue
			}
			if pt, err := to.decrypt(from.user, frame); err != nil || string(pt) != "opus from "+strconv.FormatUint(from.user, 10) {
				t.Fatalf("%d -> %d: %q, %v", from.user, to.user, pt, err)
			}
		}
	}
	for _, m := range members {
		m.mu.Lock()
		errs := m.seqErrs
		m.mu.Unlock()
		if len(errs) > 0 {
			t.Fatalf("user %d: sequence numbers not consecutive across JSON and binary frames: %v", m.user, errs)
		}
	}
}

func epochOf(t *testing.T, h *harness) uint64 {
	st, _ := h.srv.DAVEState("g1", daveChannel)
	return st.Epoch
}

func TestDAVEFlows(t *testing.T) {
	tests := []struct {
		name string
		cfg  signaling.Config
		run  func(t *testing.T, h *harness)
	}{
		{"group creation", signaling.Config{}, func(t *testing.T, h *harness) {
			a := h.daveMember(t, 1001, daveChannel, 1)
			b := h.daveMember(t, 1002, daveChannel, 1)
			synced(t, h, a, b)
			if e := epochOf(t, h); e != 1 {
				t.Fatalf("epoch %d after creation, want 1", e)
			}
		}},
		{"join and leave", signaling.Config{}, func(t *testing.T, h *harness) {
			a := h.daveMember(t, 1001, daveChannel, 1)
			b := h.daveMember(t, 1002, daveChannel, 1)
			synced(t, h, a, b)
			c := h.daveMember(t, 1003, daveChannel, 1)
			synced(t, h, a, b, c)
			b.leave()
			synced(t, h, a, c)
		}},
		{"sole member reset", signaling.Config{}, func(t *testing.T, h *harness) {
			a := h.daveMember(t, 1001, daveChannel, 1)
			b := h.daveMember(t, 1002, daveChannel, 1)
			synced(t, h, a, b)
			b.leave()
			a.waitFor("op 21 transition 0", func() bool {
				return slices.ContainsFunc(a.prepared, func(p dave.PrepareTransition) bool { return p.TransitionID == 0 })
			})
			if st, _ := h.srv.DAVEState("g1", daveChannel); st.Established {
				t.Fatalf("group still established after the sole-member reset: %+v", st)
			}
			c := h.daveMember(t, 1003, daveChannel, 1)
			synced(t, h, a, c)
		}},
		{"downgrade and upgrade", signaling.Config{}, func(t *testing.T, h *harness) {
			a := h.daveMember(t, 1001, daveChannel, 1)
			b := h.daveMember(t, 1002, daveChannel, 1)
			synced(t, h, a, b)
			x := h.daveMember(t, 1009, daveChannel, 0)
			x.waitFor("op 4", func() bool { return x.op4 })
			if x.version != 0 {
				t.Fatalf("non-DAVE client got dave_protocol_version %d", x.version)
			}
			for _, m := range []*daveMember{a, b} {
				m.waitFor("downgrade executed", func() bool { return m.version == 0 && len(m.executed) > 0 })
			}
			if st, _ := h.srv.DAVEState("g1", daveChannel); st.ProtocolVersion != 0 || st.Enforced {
				t.Fatalf("after downgrade: %+v", st)
			}
			// A DAVE client joining a downgraded room gets version 0 too.
			c := h.daveMember(t, 1003, daveChannel, 1)
			c.waitFor("op 4", func() bool { return c.op4 })
			if c.version != 0 {
				t.Fatalf("DAVE client in a downgraded room got version %d", c.version)
			}
			x.leave()
			synced(t, h, a, b, c)
		}},
		{"recovery after op 31", signaling.Config{}, func(t *testing.T, h *harness) {
			a := h.daveMember(t, 1001, daveChannel, 1)
			b := h.daveMember(t, 1002, daveChannel, 1)
			c := h.daveMember(t, 1003, daveChannel, 1)
			synced(t, h, a, b, c)
			before := epochOf(t, h)
			b.mu.Lock()
			b.recoverLocked(0, fmt.Errorf("test"))
			b.mu.Unlock()
			synced(t, h, a, b, c)
			if after := epochOf(t, h); after <= before {
				t.Fatalf("epoch %d after recovery, was %d", after, before)
			}
		}},
		{"transition timeout", signaling.Config{DAVETransitionTimeout: 200 * time.Millisecond}, func(t *testing.T, h *harness) {
			a := h.daveMember(t, 1001, daveChannel, 1)
			a.mu.Lock()
			a.noReady = true
			a.mu.Unlock()
			b := h.daveMember(t, 1002, daveChannel, 1)
			start := time.Now()
			for _, m := range []*daveMember{a, b} {
				m.waitFor("op 22", func() bool { return len(m.executed) > 0 })
			}
			if d := time.Since(start); d < 150*time.Millisecond {
				t.Fatalf("transition executed after %v without every op 23", d)
			}
			synced(t, h, a, b)
		}},
		{"churn", signaling.Config{}, func(t *testing.T, h *harness) {
			a := h.daveMember(t, 1001, daveChannel, 1)
			b := h.daveMember(t, 1002, daveChannel, 1)
			synced(t, h, a, b)
			var live []*daveMember
			for i := range 10 {
				m := h.daveMember(t, uint64(2000+i), daveChannel, 1)
				live = append(live, m)
				if i%3 == 2 {
					live[0].leave()
					live = live[1:]
				}
			}
			synced(t, h, append([]*daveMember{a, b}, live...)...)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, tc.cfg)
			tc.run(t, h)
		})
	}
}

// TestDAVEBadInput: invalid DAVE input from one client closes that client
// (or is dropped) and the others carry on.
func TestDAVEBadInput(t *testing.T) {
	otherKP := func() []byte {
		sig, _ := mls.GenerateSignatureKey()
		b, _ := mls.NewKeyPackage(sig, mls.BasicCredential(binary.BigEndian.AppendUint64(nil, 7777)))
		return b.KeyPackage.Marshal()
	}
	raw := func(b ...byte) func(*daveMember) { return func(m *daveMember) { m.write(websocket.BinaryMessage, b) } }
	tests := []struct {
		name      string
		offered   int
		do        func(*daveMember)
		wantClose int // 0: the connection stays open
	}{
		{"garbage key package", 1, raw(26, 1, 2, 3), 4020},
		{"key package of another user", 1, func(m *daveMember) { m.writeBinary(dave.KeyPackageMessage{KeyPackage: otherKP()}) }, 4020},
		{"empty binary frame", 1, raw(), 4020},
		{"unknown binary opcode", 1, raw(99, 0), 4001},
		{"server opcode from a client", 1, raw(25, 0x40, 0x41), 4020},
		{"garbage commit", 1, raw(28, 0, 1, 0, 1, 9, 9, 9), 0},
		{"ready for an unknown transition", 1, func(m *daveMember) { m.writeJSON(23, map[string]any{"transition_id": 999}) }, 0},
		{"malformed op 31", 1, func(m *daveMember) { m.writeJSON(31, "x") }, 4020},
		{"DAVE from a non-DAVE client", 0, func(m *daveMember) { m.writeBinary(dave.KeyPackageMessage{KeyPackage: otherKP()}) }, 4020},
	}
	h := newHarness(t, signaling.Config{})
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ch := strconv.Itoa(5000 + i)
			base := uint64(10000 * (i + 1)) // a user has one session per guild
			a := h.daveMember(t, base+1, ch, 1)
			b := h.daveMember(t, base+2, ch, 1)
			c := h.daveMember(t, base+3, ch, tc.offered)
			c.waitFor("op 4", func() bool { return c.op4 })
			if tc.offered == 1 {
				waitGroup(t, h, ch, a, b, c)
			}
			tc.do(c)
			if tc.wantClose != 0 {
				c.waitFor("close", func() bool { return c.closed })
				if _, code := c.closedWith(); code != tc.wantClose {
					t.Fatalf("close code %d, want %d", code, tc.wantClose)
				}
			} else {
				// The server handles a connection's messages in order: when
				// the ACK of a heartbeat sent after the input arrives, the
				// input was handled and did not close c.
				c.heartbeat()
				if closed, code := c.closedWith(); closed {
					t.Fatalf("closed with %d", code)
				}
			}
			d := h.daveMember(t, base+4, ch, 1)
			want := []*daveMember{a, b, d}
			if tc.wantClose == 0 && tc.offered == 1 {
				want = append(want, c)
			}
			waitGroup(t, h, ch, want...)
		})
	}
}

// waitGroup is synced for another channel (no media check).
func waitGroup(t *testing.T, h *harness, ch string, members ...*daveMember) {
	t.Helper()
	var st signaling.DAVERoomState
	testkit.Eventually(t, 5*time.Second, func() bool {
		st, _ = h.srv.DAVEState("g1", ch)
		return st.Established && !st.Transition && st.Proposals == 0 && len(st.GroupUsers) == len(members) &&
			membersAt(st.Epoch, members)
	}, "channel %s not synced: %+v", ch, &st)
}

// membersAt reports whether every member is in epoch with the same voice
// privacy code.
func membersAt(epoch uint64, members []*daveMember) bool {
	var code string
	for i, m := range members {
		e, c := m.state()
		if e != epoch || c == "" || i > 0 && c != code {
			return false
		}
		code = c
	}
	return true
}

func TestDAVEPolicy(t *testing.T) {
	tests := []struct {
		name      string
		policy    signaling.DAVEPolicy
		query     string
		user      string
		offered   int
		wantClose int
		wantV     int
	}{
		{"required refuses a non-DAVE client", signaling.DAVERequired, "?v=8", "1001", 0, 4017, 0},
		{"required refuses v4", signaling.DAVERequired, "?v=4", "1001", 1, 4017, 0},
		{"required refuses a non-numeric user", signaling.DAVERequired, "?v=8", "alice", 1, 4017, 0},
		{"required admits a DAVE client", signaling.DAVERequired, "?v=8", "1001", 1, 0, 1},
		{"preferred", signaling.DAVEPreferred, "?v=8", "1001", 1, 0, 1},
		{"preferred without DAVE", signaling.DAVEPreferred, "?v=8", "1001", 0, 0, 0},
		{"off", signaling.DAVEOff, "?v=8", "1001", 1, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, signaling.Config{DAVE: tc.policy})
			c := h.dial(tc.query)
			c.t = t
			c.next(8)
			cl, tk := h.creds(tc.user, daveChannel)
			c.send(0, map[string]any{"server_id": "g1", "user_id": tc.user, "session_id": cl.SessionID, "token": tk, "max_dave_protocol_version": tc.offered})
			if tc.wantClose != 0 {
				if got := c.closeCode(); got != tc.wantClose {
					t.Fatalf("close %d, want %d", got, tc.wantClose)
				}
				return
			}
			c.next(2)
			c.send(1, map[string]any{"protocol": "udp", "data": map[string]any{"address": "127.0.0.1", "port": 1, "mode": "aead_aes256_gcm_rtpsize"}})
			sd := c.next(4)
			var d struct {
				V int `json:"dave_protocol_version"`
			}
			_ = jsonUnmarshal(sd.D, &d)
			if d.V != tc.wantV {
				t.Fatalf("dave_protocol_version %d, want %d", d.V, tc.wantV)
			}
			if tc.wantV == 1 { // op 25 follows as a binary frame numbered after op 4
				_ = c.ws.SetReadDeadline(time.Now().Add(5 * time.Second))
				typ, b, err := c.ws.ReadMessage()
				if err != nil || typ != websocket.BinaryMessage {
					t.Fatalf("after op 4: type %d, %v", typ, err)
				}
				seq, m, err := dave.DecodeServerFrame(b)
				if err != nil || m.Opcode() != dave.OpExternalSenderPackage || int64(seq) != *sd.Seq+1 {
					t.Fatalf("frame seq %d op %v err %v; op 4 had seq %d", seq, m, err, *sd.Seq)
				}
			}
		})
	}
	if _, err := signaling.ParseDAVEPolicy("sometimes"); err == nil {
		t.Fatal("ParseDAVEPolicy accepted a bad value")
	}
	for _, p := range []signaling.DAVEPolicy{signaling.DAVERequired, signaling.DAVEPreferred, signaling.DAVEOff} {
		if got, err := signaling.ParseDAVEPolicy(p.String()); err != nil || got != p {
			t.Fatalf("round trip %v: %v %v", p, got, err)
		}
	}
}

// TestDAVEResumeReplaysBinaryFrames: binary frames are numbered in the v8
// sequence and re-delivered on resume.
func TestDAVEResumeReplaysBinaryFrames(t *testing.T) {
	h := newHarness(t, signaling.Config{})
	c := h.dial("?v=8")
	c.next(8)
	cl, tk := h.creds("1001", daveChannel)
	c.send(0, map[string]any{"server_id": "g1", "user_id": "1001", "session_id": cl.SessionID, "token": tk, "max_dave_protocol_version": 1})
	c.next(2)
	c.send(1, map[string]any{"protocol": "udp", "data": map[string]any{"address": "127.0.0.1", "port": 1, "mode": "aead_aes256_gcm_rtpsize"}})
	sd := c.next(4)
	_ = c.ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	if typ, _, err := c.ws.ReadMessage(); err != nil || typ != websocket.BinaryMessage {
		t.Fatalf("op 25: %d %v", typ, err)
	}
	c.ws.UnderlyingConn().Close() // a network failure: the session waits for a resume
	h.waitConns(t, 0)
	r := h.dial("?v=8")
	r.next(8)
	r.send(7, map[string]any{"server_id": "g1", "session_id": cl.SessionID, "token": tk, "seq_ack": *sd.Seq})
	_ = r.ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		typ, b, err := r.ws.ReadMessage()
		if err != nil {
			t.Fatalf("after resume: %v", err)
		}
		if typ != websocket.BinaryMessage {
			continue
		}
		seq, m, err := dave.DecodeServerFrame(b)
		if err != nil || m.Opcode() != dave.OpExternalSenderPackage || int64(seq) != *sd.Seq+1 {
			t.Fatalf("replayed frame seq %d op %v err %v", seq, m, err)
		}
		return
	}
}
