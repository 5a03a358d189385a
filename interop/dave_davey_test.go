package interop

import (
	"bufio"
	"crypto/tls"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/parleyhq/parley/e2ee/dave"
	"github.com/parleyhq/parley/internal/testkit"
)

// daveyProc is interop/node/dave/davey-driver.mjs: @snazzah/davey
// DAVESessions (OpenMLS) answering JSON commands.
type daveyProc struct {
	t   *testing.T
	mu  sync.Mutex
	in  *json.Encoder
	out *bufio.Scanner
}

func startDaveyProc(t *testing.T) *daveyProc {
	t.Helper()
	node := nodeBinary(t, "@snazzah/davey")
	cmd := exec.Command(node, repoFile(t, filepath.Join("node", "dave", "davey-driver.mjs")))
	cmd.Dir = repoFile(t, "node")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = &lineWriter{t: t, prefix: "davey stderr"}
	if err := cmd.Start(); err != nil {
		missingClient(t, "start davey driver: %v", err)
	}
	t.Cleanup(func() {
		_ = stdin.Close()
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	return &daveyProc{t: t, in: json.NewEncoder(stdin), out: sc}
}

// call runs one command; it returns the reply and davey's error, if any.
func (p *daveyProc) call(cmd map[string]any) (map[string]any, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.in.Encode(cmd); err != nil {
		return nil, err
	}
	if !p.out.Scan() {
		return nil, errDriverExited
	}
	var r map[string]any
	if err := json.Unmarshal(p.out.Bytes(), &r); err != nil {
		return nil, err
	}
	if ok, _ := r["ok"].(bool); !ok {
		return r, &daveyError{msg: r["error"].(string)}
	}
	return r, nil
}

type daveyError struct{ msg string }

func (e *daveyError) Error() string { return "davey: " + e.msg }

var errDriverExited = &daveyError{msg: "driver exited"}

func (p *daveyProc) must(cmd map[string]any) map[string]any {
	r, err := p.call(cmd)
	if err != nil {
		p.t.Errorf("davey %v: %v", cmd["cmd"], err)
	}
	return r
}

// daveyMember speaks the voice gateway protocol in Go and hands every
// DAVE payload to its davey session, as @discordjs/voice's Networking.ts
// and DAVESession.ts do. hold queues op 27 messages until release.
type daveyMember struct {
	t    *testing.T
	p    *daveyProc
	user string
	ws   *websocket.Conn
	wmu  sync.Mutex

	mu        sync.Mutex // guards all following fields
	started   bool
	connected map[string]bool
	hold      bool
	held      []heldProposals
	invalid   int
	closed    bool
}

func joinDavey(t *testing.T, env *voiceEnv, p *daveyProc, user string) *daveyMember {
	t.Helper()
	ws, _, err := (&websocket.Dialer{TLSClientConfig: &tls.Config{RootCAs: env.pool}, HandshakeTimeout: 5 * time.Second}).
		Dial("wss://"+env.srv.GatewayAddr()+"/?v=8", nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	m := &daveyMember{t: t, p: p, user: user, ws: ws, connected: map[string]bool{}}
	t.Cleanup(func() { ws.Close() })
	c := env.creds(user)
	m.writeJSON(0, map[string]any{"server_id": c.GuildID, "user_id": user, "session_id": c.SessionID, "token": c.Token, "max_dave_protocol_version": 1})
	go m.readLoop()
	return m
}

func (m *daveyMember) writeJSON(op int, d any) {
	b, _ := json.Marshal(map[string]any{"op": op, "d": d})
	m.wmu.Lock()
	defer m.wmu.Unlock()
	_ = m.ws.WriteMessage(websocket.TextMessage, b)
}

func (m *daveyMember) writeBinary(op dave.Opcode, payload []byte) {
	m.wmu.Lock()
	defer m.wmu.Unlock()
	_ = m.ws.WriteMessage(websocket.BinaryMessage, append([]byte{byte(op)}, payload...))
}

func (m *daveyMember) readLoop() {
	defer func() {
		m.mu.Lock()
		m.closed = true
		m.mu.Unlock()
	}()
	for {
		typ, data, err := m.ws.ReadMessage()
		if err != nil {
			return
		}
		m.mu.Lock()
		if typ == websocket.BinaryMessage {
			m.binaryLocked(data)
		} else {
			m.textLocked(data)
		}
		m.mu.Unlock()
	}
}

func (m *daveyMember) keyPackageLocked() {
	r := m.p.must(map[string]any{"cmd": "keypackage", "id": m.user})
	if h, ok := r["hex"].(string); ok {
		b, _ := hex.DecodeString(h)
		m.writeBinary(dave.OpKeyPackage, b)
	}
}

func (m *daveyMember) textLocked(data []byte) {
	var in struct {
		Op int             `json:"op"`
		D  json.RawMessage `json:"d"`
	}
	if json.Unmarshal(data, &in) != nil {
		return
	}
	switch in.Op {
	case 2:
		m.writeJSON(1, map[string]any{"protocol": "udp", "data": map[string]any{"address": "127.0.0.1", "port": 9, "mode": "aead_aes256_gcm_rtpsize"}})
	case 4:
		var d struct {
			V int `json:"dave_protocol_version"`
		}
		_ = json.Unmarshal(in.D, &d)
		if d.V == 1 {
			m.p.must(map[string]any{"cmd": "new", "id": m.user, "user": m.user, "channel": testChannel})
			m.started = true
			m.keyPackageLocked()
		}
	case 11:
		var d struct {
			IDs []string `json:"user_ids"`
		}
		_ = json.Unmarshal(in.D, &d)
		for _, u := range d.IDs {
			m.connected[u] = true
		}
	case 13:
		var d struct {
			ID string `json:"user_id"`
		}
		_ = json.Unmarshal(in.D, &d)
		delete(m.connected, d.ID)
	case 21:
		var d dave.PrepareTransition
		_ = json.Unmarshal(in.D, &d)
		if d.TransitionID != 0 {
			m.writeJSON(23, map[string]any{"transition_id": d.TransitionID})
		}
	case 24:
		var d dave.PrepareEpoch
		_ = json.Unmarshal(in.D, &d)
		if d.Epoch == 1 && m.started {
			m.p.must(map[string]any{"cmd": "reinit", "id": m.user})
			m.keyPackageLocked()
		}
	}
}

func (m *daveyMember) binaryLocked(data []byte) {
	if len(data) < 3 || !m.started {
		return
	}
	op, payload := dave.Opcode(data[2]), data[3:]
	switch op {
	case dave.OpExternalSenderPackage:
		m.p.must(map[string]any{"cmd": "extsender", "id": m.user, "hex": hex.EncodeToString(payload)})
	case dave.OpProposals:
		if m.hold {
			m.held = append(m.held, heldProposals{append([]byte(nil), payload...), m.usersLocked()})
			return
		}
		m.proposalsLocked(payload, m.usersLocked())
	case dave.OpAnnounceCommitTransition, dave.OpWelcome:
		if len(payload) < 2 {
			return
		}
		id := binary.BigEndian.Uint16(payload)
		cmd := "commit"
		if op == dave.OpWelcome {
			cmd = "welcome"
		}
		if _, err := m.p.call(map[string]any{"cmd": cmd, "id": m.user, "hex": hex.EncodeToString(payload[2:])}); err != nil {
			m.recoverLocked(id, err)
			return
		}
		if id != 0 {
			m.writeJSON(23, map[string]any{"transition_id": id})
		}
	}
}

func (m *daveyMember) usersLocked() []string {
	users := make([]string, 0, len(m.connected))
	for u := range m.connected {
		users = append(users, u)
	}
	return users
}

func (m *daveyMember) proposalsLocked(payload []byte, users []string) {
	if len(payload) < 1 {
		return
	}
	r, err := m.p.call(map[string]any{"cmd": "proposals", "id": m.user, "optype": int(payload[0]), "hex": hex.EncodeToString(payload[1:]), "users": users})
	if err != nil {
		m.t.Errorf("davey %s proposals: %v", m.user, err)
		return
	}
	commit, _ := r["commit"].(string)
	if commit == "" {
		return
	}
	welcome, _ := r["welcome"].(string)
	b, _ := hex.DecodeString(commit + welcome)
	m.writeBinary(dave.OpCommitWelcome, b)
}

// recoverLocked is DAVESession.recoverFromInvalidTransition: op 31, then a
// fresh session and key package.
func (m *daveyMember) recoverLocked(id uint16, why error) {
	m.t.Logf("davey %s: transition %d: %v; op 31", m.user, id, why)
	m.invalid++
	m.writeJSON(31, map[string]any{"transition_id": id})
	m.p.must(map[string]any{"cmd": "reinit", "id": m.user})
	m.keyPackageLocked()
}

func (m *daveyMember) setHold(on bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.hold = on
	if !on {
		for _, h := range m.held {
			m.proposalsLocked(h.payload, h.users)
		}
		m.held = nil
	}
}

func (m *daveyMember) heldOps() []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	var ops []byte
	for _, h := range m.held {
		ops = append(ops, h.payload[0])
	}
	return ops
}

// heldProposals is an op 27 held back with the users connected when it
// arrived (davey refuses Adds of users not announced).
type heldProposals struct {
	payload []byte
	users   []string
}

type daveyState struct {
	Epoch *string  `json:"epoch"`
	Code  *string  `json:"code"`
	Ready bool     `json:"ready"`
	Users []string `json:"users"`
}

func (m *daveyMember) state() daveyState {
	r, err := m.p.call(map[string]any{"cmd": "state", "id": m.user})
	var st daveyState
	if err == nil {
		b, _ := json.Marshal(r)
		_ = json.Unmarshal(b, &st)
	}
	return st
}

// daveySynced waits until the server's group is exactly members and every
// member reports its epoch and one privacy code; it returns the epoch.
func daveySynced(t *testing.T, env *voiceEnv, members ...*daveyMember) uint64 {
	t.Helper()
	var want []uint64
	for _, m := range members {
		n, _ := strconv.ParseUint(m.user, 10, 64)
		want = append(want, n)
	}
	slices.Sort(want)
	st, _ := env.srv.DAVEState(testGuild, testChannel)
	synced := testkit.Poll(15*time.Second, func() bool {
		st, _ = env.srv.DAVEState(testGuild, testChannel)
		group := slices.Clone(st.GroupUsers)
		slices.Sort(group)
		if !st.Established || st.Transition || st.Proposals != 0 || !slices.Equal(group, want) {
			return false
		}
		code := ""
		for _, m := range members {
			s := m.state()
			if !s.Ready || s.Epoch == nil || *s.Epoch != strconv.FormatUint(st.Epoch, 10) || s.Code == nil || code != "" && *s.Code != code {
				return false
			}
			code = *s.Code
		}
		return true
	})
	if !synced {
		for _, m := range members {
			t.Logf("davey %s: %+v", m.user, m.state())
		}
		t.Fatalf("davey members not in sync with the server: %+v", st)
	}
	return st.Epoch
}

// daveyMedia checks a frame encrypted by each member decrypts at the others.
func daveyMedia(t *testing.T, members ...*daveyMember) {
	t.Helper()
	for _, from := range members {
		plain := hex.EncodeToString([]byte("opus from " + from.user))
		r := from.p.must(map[string]any{"cmd": "encrypt", "id": from.user, "hex": plain})
		ct, _ := r["hex"].(string)
		for _, to := range members {
			if to == from {
				continue
			}
			r, err := to.p.call(map[string]any{"cmd": "decrypt", "id": to.user, "from": from.user, "hex": ct})
			if got, _ := r["hex"].(string); err != nil || got != plain {
				t.Fatalf("%s -> %s: %v %q", from.user, to.user, err, got)
			}
		}
	}
}

// TestDAVEDavey: @snazzah/davey sessions as MLS members against the
// gateway: group creation, a proposal revoked before anyone committed it
// (op 27 revoke), a member re-added after op 31, pairwise codes.
func TestDAVEDavey(t *testing.T) {
	env := startVoice(t, false)
	p := startDaveyProc(t)
	const ua, ub, uc, ud = "100000000000000201", "100000000000000202", "100000000000000203", "100000000000000204"
	a := joinDavey(t, env, p, ua)
	b := joinDavey(t, env, p, ub)
	e1 := daveySynced(t, env, a, b)
	daveyMedia(t, a, b)

	// Revoke: c's Add reaches a and b, who hold it; c leaves, so the
	// gateway revokes the Add; released, neither has anything to commit.
	a.setHold(true)
	b.setHold(true)
	c := joinDavey(t, env, p, uc)
	testkit.Eventually(t, 10*time.Second, func() bool { return len(a.heldOps()) >= 1 && len(b.heldOps()) >= 1 }, "no Add proposal for c")
	_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	revoked := func() bool {
		return slices.Equal(a.heldOps(), []byte{0, 1}) && slices.Equal(b.heldOps(), []byte{0, 1})
	}
	if !testkit.Poll(10*time.Second, revoked) {
		t.Fatalf("held ops a %v b %v, want append then revoke", a.heldOps(), b.heldOps())
	}
	a.setHold(false)
	b.setHold(false)
	if e := daveySynced(t, env, a, b); e != e1 {
		t.Fatalf("epoch %d after a revoked Add, want %d", e, e1)
	}

	d := joinDavey(t, env, p, ud)
	e2 := daveySynced(t, env, a, b, d)
	daveyMedia(t, a, b, d)

	// Re-add: b cannot process a transition, sends op 31 and a new key
	// package; the gateway removes and re-adds it.
	b.mu.Lock()
	b.recoverLocked(0, &daveyError{msg: "test"})
	b.mu.Unlock()
	if e3 := daveySynced(t, env, a, b, d); e3 <= e2 {
		t.Fatalf("epoch %d after re-add, was %d", e3, e2)
	}
	daveyMedia(t, a, b, d)

	ab := p.must(map[string]any{"cmd": "code", "id": ua, "user": ub})["code"]
	ba := p.must(map[string]any{"cmd": "code", "id": ub, "user": ua})["code"]
	if s, _ := ab.(string); len(s) != 45 || ab != ba {
		t.Fatalf("pairwise codes %v %v", ab, ba)
	}
}
