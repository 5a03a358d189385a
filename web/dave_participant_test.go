package web

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/parleyhq/parley/e2ee/dave"
	"github.com/parleyhq/parley/e2ee/mls"
)

// davePeer is one DAVE participant of TestDAVEModuleParticipants: the
// browser's module (wasmPeer, through testdata/davedriver.mjs) or the Go
// client's (goPeer).
type davePeer interface {
	id() uint64
	session(v uint16) []dave.Message
	deliver(m dave.Message, seq uint16) []dave.Message
	state() dave.ParticipantState
	pairwise(other uint64) string
	encrypt(frame []byte) []byte
	decrypt(from uint64, frame []byte) ([]byte, bool)
}

// goPeer is dave.Participant with its dave.FrameSession.
type goPeer struct {
	t    *testing.T
	user uint64
	p    *dave.Participant
	fs   *dave.FrameSession
}

func newGoPeer(t *testing.T, user, channel uint64, announced []uint64) *goPeer {
	g := &goPeer{t: t, user: user, fs: dave.NewFrameSession()}
	p, err := dave.NewParticipant(dave.ParticipantConfig{UserID: user, ChannelID: channel, Keys: g.fs,
		Announced: func(u uint64) bool { return slices.Contains(announced, u) }})
	if err != nil {
		t.Fatal(err)
	}
	g.p = p
	return g
}

func (g *goPeer) id() uint64 { return g.user }

func (g *goPeer) msgs(out []dave.Outgoing) []dave.Message {
	var ms []dave.Message
	for _, o := range out {
		if o.Binary != nil {
			ms = append(ms, o.Binary)
		} else {
			ms = append(ms, o.Payload.(dave.Message))
		}
	}
	return ms
}

func (g *goPeer) session(v uint16) []dave.Message {
	out, _ := g.p.SessionDescription(v)
	return g.msgs(out)
}

func (g *goPeer) deliver(m dave.Message, _ uint16) []dave.Message {
	if bm, ok := m.(dave.BinaryMessage); ok {
		out, _ := g.p.HandleBinary(bm)
		return g.msgs(out)
	}
	raw, _ := json.Marshal(m)
	out, _, err := g.p.HandleJSON(m.Opcode(), raw)
	if err != nil {
		g.t.Fatalf("go peer: %v: %v", m.Opcode(), err)
	}
	return g.msgs(out)
}

func (g *goPeer) state() dave.ParticipantState { return g.p.State() }

func (g *goPeer) pairwise(other uint64) string {
	mine, theirs, ok := g.p.MemberKeys(other)
	if !ok {
		g.t.Fatalf("go peer: %d not in the group", other)
	}
	code, err := dave.PairwiseVerificationCode(mine, g.user, theirs, other)
	if err != nil {
		g.t.Fatal(err)
	}
	return code
}

func (g *goPeer) encrypt(frame []byte) []byte {
	out, st, err := g.fs.Encrypt(nil, dave.CodecOpus, frame, false)
	if err != nil || st != dave.SendEncrypted {
		g.t.Fatalf("go peer: encrypt: %v %v", st, err)
	}
	return out
}

func (g *goPeer) decrypt(from uint64, frame []byte) (plain []byte, ok bool) {
	n := 0
	g.fs.Decrypt(from, frame, func(p []byte, k bool) { plain, ok = bytes.Clone(p), k; n++ })
	if n != 1 {
		g.t.Fatalf("go peer: %d emits for one frame", n)
	}
	return plain, ok
}

// daveDriver is node running testdata/davedriver.mjs over dave.wasm.
type daveDriver struct {
	t   *testing.T
	in  *json.Encoder
	out *bufio.Scanner
}

type driverAnswer struct {
	Out []struct {
		Op  dave.Opcode     `json:"op"`
		D   json.RawMessage `json:"d"`
		Bin string          `json:"bin"`
	} `json:"out"`
	Error string          `json:"error"`
	Fail  string          `json:"fail"`
	Value json.RawMessage `json:"value"`
	Hex   string          `json:"hex"`
	Emits []struct {
		OK  bool   `json:"ok"`
		Hex string `json:"hex"`
	} `json:"emits"`
}

func startDaveDriver(t *testing.T) *daveDriver {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("PARLEY_INTEROP") != "" {
			t.Fatal("node not on PATH (scripts/deps.sh installs it)")
		}
		t.Skip("node not on PATH")
	}
	if _, err := os.Stat(filepath.Join("dave", "dave.wasm")); err != nil {
		if os.Getenv("PARLEY_INTEROP") != "" {
			t.Fatal("web/dave/dave.wasm is missing: `make web` builds it (make test does)")
		}
		t.Skip("web/dave/dave.wasm is missing (`make web` builds it)")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, node, filepath.Join("testdata", "davedriver.mjs"))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = stdin.Close()
		cancel()
		_ = cmd.Wait()
		if t.Failed() && stderr.Len() > 0 {
			t.Logf("driver stderr:\n%s", stderr.String())
		}
	})
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	return &daveDriver{t: t, in: json.NewEncoder(stdin), out: sc}
}

