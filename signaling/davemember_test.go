package signaling_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/parleyhq/parley/e2ee/dave"
	"github.com/parleyhq/parley/e2ee/mls"
	"github.com/parleyhq/parley/internal/testkit"
)

// daveMember is a DAVE participant built on e2ee/mls talking to the real
// gateway over WSS. It behaves like @discordjs/voice + davey
// (DAVESession.ts): a key package after op 4 (version 1) and after op 24
// epoch 1, a commit of every cached proposal on op 27, op 23 after a
// processed op 29/30 or a prepared transition, and on a commit or Welcome
// it cannot process op 31 followed by a fresh key package.
type daveMember struct {
	t       *testing.T
	user    uint64
	channel string
	ws      *websocket.Conn
	wmu     sync.Mutex

	mu        sync.Mutex // guards all following fields
	offered   int
	version   uint16 // from op 4 and transitions
	op4       bool
	bundle    *mls.KeyPackageBundle
	ext       []byte
	group     *mls.Group
	joined    bool // group came from a commit/Welcome
	lastSent  []byte
	connected map[string]bool
	ops       map[int]int // received ops
	executed  []uint16
	prepared  []dave.PrepareTransition
	invalid   int // op 31 sent
	seqErrs   []string
	lastSeq   int64
	noReady   bool // never send op 23 (timeout tests)
	closeCode int
	closed    bool
}

func (h *harness) daveMember(t *testing.T, user uint64, channel string, offered int) *daveMember {
	t.Helper()
	m := &daveMember{t: t, user: user, channel: channel, offered: offered,
		connected: map[string]bool{}, ops: map[int]int{}}
	ws, _, err := h.srv.Dialer().Dial("wss://"+h.srv.GatewayAddr()+"/?v=8", nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	m.ws = ws
	t.Cleanup(func() { ws.Close() })
	cl, tk := h.creds(strconv.FormatUint(user, 10), channel)
	m.writeJSON(0, map[string]any{"server_id": "g1", "user_id": cl.UserID, "session_id": cl.SessionID,
		"token": tk, "max_dave_protocol_version": offered})
	go m.readLoop()
	return m
}

func (m *daveMember) writeJSON(op int, d any) {
	b, _ := json.Marshal(map[string]any{"op": op, "d": d})
	m.write(websocket.TextMessage, b)
}

func (m *daveMember) write(typ int, b []byte) {
	m.wmu.Lock()
	defer m.wmu.Unlock()
	_ = m.ws.WriteMessage(typ, b)
}

func (m *daveMember) writeBinary(msg dave.BinaryMessage) {
	b, err := dave.AppendClientFrame(nil, msg)
	if err != nil {
		m.t.Errorf("encode %v: %v", msg.Opcode(), err)
		return
	}
	m.write(websocket.BinaryMessage, b)
}

func (m *daveMember) readLoop() {
	defer func() {
		m.mu.Lock()
		m.closed = true
		m.mu.Unlock()
	}()
	for {
		typ, data, err := m.ws.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				m.mu.Lock()
				m.closeCode = ce.Code
				m.mu.Unlock()
			}
			return
		}
		m.mu.Lock()
		if typ == websocket.BinaryMessage {
			m.binary(data)
		} else {
			m.text(data)
		}
		m.mu.Unlock()
	}
}

// seqLocked checks that numbered messages, JSON and binary, are
// consecutive.
func (m *daveMember) seqLocked(seq int64, binary bool) {
	want := m.lastSeq + 1
	if binary && uint16(seq) != uint16(want) || !binary && seq != want {
		m.seqErrs = append(m.seqErrs, "seq "+strconv.FormatInt(seq, 10)+" after "+strconv.FormatInt(m.lastSeq, 10))
	}
	m.lastSeq = want
}

