package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/parleyhq/parley/fleet"
	"github.com/parleyhq/parley/internal/datadir"
	"github.com/parleyhq/parley/internal/testetcd"
	"github.com/parleyhq/parley/internal/testkit"
	"github.com/parleyhq/parley/internal/voicetoken"
	"github.com/parleyhq/parley/voiceclient"
)

// fleetHarness is etcd, voice nodes sharing one voice key (one region),
// and a chat node, each a `parley serve` process.
type fleetHarness struct {
	t        *testing.T
	registry string
	key      []byte
	ttl      time.Duration
	pool     *x509.CertPool // trusts the voice nodes' certificate
	pems     []byte         // the same certificate, PEM
	cert     string         // its file, and its key's
	certKey  string
	noDAVE   bool // movers identify without DAVE
	// beforeJoin, if set, runs for each mover between its registration
	// and its join (a moderator's PATCH).
	beforeJoin func(guild, user string)
	// stubborn movers ignore VOICE_SERVER_UPDATE (a client that never
	// reconnects).
	stubborn bool
	api, gw  string
	chatDir  string
	nodes    map[string]*exec.Cmd
	metrics  map[string]string // node id -> its /metrics address
}

func startFleet(t *testing.T, ttl time.Duration) *fleetHarness {
	etcd := testetcd.Start(t)
	h := &fleetHarness{t: t, registry: "etcd://" + etcd.Endpoint, ttl: ttl, pool: x509.NewCertPool(), chatDir: t.TempDir(), nodes: map[string]*exec.Cmd{}, metrics: map[string]string{}}
	cd, err := datadir.Open(h.chatDir)
	if err != nil {
		t.Fatal(err)
	}
	if h.key, err = cd.Key(voicetoken.KeyName); err != nil {
		t.Fatal(err)
	}
	// One certificate for every voice node (as a fleet behind one name
	// would have): Node's TLS stack picks one trusted certificate by
	// subject and would not try two self-signed ones alike.
	if _, err := cd.TLSConfig("", ""); err != nil {
		t.Fatal(err)
	}
	h.cert, h.certKey = cd.CertPath(), cd.KeyPath()
	if h.pems, err = os.ReadFile(h.cert); err != nil || !h.pool.AppendCertsFromPEM(h.pems) {
		t.Fatalf("fleet certificate: %v", err)
	}
	return h
}

// startPair starts the usual fleet: etcd (lease TTL 2 s), voice nodes
// node-a and node-b, and chat; its movers identify without DAVE.
func startPair(t *testing.T) *fleetHarness {
	h := startFleet(t, 2*time.Second)
	h.noDAVE = true
	h.voiceNode("node-a")
	h.voiceNode("node-b")
	h.chat()
	return h
}

// voiceNode starts voice node id in region rotterdam.
func (h *fleetHarness) voiceNode(id string) {
	t := h.t
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "keys"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "keys", voicetoken.KeyName+".key"), h.key, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd, ready := startServe(t, dir, "--only", "voice", "--registry", h.registry, "--region", "rotterdam", "--node-id", id,
		"--registry-ttl", h.ttl.String(), "--shutdown-timeout", "15s", "--tls-cert", h.cert, "--tls-key", h.certKey)
	h.nodes[id] = cmd
	h.metrics[id], _ = ready["metrics"].(string)
	h.waitNodes(func(ns []fleet.NodeStatus) bool {
		return slices.ContainsFunc(ns, func(n fleet.NodeStatus) bool { return n.ID == id && n.State == "serving" })
	}, "node %s serving", id)
}

func (h *fleetHarness) waitNodes(cond func([]fleet.NodeStatus) bool, msg string, args ...any) {
	h.t.Helper()
	testkit.Eventually(h.t, 20*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		eps, _ := fleet.ParseURL(h.registry)
		ns, err := fleet.Status(ctx, eps, "")
		return err == nil && cond(ns)
	}, msg, args...)
}