func (d *daveDriver) call(cmd map[string]any) driverAnswer {
	d.t.Helper()
	if err := d.in.Encode(cmd); err != nil {
		d.t.Fatalf("driver: %v", err)
	}
	if !d.out.Scan() {
		d.t.Fatalf("driver: no answer to %v: %v", cmd["cmd"], d.out.Err())
	}
	var a driverAnswer
	if err := json.Unmarshal(d.out.Bytes(), &a); err != nil {
		d.t.Fatalf("driver: %v: %s", err, d.out.Bytes())
	}
	if a.Fail != "" {
		d.t.Fatalf("driver: %v: %s", cmd["cmd"], a.Fail)
	}
	return a
}

// wasmPeer is a participant in dave.wasm.
type wasmPeer struct {
	d    *daveDriver
	user uint64
}

func newWasmPeer(d *daveDriver, user, channel uint64, announced []uint64) *wasmPeer {
	u := strconv.FormatUint(user, 10)
	d.call(map[string]any{"cmd": "new", "user": u, "channel": strconv.FormatUint(channel, 10)})
	var us []string
	for _, a := range announced {
		us = append(us, strconv.FormatUint(a, 10))
	}
	d.call(map[string]any{"cmd": "members", "user": u, "users": us})
	return &wasmPeer{d: d, user: user}
}

func (w *wasmPeer) id() uint64 { return w.user }
func (w *wasmPeer) u() string  { return strconv.FormatUint(w.user, 10) }

func (w *wasmPeer) msgs(a driverAnswer) []dave.Message {
	t := w.d.t
	t.Helper()
	if a.Error != "" {
		t.Fatalf("wasm peer %d: %s", w.user, a.Error)
	}
	var ms []dave.Message
	for _, o := range a.Out {
		if o.Bin != "" {
			b, _ := hex.DecodeString(o.Bin)
			m, err := dave.DecodeClientFrame(b)
			if err != nil {
				t.Fatalf("wasm peer %d sent a bad binary frame: %v", w.user, err)
			}
			ms = append(ms, m)
			continue
		}
		m, err := dave.DecodeJSON(o.Op, o.D)
		if err != nil {
			t.Fatalf("wasm peer %d sent a bad op %v: %v", w.user, o.Op, err)
		}
		ms = append(ms, m)
	}
	return ms
}

func (w *wasmPeer) session(v uint16) []dave.Message {
	return w.msgs(w.d.call(map[string]any{"cmd": "session", "user": w.u(), "version": v}))
}

func (w *wasmPeer) deliver(m dave.Message, seq uint16) []dave.Message {
	if bm, ok := m.(dave.BinaryMessage); ok {
		b, err := dave.AppendServerFrame(nil, seq, bm)
		if err != nil {
			w.d.t.Fatal(err)
		}
		return w.msgs(w.d.call(map[string]any{"cmd": "binary", "user": w.u(), "hex": hex.EncodeToString(b)}))
	}
	return w.msgs(w.d.call(map[string]any{"cmd": "json", "user": w.u(), "op": m.Opcode(), "d": m}))
}

func (w *wasmPeer) state() dave.ParticipantState {
	var st dave.ParticipantState
	if err := json.Unmarshal(w.d.call(map[string]any{"cmd": "state", "user": w.u()}).Value, &st); err != nil {
		w.d.t.Fatal(err)
	}
	return st
}

func (w *wasmPeer) pairwise(other uint64) string {
	var s string
	_ = json.Unmarshal(w.d.call(map[string]any{"cmd": "pairwise", "user": w.u(), "other": strconv.FormatUint(other, 10)}).Value, &s)
	return s
}

func (w *wasmPeer) encrypt(frame []byte) []byte {
	a := w.d.call(map[string]any{"cmd": "encrypt", "user": w.u(), "hex": hex.EncodeToString(frame)})
	if string(a.Value) != `"encrypted"` {
		w.d.t.Fatalf("wasm peer %d: encrypt: %s", w.user, a.Value)
	}
	b, _ := hex.DecodeString(a.Hex)
	return b
}

func (w *wasmPeer) decrypt(from uint64, frame []byte) ([]byte, bool) {
	a := w.d.call(map[string]any{"cmd": "decrypt", "user": w.u(), "from": strconv.FormatUint(from, 10), "hex": hex.EncodeToString(frame)})
	if len(a.Emits) != 1 {
		w.d.t.Fatalf("wasm peer %d: %d emits for one frame", w.user, len(a.Emits))
	}
	b, _ := hex.DecodeString(a.Emits[0].Hex)
	return b, a.Emits[0].OK
}

// room plays the voice gateway with e2ee/dave's real ServerSession.
type room struct {
	t     *testing.T
	ss    *dave.ServerSession
	peers map[uint64]davePeer
	queue map[uint64][]dave.Message // what each peer sent, not yet handled
	seq   map[uint64]uint16
}