func (m *daveMember) text(data []byte) {
	var in struct {
		Op  int             `json:"op"`
		D   json.RawMessage `json:"d"`
		Seq *int64          `json:"seq"`
	}
	if err := json.Unmarshal(data, &in); err != nil {
		m.t.Errorf("user %d: bad JSON %s", m.user, data)
		return
	}
	if in.Seq != nil {
		m.seqLocked(*in.Seq, false)
	}
	m.ops[in.Op]++
	switch in.Op {
	case 2:
		m.writeJSON(1, map[string]any{"protocol": "udp", "data": map[string]any{"address": "127.0.0.1", "port": 1, "mode": "aead_aes256_gcm_rtpsize"}})
	case 4:
		var d struct {
			V uint16 `json:"dave_protocol_version"`
		}
		_ = json.Unmarshal(in.D, &d)
		m.version, m.op4 = d.V, true
		if d.V == 1 {
			m.sendKeyPackageLocked()
		}
	case 11:
		var d struct {
			IDs []string `json:"user_ids"`
		}
		_ = json.Unmarshal(in.D, &d)
		for _, id := range d.IDs {
			m.connected[id] = true
		}
	case 13:
		var d struct {
			ID string `json:"user_id"`
		}
		_ = json.Unmarshal(in.D, &d)
		delete(m.connected, d.ID)
	case 21, 22, 24:
		msg, err := dave.DecodeJSON(dave.Opcode(in.Op), in.D)
		if err != nil {
			m.t.Errorf("user %d: op %d: %v", m.user, in.Op, err)
			return
		}
		m.handleLocked(msg)
	}
}

func (m *daveMember) binary(data []byte) {
	seq, msg, err := dave.DecodeServerFrame(data)
	if err != nil {
		m.t.Errorf("user %d: bad binary frame: %v", m.user, err)
		return
	}
	m.seqLocked(int64(seq), true)
	m.ops[int(msg.Opcode())]++
	m.handleLocked(msg)
}

func (m *daveMember) sendKeyPackageLocked() {
	sig, err := mls.GenerateSignatureKey()
	if err != nil {
		m.t.Error(err)
		return
	}
	id := binary.BigEndian.AppendUint64(nil, m.user)
	if m.bundle, err = mls.NewKeyPackage(sig, mls.BasicCredential(id)); err != nil {
		m.t.Error(err)
		return
	}
	m.group, m.joined = nil, false
	m.pendingGroupLocked()
	m.writeBinary(dave.KeyPackageMessage{KeyPackage: m.bundle.KeyPackage.Marshal()})
}

func (m *daveMember) pendingGroupLocked() {
	if m.ext == nil || m.bundle == nil || m.group != nil {
		return
	}
	e, err := mls.ParseExternalSenderEntry(m.ext)
	if err != nil {
		m.t.Error(err)
		return
	}
	ch, _ := strconv.ParseUint(m.channel, 10, 64)
	m.group, err = mls.NewGroup(binary.BigEndian.AppendUint64(nil, ch), m.bundle,
		[]mls.Extension{mls.ExternalSendersExtension(*e)}, mls.WithUniqueIdentities())
	if err != nil {
		m.t.Error(err)
	}
}

// recoverLocked is davey's answer to a commit or Welcome it cannot use.
func (m *daveMember) recoverLocked(id uint16, why error) {
	m.t.Logf("user %d: transition %d failed (%v): op 31", m.user, id, why)
	m.invalid++
	m.writeJSON(31, map[string]any{"transition_id": id})
	m.sendKeyPackageLocked()
}