func (h *fleetHarness) chat(extra ...string) {
	_, ready := startServe(h.t, h.chatDir, append([]string{"--only", "chat", "--registry", h.registry, "--region", "rotterdam"}, extra...)...)
	h.api, h.gw = ready["api"].(string), ready["gateway"].(string)
}

// mover is a Go voice client joined through chat's main gateway that
// follows its VOICE_SERVER_UPDATEs (Conn.Move), sends a frame every
// 20 ms and records when it hears each other speaker.
type mover struct {
	user, session, guild, channel string
	gw                            *websocket.Conn
	conn                          atomic.Pointer[voiceclient.Conn]
	moves                         atomic.Int32
	token                         atomic.Pointer[string] // the last voice token chat gave
	// left is closed when chat tells the guild this member left voice.
	left chan struct{}

	mu      sync.Mutex
	last    map[string]time.Time     // speaker -> last frame heard
	gaps    map[string]time.Duration // speaker -> longest inter-arrival gap since the mark
	heard   map[string]time.Time     // speaker -> first frame after mark
	markAt  time.Time
	moveErr error
}

func (m *mover) onFrame(f voiceclient.Frame) {
	if f.UserID == "" || f.UserID == m.user {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if last, ok := m.last[f.UserID]; ok && !m.markAt.IsZero() && f.Received.After(m.markAt) {
		m.gaps[f.UserID] = max(m.gaps[f.UserID], f.Received.Sub(last))
	}
	if f.Received.After(m.last[f.UserID]) {
		m.last[f.UserID] = f.Received
	}
	if !m.markAt.IsZero() && f.Received.After(m.markAt) {
		if _, ok := m.heard[f.UserID]; !ok {
			m.heard[f.UserID] = f.Received
		}
	}
}

// mark starts a measurement: gaps so far are forgotten, and heardAll
// reports when every speaker was heard after now.
func (m *mover) mark() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.gaps, m.heard, m.markAt = map[string]time.Duration{}, map[string]time.Time{}, time.Now()
}

// heardAll reports whether every speaker was heard after both the mark
// and after.
func (m *mover) heardAll(speakers []string, after time.Time) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range speakers {
		if s != m.user && !m.last[s].After(after) {
			return false
		}
	}
	return true
}

// worstGap is the longest silence of each speaker since the mark.
func (m *mover) worstGap(speakers []string) map[string]time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]time.Duration{}
	for _, s := range speakers {
		if s == m.user {
			continue
		}
		out[s] = m.gaps[s]
	}
	return out
}