func (r *room) send(sends []dave.Send) {
	for _, s := range sends {
		p := r.peers[s.User]
		if p == nil {
			continue
		}
		r.seq[s.User]++
		r.queue[s.User] = append(r.queue[s.User], p.deliver(s.Msg, r.seq[s.User])...)
	}
}

func (r *room) join(p davePeer) {
	r.peers[p.id()] = p
	v, sends := r.ss.Join(time.Now(), p.id(), 1)
	r.queue[p.id()] = append(r.queue[p.id()], p.session(v)...)
	r.send(sends)
	r.pump()
}

// pump hands the peers' messages to the gateway until no one has more.
func (r *room) pump() {
	r.t.Helper()
	for range 500 {
		var user uint64
		var found bool
		for _, u := range slices.Sorted(maps.Keys(r.queue)) {
			if len(r.queue[u]) > 0 {
				user, found = u, true
				break
			}
		}
		if !found {
			return
		}
		m := r.queue[user][0]
		r.queue[user] = r.queue[user][1:]
		sends, err := r.ss.Handle(time.Now(), user, m)
		if err != nil {
			if _, ok := m.(dave.CommitWelcome); ok {
				continue // a losing commit (another member's won)
			}
			r.t.Fatalf("gateway: %v from %d: %v", m.Opcode(), user, err)
		}
		r.send(sends)
	}
	r.t.Fatal("the room did not settle")
}

// agree checks that every peer is ready in the same epoch with the same
// privacy code and members, and returns the state.
func (r *room) agree() dave.ParticipantState {
	r.t.Helper()
	var first dave.ParticipantState
	for i, u := range slices.Sorted(maps.Keys(r.peers)) {
		st := r.peers[u].state()
		slices.Sort(st.Members)
		if !st.Ready || st.PrivacyCode == "" || len(st.Members) != len(r.peers) {
			r.t.Fatalf("peer %d not ready in a group of %d: %+v", u, len(r.peers), st)
		}
		if i == 0 {
			first = st
		} else if st.Epoch != first.Epoch || st.PrivacyCode != first.PrivacyCode || !slices.Equal(st.Members, first.Members) {
			r.t.Fatalf("peers disagree: %+v vs %+v", st, first)
		}
	}
	return first
}

// TestDAVEModuleParticipants: two participants in dave.wasm (each split
// as in the browser: the participant in one instance, its key changes
// replayed in another that does the frames) and the Go client's
// participant form a DAVE group through e2ee/dave's ServerSession as the
// gateway: all agree on the epoch, the privacy code and the pairwise
// codes, and every direction decrypts; after one leaves, the others move
// to a new epoch and still do.
func TestDAVEModuleParticipants(t *testing.T) {
	d := startDaveDriver(t)
	const channel = 777
	users := []uint64{1001, 1002, 1003}
	key, err := mls.GenerateSignatureKey()
	if err != nil {
		t.Fatal(err)
	}
	ss, err := dave.NewServerSession(dave.ServerSessionConfig{ChannelID: channel, MaxProtocolVersion: 1,
		Sender: mls.NewExternalSender(key, []byte("gateway"))})
	if err != nil {
		t.Fatal(err)
	}
	r := &room{t: t, ss: ss, peers: map[uint64]davePeer{}, queue: map[uint64][]dave.Message{}, seq: map[uint64]uint16{}}
	a, b := newWasmPeer(d, users[0], channel, users), newWasmPeer(d, users[1], channel, users)
	c := newGoPeer(t, users[2], channel, users)
	for _, p := range []davePeer{a, b, c} {
		r.join(p)
	}
	st := r.agree()
	t.Logf("epoch %d, privacy code %s", st.Epoch, st.PrivacyCode)
	for _, pair := range [][2]davePeer{{a, b}, {a, c}, {b, c}} {
		x, y := pair[0], pair[1]
		cx, cy := x.pairwise(y.id()), y.pairwise(x.id())
		if len(cx) != 45 || cx != cy {
			t.Fatalf("pairwise codes %d/%d: %q vs %q", x.id(), y.id(), cx, cy)
		}
	}
	talk := func(peers ...davePeer) {
		t.Helper()
		for i, from := range peers {
			frame := []byte{0x78, byte(i), 1, 2, 3, 4, 5, 6, 7, 8, 9}
			enc := from.encrypt(frame)
			for _, to := range peers {
				if to == from {
					continue
				}
				if got, ok := to.decrypt(from.id(), enc); !ok || !bytes.Equal(got, frame) {
					t.Fatalf("%d -> %d: ok %v, %x", from.id(), to.id(), ok, got)
				}
			}
		}
	}
	talk(a, b, c)

	// The Go client leaves: the others move to a new epoch.
	delete(r.peers, c.id())
	r.send(ss.Leave(time.Now(), c.id()))
	r.pump()
	if st2 := r.agree(); st2.Epoch <= st.Epoch || st2.PrivacyCode == st.PrivacyCode {
		t.Fatalf("no new epoch after a leave: %+v then %+v", st, st2)
	}
	talk(a, b)
}