func (m *daveMember) handleLocked(msg dave.Message) {
	switch msg := msg.(type) {
	case dave.ExternalSenderPackage:
		m.ext, _ = msg.AppendPayload(nil)
		m.pendingGroupLocked()
	case dave.ProposalsMessage:
		if m.group == nil {
			return
		}
		if msg.Op == dave.ProposalsAppend {
			for b := msg.Data; len(b) > 0; {
				_, rest, err := mls.ParseMLSMessagePrefix(b)
				if err != nil {
					m.t.Errorf("user %d: proposals: %v", m.user, err)
					return
				}
				if _, _, err := m.group.ProcessProposal(b[:len(b)-len(rest)]); err != nil {
					m.t.Errorf("user %d: proposal: %v", m.user, err)
				}
				b = rest
			}
		} else {
			refs, err := msg.Refs()
			if err != nil {
				m.t.Errorf("user %d: revoke: %v", m.user, err)
				return
			}
			for _, r := range refs {
				m.group.RemoveCachedProposal(r)
			}
		}
		refs := m.group.CachedProposalRefs()
		if len(refs) == 0 {
			return
		}
		m.group.ClearPendingCommit()
		commit, welcome, err := m.group.CreateCommit(refs, nil)
		if err != nil {
			m.t.Errorf("user %d: commit: %v", m.user, err)
			return
		}
		m.lastSent = commit
		m.writeBinary(dave.CommitWelcome{Data: append(bytes.Clone(commit), welcome...)})
	case dave.AnnounceCommitTransition:
		if m.group == nil {
			m.recoverLocked(msg.TransitionID, errors.New("no group"))
			return
		}
		if !bytes.Equal(msg.Commit, m.lastSent) {
			m.group.ClearPendingCommit()
		}
		if _, err := m.group.ProcessCommit(msg.Commit); err != nil {
			m.recoverLocked(msg.TransitionID, err)
			return
		}
		m.joined = true
		m.readyLocked(msg.TransitionID)
	case dave.WelcomeMessage:
		g, err := mls.JoinFromWelcome(msg.Welcome, m.bundle, mls.WithUniqueIdentities())
		if err != nil {
			m.recoverLocked(msg.TransitionID, err)
			return
		}
		m.group, m.joined = g, true
		m.readyLocked(msg.TransitionID)
	case dave.PrepareTransition:
		m.prepared = append(m.prepared, msg)
		if msg.TransitionID == 0 {
			m.version = msg.ProtocolVersion
			return
		}
		m.readyLocked(msg.TransitionID)
	case dave.ExecuteTransition:
		m.executed = append(m.executed, msg.TransitionID)
		for _, p := range m.prepared {
			if p.TransitionID == msg.TransitionID {
				m.version = p.ProtocolVersion
			}
		}
	case dave.PrepareEpoch:
		if msg.Epoch == 1 {
			m.version = msg.ProtocolVersion
			m.sendKeyPackageLocked()
		}
	}
}

func (m *daveMember) readyLocked(id uint16) {
	if !m.noReady {
		m.writeJSON(23, map[string]any{"transition_id": id})
	}
}

// waitFor polls cond (called with m.mu held) until it holds.
func (m *daveMember) waitFor(what string, cond func() bool) {
	m.t.Helper()
	held := testkit.Poll(5*time.Second, func() bool {
		m.mu.Lock()
		defer m.mu.Unlock()
		return cond()
	})
	if !held {
		m.t.Fatalf("user %d: no %s within 5s (ops %v)", m.user, what, m.snapshotOps())
	}
}

// heartbeat sends a heartbeat and waits for its ACK (or the close). The
// server handles a connection's messages in order, so the ACK is a marker:
// everything m sent before was handled when it arrives.
func (m *daveMember) heartbeat() {
	m.t.Helper()
	m.mu.Lock()
	acks, seq := m.ops[6], m.lastSeq
	m.mu.Unlock()
	m.writeJSON(3, map[string]any{"t": time.Now().UnixMilli(), "seq_ack": seq})
	m.waitFor("heartbeat ACK", func() bool { return m.ops[6] > acks || m.closed })
}

func (m *daveMember) snapshotOps() map[int]int {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[int]int{}
	for k, v := range m.ops {
		out[k] = v
	}
	return out
}

// state returns the member's epoch and voice privacy code ("" without a
// group).
func (m *daveMember) state() (uint64, string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.group == nil || !m.joined {
		return 0, ""
	}
	code, err := dave.VoicePrivacyCode(m.group.EpochAuthenticator())
	if err != nil {
		m.t.Error(err)
	}
	return m.group.Epoch(), code
}

// encryptFrom encrypts a frame with m's sender key of its current epoch.
func (m *daveMember) encrypt(frame []byte) []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, err := dave.NewSenderKeyRatchet(dave.ExporterFunc(m.group.Exporter), m.user)
	if err != nil {
		m.t.Fatal(err)
	}
	e := dave.NewEncryptor()
	e.SetKeyRatchet(r)
	out, err := e.Encrypt(nil, frame)
	if err != nil {
		m.t.Fatal(err)
	}
	return out
}

// decrypt decrypts a frame of sender with m's key for it.
func (m *daveMember) decrypt(sender uint64, frame []byte) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, err := dave.NewSenderKeyRatchet(dave.ExporterFunc(m.group.Exporter), sender)
	if err != nil {
		return nil, err
	}
	d := dave.NewDecryptor()
	d.TransitionToKeyRatchet(r)
	return d.Decrypt(nil, frame)
}

func (m *daveMember) closedWith() (bool, int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.closed, m.closeCode
}

func (m *daveMember) leave() {
	m.wmu.Lock()
	_ = m.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	m.wmu.Unlock()
	m.waitFor("close", func() bool { return m.closed })
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