// joinMover registers a user, joins Lounge and follows moves until ctx ends.
func (h *fleetHarness) joinMover(ctx context.Context, wg *sync.WaitGroup, name string) *mover {
	t := h.t
	var reg struct {
		Token  string `json:"token"`
		UserID string `json:"user_id"`
	}
	if code := chatCall(t, h.api, "POST", "/auth/register", "", map[string]string{"username": name, "password": name + "-password"}, &reg); code != 201 {
		t.Fatalf("register %d", code)
	}
	g := dialChatGateway(t, h.gw, reg.Token, 1|1<<7)
	var guild struct {
		ID       string
		Channels []struct{ ID, Name string }
	}
	_ = json.Unmarshal(g.expect("GUILD_CREATE"), &guild)
	if h.beforeJoin != nil {
		h.beforeJoin(guild.ID, reg.UserID)
	}
	m := &mover{user: reg.UserID, guild: guild.ID, gw: g.ws, last: map[string]time.Time{}, gaps: map[string]time.Duration{}, left: make(chan struct{})}
	stubborn := h.stubborn
	for _, c := range guild.Channels {
		if c.Name == "Lounge" {
			m.channel = c.ID
		}
	}
	g.send(map[string]any{"op": 4, "d": map[string]any{"guild_id": guild.ID, "channel_id": m.channel, "self_mute": false, "self_deaf": false}})
	var state struct {
		SessionID string `json:"session_id"`
	}
	_ = json.Unmarshal(g.expect("VOICE_STATE_UPDATE", func(d json.RawMessage) bool { return bytes.Contains(d, []byte(`"user_id":"`+reg.UserID+`"`)) }), &state)
	m.session = state.SessionID
	var server struct{ Token, Endpoint string }
	_ = json.Unmarshal(g.expect("VOICE_SERVER_UPDATE"), &server)
	dctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	vc, err := voiceclient.Dial(dctx, voiceclient.Config{Endpoint: server.Endpoint, Token: server.Token, SessionID: m.session,
		UserID: m.user, GuildID: m.guild, ChannelID: m.channel, RootCAs: h.pool, OnFrame: m.onFrame, DisableDAVE: h.noDAVE})
	if err != nil {
		t.Fatalf("%s joins: %v", name, err)
	}
	m.conn.Store(vc)
	m.token.Store(&server.Token)
	wg.Add(2)
	go func() { // the main gateway: follow VOICE_SERVER_UPDATE
		defer wg.Done()
		for {
			var msg gwMsg
			if err := m.gw.ReadJSON(&msg); err != nil {
				return // the test closed the socket
			}
			if msg.Op == 1 {
				_ = m.gw.WriteJSON(map[string]any{"op": 1, "d": nil})
			}
			if msg.T != nil && *msg.T == "VOICE_STATE_UPDATE" && bytes.Contains(msg.D, []byte(`"user_id":"`+m.user+`"`)) &&
				bytes.Contains(msg.D, []byte(`"channel_id":null`)) {
				close(m.left)
			}
			if msg.T == nil || *msg.T != "VOICE_SERVER_UPDATE" || stubborn {
				continue
			}
			var s struct{ Token, Endpoint string }
			_ = json.Unmarshal(msg.D, &s)
			m.token.Store(&s.Token)
			mctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			old := m.conn.Load()
			nc, err := old.Move(mctx, s.Endpoint, s.Token)
			cancel()
			if err != nil {
				m.mu.Lock()
				m.moveErr = err
				m.mu.Unlock()
				continue
			}
			m.conn.Store(nc)
			m.moves.Add(1)
			_ = old.Close()
		}
	}()
	go func() { // the microphone: a frame every 20 ms on the current connection
		defer wg.Done()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		frame := []byte{0xfc, 0xff, 0xfe, 1, 2, 3, 4, 5}
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				_ = m.conn.Load().SendOpus(frame)
			}
		}
	}()
	return m
}

// startMovers returns the context a test's movers run in and join,
// which adds one (joinMover); a cleanup ends them all: cancel, close their
// gateways, wait for their goroutines, close their voice connections.
func (h *fleetHarness) startMovers() (context.Context, func(name string) *mover) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var movers []*mover // joined from the test goroutine only
	h.t.Cleanup(func() {
		cancel()
		for _, m := range movers {
			_ = m.gw.Close()
		}
		wg.Wait()
		for _, m := range movers {
			_ = m.conn.Load().Close()
		}
	})
	return ctx, func(name string) *mover {
		m := h.joinMover(ctx, &wg, name)
		movers = append(movers, m)
		return m
	}
}

// createBot makes a bot in the chat node's data directory (`parley bot
// create --json`), an administrator if admin.
func (h *fleetHarness) createBot(name string, admin bool) botCreated {
	t := h.t
	t.Helper()
	args := []string{"bot", "create", "--name", name, "--data-dir", h.chatDir, "--json"}
	if admin {
		args = append(args, "--admin")
	}
	out, err := parleyCmd(context.Background(), args...).Output()
	if err != nil {
		t.Fatalf("bot create: %v", err)
	}
	var bot botCreated
	if err := json.Unmarshal(out, &bot); err != nil {
		t.Fatal(err)
	}
	return bot
}

// gapReport logs and returns the median and max of the per-listener,
// per-speaker worst silences since the movers' mark.
func gapReport(t *testing.T, what string, movers []*mover, speakers []string) (median, worst time.Duration) {
	var all []time.Duration
	for _, m := range movers {
		for s, g := range m.worstGap(speakers) {
			all = append(all, g)
			_ = s
		}
	}
	slices.Sort(all)
	if len(all) == 0 {
		t.Fatalf("%s: no gaps measured", what)
	}
	median, worst = all[len(all)/2], all[len(all)-1]
	t.Logf("%s: audio gap per listener and speaker (last packet before the move to first after): median %v, max %v, all %v",
		what, median.Round(time.Millisecond), worst.Round(time.Millisecond), roundAll(all))
	return median, worst
}

func roundAll(ds []time.Duration) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.Round(time.Millisecond).String()
	}
	return out
}

// nodeCarrying waits for the node carrying n participants and returns its id.
func (h *fleetHarness) nodeCarrying(n int, not string) string {
	h.t.Helper()
	var id string
	h.waitNodes(func(ns []fleet.NodeStatus) bool {
		for _, s := range ns {
			if s.Load.Participants == n && s.ID != not && s.State == "serving" {
				id = s.ID
				return true
			}
		}
		return false
	}, "a node carries %d (not %q)", n, not)
	return id
}

// TestFleetMoves: two voice nodes and a chat node on etcd; four Go
// clients talk in Lounge, each following its VOICE_SERVER_UPDATEs, and a
// fifth, server-muted, talks unheard on every node.
// `parley voice drain` of Lounge's node moves the call to the other node
// (drain: median gap ≤ 500 ms, max ≤ 1.5 s as targets; the test fails
// at 5×) and the drained node exits; then a third node starts and the
// call's node is killed (-9): within the lease TTL chat notices, moves
// the call to the third node, and every listener hears every speaker
// again (target TTL + 1.5 s), but for a member who ignores its
// VOICE_SERVER_UPDATE: chat removes it from voice after
// --voice-move-timeout.
func TestFleetMoves(t *testing.T) {
	const ttl, moveTimeout = 2 * time.Second, 3 * time.Second
	h := startFleet(t, ttl)
	h.voiceNode("node-a")
	h.voiceNode("node-b")
	h.chat("--voice-move-timeout", moveTimeout.String())

	_, join := h.startMovers()
	var movers []*mover
	bot := h.createBot("moderator", true)
	var speakers []string
	for i := range 4 {
		m := join(fmt.Sprintf("talker%d", i))
		movers = append(movers, m)
		speakers = append(speakers, m.user)
	}
	// A fifth talks too, server-muted before joining: nobody hears it,
	// on any node.
	h.beforeJoin = func(guild, user string) {
		if code := chatCall(t, h.api, "PATCH", "/guilds/"+guild+"/members/"+user, "Bot "+bot.Token, map[string]any{"mute": true}, nil); code != 200 {
			t.Fatalf("server mute: %d", code)
		}
	}
	muted := join("muted")
	movers = append(movers, muted)
	nobodyHearsMuted := func() {
		t.Helper()
		for _, m := range movers {
			m.mu.Lock()
			_, heard := m.last[muted.user]
			m.mu.Unlock()
			if heard {
				t.Fatalf("%s heard the server-muted member", m.user)
			}
		}
	}
	everyoneHears := func(after time.Time, msg string) {
		t.Helper()
		testkit.Eventually(t, 30*time.Second, func() bool {
			for _, m := range movers {
				if !m.heardAll(speakers, after) {
					return false
				}
			}
			return true
		}, "%s", msg)
	}
	everyoneHears(time.Now(), "every listener hears every speaker")
	nobodyHearsMuted()
	// daveGroup checks that the four are one DAVE group (end-to-end
	// encrypted, one privacy code) other than the one before, and returns
	// its privacy code.
	daveGroup := func(before string) string {
		t.Helper()
		var code string
		testkit.Eventually(t, 10*time.Second, func() bool {
			code = movers[0].conn.Load().DAVE().PrivacyCode
			for _, m := range movers {
				st := m.conn.Load().DAVE()
				if st.ProtocolVersion != 1 || !st.Ready || st.PrivacyCode != code || code == before {
					return false
				}
			}
			return true
		}, "the five form one DAVE group (protocol 1), its privacy code not %q", before)
		return code
	}
	code := daveGroup("")
	var placedOn string
	h.waitNodes(func(ns []fleet.NodeStatus) bool {
		for _, n := range ns {
			if n.Load.Participants == len(movers) {
				placedOn = n.ID
				return true
			}
		}
		return false
	}, "one node carries the five")
	other := map[string]string{"node-a": "node-b", "node-b": "node-a"}[placedOn]

	// Drain.
	for _, m := range movers {
		m.mark()
	}
	exited := make(chan error, 1)
	drained := h.nodes[placedOn]
	go func() { exited <- drained.Wait() }()
	start := time.Now()
	if out, err := parleyCmd(context.Background(), "voice", "drain", "--registry", h.registry, placedOn).CombinedOutput(); err != nil {
		t.Fatalf("voice drain: %v\n%s", err, out)
	}
	h.waitNodes(func(ns []fleet.NodeStatus) bool {
		for _, n := range ns {
			if n.ID == other && n.Load.Participants == len(movers) {
				return true
			}
		}
		return false
	}, "the five moved to %s", other)
	everyoneHears(time.Now(), "every listener hears every speaker after the drain")
	nobodyHearsMuted() // the new node admitted it server-muted
	code = daveGroup(code)
	median, worst := gapReport(t, "drain", movers, speakers)
	select {
	case err := <-exited:
		t.Logf("drained node %s exited %v after the drain began (%v)", placedOn, time.Since(start).Round(time.Millisecond), err)
	case <-time.After(20 * time.Second):
		t.Fatalf("drained node %s did not exit", placedOn)
	}
	for _, m := range movers {
		if m.moves.Load() != 1 || m.moveErr != nil {
			t.Errorf("%s moved %d times (%v), want once", m.user, m.moves.Load(), m.moveErr)
		}
	}
	if median > 5*500*time.Millisecond || worst > 5*1500*time.Millisecond {
		t.Errorf("drain gaps median %v, max %v: beyond 5x the targets (500 ms, 1.5 s)", median, worst)
	}

	// Failure: a new node, and a member who will not follow the move;
	// then kill -9 the call's node.
	h.voiceNode("node-c")
	h.beforeJoin, h.stubborn = nil, true
	stubborn := join("stubborn")
	h.waitNodes(func(ns []fleet.NodeStatus) bool {
		return slices.ContainsFunc(ns, func(n fleet.NodeStatus) bool { return n.ID == other && n.Load.Participants == len(movers)+1 })
	}, "the stubborn member joined on %s", other)
	for _, m := range movers {
		m.mark()
	}
	if err := h.nodes[other].Process.Kill(); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	h.waitNodes(func(ns []fleet.NodeStatus) bool {
		for _, n := range ns {
			if n.ID == "node-c" && n.Load.Participants == len(movers) {
				return true
			}
		}
		return false
	}, "the five moved to node-c after %s was killed", other)
	everyoneHears(time.Now(), "every listener hears every speaker after the failover")
	back := time.Since(killed)
	nobodyHearsMuted()
	daveGroup(code)
	select {
	case <-stubborn.left:
		t.Logf("the member who never reconnected was removed from voice %v after kill -9 (--voice-move-timeout %v)", time.Since(killed).Round(time.Millisecond), moveTimeout)
	case <-time.After(5 * (ttl + moveTimeout)):
		t.Fatal("the member who never reconnected stayed in voice")
	}
	for _, m := range movers {
		select {
		case <-m.left:
			t.Errorf("%s, who moved, was removed from voice", m.user)
		default:
		}
	}
	t.Logf("failover: every listener heard every speaker on node-c %v after kill -9 (TTL %v)", back.Round(time.Millisecond), ttl)
	median, worst = gapReport(t, "failover", movers, speakers)
	if worst > 5*(ttl+1500*time.Millisecond) {
		t.Errorf("failover gap max %v: beyond 5x the target (TTL + 1.5 s = %v)", worst, ttl+1500*time.Millisecond)
	}
	_ = median
}
