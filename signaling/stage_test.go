package signaling_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/parleyhq/parley/internal/testkit"
	"github.com/parleyhq/parley/internal/voicetoken"
	"github.com/parleyhq/parley/signaling"
	"github.com/parleyhq/parley/voiceproto"
)

// stageMedia is a media plane that only allocates SSRCs.
type stageMedia struct{ next atomic.Uint32 }

func (m *stageMedia) Join(string, string) (signaling.Participant, error) {
	return &stageParticipant{ssrc: m.next.Add(1)}, nil
}
func (*stageMedia) Modes() []string            { return []string{"aead_aes256_gcm_rtpsize"} }
func (*stageMedia) UDPEndpoint() (string, int) { return "127.0.0.1", 1 }

type stageParticipant struct{ ssrc uint32 }

func (p *stageParticipant) SSRC() uint32                            { return p.ssrc }
func (*stageParticipant) SetTransport(string, []byte, string) error { return nil }
func (*stageParticipant) SetWebRTCTransport(string, []voiceproto.Codec) (string, error) {
	return "", signaling.ErrWebRTCOff
}
func (*stageParticipant) SetServerMute(bool)  {}
func (*stageParticipant) SetServerDeaf(bool)  {}
func (*stageParticipant) ServerMute() bool    { return false }
func (*stageParticipant) ServerDeaf() bool    { return false }
func (*stageParticipant) SetDAVECapable(bool) {}
func (*stageParticipant) SetRoomDAVE(bool)    {}
func (*stageParticipant) Leave()              {}

// stageMember is a raw gateway client that records what it learns: the
// SSRC of each peer (op 5), the users it was told of (op 11, op 13) and
// how many announcements it read.
type stageMember struct {
	user string
	ws   *websocket.Conn
	done chan struct{} // closed when the reader returns
	// known counts the peers whose SSRC it learnt.
	known atomic.Int64

	mu      sync.Mutex // guards the following
	ssrc    uint32     // its own, from Ready
	ssrcs   map[string]uint32
	present map[string]bool
	ops     map[int]int // announcements read by op (5, 11, 13)
	err     error       // why the reader stopped
}

// read records messages until the connection fails. Op 5 and op 13 are
// scanned by hand, the rest decoded: a member reads a thousand op 5s.
func (m *stageMember) read() {
	defer close(m.done)
	for {
		_, b, err := m.ws.ReadMessage()
		if err != nil {
			m.mu.Lock()
			m.err = err
			m.mu.Unlock()
			return
		}
		op, user, ssrc := scanAnnouncement(b)
		var d struct {
			UserIDs []string `json:"user_ids"`
			SSRC    uint32   `json:"ssrc"`
		}
		if op == int(voiceproto.OpReady) || op == int(voiceproto.OpClientsConnect) {
			var msg struct {
				D *struct {
					UserIDs []string `json:"user_ids"`
					SSRC    uint32   `json:"ssrc"`
				} `json:"d"`
			}
			msg.D = &d
			_ = json.Unmarshal(b, &msg)
		}
		m.mu.Lock()
		switch op {
		case int(voiceproto.OpReady):
			m.ssrc = d.SSRC
		case int(voiceproto.OpSpeaking):
			m.ops[op]++
			if _, ok := m.ssrcs[user]; !ok {
				m.known.Add(1)
			}
			m.ssrcs[user] = ssrc
		case int(voiceproto.OpClientsConnect):
			m.ops[op]++
			for _, id := range d.UserIDs {
				m.present[id] = true
			}
		case int(voiceproto.OpClientDisconnect):
			m.ops[op]++
			delete(m.present, user)
		}
		m.mu.Unlock()
	}
}

// scanAnnouncement finds op, d.user_id and d.ssrc in a server message
// written as the gateway writes them (no spaces, user ids to escape).
func scanAnnouncement(b []byte) (op int, user string, ssrc uint32) {
	field := func(name string) []byte {
		i := bytes.Index(b, []byte(`"`+name+`":`))
		if i < 0 {
			return nil
		}
		v := b[i+len(name)+3:]
		end := bytes.IndexAny(v, ",}")
		if end < 0 {
			return nil
		}
		return v[:end]
	}
	op, _ = strconv.Atoi(string(field("op")))
	user = strings.Trim(string(field("user_id")), `"`)
	n, _ := strconv.ParseUint(string(field("ssrc")), 10, 32)
	return op, user, uint32(n)
}

func (m *stageMember) count(op voiceproto.Op) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.ops[int(op)]
}

// stage is a gateway over plain WebSocket with a media plane of SSRCs only.
type stage struct {
	t       *testing.T
	url     string
	signer  *voicetoken.Signer
	metrics *prometheus.Registry
}

func newStage(t *testing.T) *stage {
	t.Helper()
	testkit.NoLeaks(t)
	signer, err := voicetoken.NewSigner([]byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	srv, err := signaling.New(signaling.Config{Media: &stageMedia{}, Tokens: signer, Metrics: reg})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Close(ctx); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return &stage{t: t, url: "ws" + strings.TrimPrefix(hs.URL, "http") + "/?v=8", signer: signer, metrics: reg}
}

// join dials and identifies user in channel c1 and starts its reader.
func (s *stage) join(user string) (*stageMember, error) {
	ws, _, err := websocket.DefaultDialer.Dial(s.url, nil)
	if err != nil {
		return nil, err
	}
	m := &stageMember{user: user, ws: ws, done: make(chan struct{}),
		ssrcs: map[string]uint32{}, present: map[string]bool{}, ops: map[int]int{}}
	s.t.Cleanup(func() { ws.Close(); <-m.done })
	c, tk := s.signer.IssueFor(user, "g1", "c1", time.Minute, time.Now())
	if err := ws.WriteJSON(map[string]any{"op": 0, "d": map[string]any{
		"server_id": "g1", "user_id": user, "session_id": c.SessionID, "token": tk}}); err != nil {
		return nil, err
	}
	go m.read() // owned by the test: the cleanup closes ws and waits
	return m, nil
}

// TestStageOfAThousand: 1,000 participants join one room at once (300
// under the race detector; PARLEY_STAGE_SIZE overrides). Nobody
// is closed (the 251st joiner used to overflow its own queue with one op 5
// per member), everyone learns everyone's SSRC, and a join and a leave
// cost each member O(1) messages: counted for the storm as a whole and
// exactly for one more join and leave in the full room.
func TestStageOfAThousand(t *testing.T) {
	n := stageSize
	if v, err := strconv.Atoi(os.Getenv("PARLEY_STAGE_SIZE")); err == nil && v > 1 {
		n = v // a larger room by hand, e.g. 1000 under -race
	}
	s := newStage(t)
	members := make([]*stageMember, n)
	start := time.Now()
	var wg sync.WaitGroup
	const dialers = 16
	errs := make(chan error, dialers)
	for d := range dialers {
		wg.Go(func() {
			for i := d; i < n; i += dialers {
				m, err := s.join("u" + strconv.Itoa(i+1))
				if err != nil {
					errs <- err
					return
				}
				members[i] = m
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("join: %v", err)
	}
	joined := time.Since(start)
	all := func(cond func(m *stageMember) bool) func() bool {
		return func() bool {
			for _, m := range members {
				if !cond(m) {
					return false
				}
			}
			return true
		}
	}
	if !testkit.Poll(30*time.Second, all(func(m *stageMember) bool { return m.known.Load() == int64(n-1) })) {
		lo, hi := int64(n), int64(0)
		for _, m := range members {
			lo, hi = min(lo, m.known.Load()), max(hi, m.known.Load())
		}
		t.Fatalf("after %v members know %d..%d SSRCs, want %d", time.Since(start), lo, hi, n-1)
	}
	settled := time.Since(start)

	ssrcOf := map[string]uint32{}
	var op5, op11 int
	for _, m := range members {
		m.mu.Lock()
		if m.err != nil {
			t.Fatalf("%s: connection ended: %v", m.user, m.err)
		}
		ssrcOf[m.user] = m.ssrc
		op5 += m.ops[int(voiceproto.OpSpeaking)]
		op11 += m.ops[int(voiceproto.OpClientsConnect)]
		m.mu.Unlock()
	}
	for _, m := range members {
		m.mu.Lock()
		for user, ssrc := range m.ssrcs {
			if ssrcOf[user] != ssrc {
				t.Fatalf("%s maps %s to SSRC %d, want %d", m.user, user, ssrc, ssrcOf[user])
			}
		}
		if len(m.present) != n-1 {
			t.Fatalf("%s was told of %d users by op 11, want %d", m.user, len(m.present), n-1)
		}
		m.mu.Unlock()
	}
	pairs := float64(n * (n - 1))
	t.Logf("%d joined in %v, all mappings known after %v; per join per member: %.3f op 5, %.3f op 11",
		n, joined.Round(time.Millisecond), settled.Round(time.Millisecond), float64(op5)/pairs, float64(op11)/pairs)
	if float64(op5)/pairs > 1.05 || float64(op11)/pairs > 1.05 {
		t.Fatalf("a join cost a member %.3f op 5 and %.3f op 11, want about one each", float64(op5)/pairs, float64(op11)/pairs)
	}

	// One more join and one leave in the full room: each member reads one
	// op 11, one op 5 and one op 13 (the op 13 is the marker that the
	// join's messages were all read).
	before := make([]map[voiceproto.Op]int, n)
	ops := []voiceproto.Op{voiceproto.OpClientsConnect, voiceproto.OpSpeaking, voiceproto.OpClientDisconnect}
	for i, m := range members {
		before[i] = map[voiceproto.Op]int{}
		for _, op := range ops {
			before[i][op] = m.count(op)
		}
	}
	lateStart := time.Now()
	late, err := s.join("late")
	if err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 10*time.Second, func() bool {
		if late.known.Load() != int64(n) {
			return false
		}
		for i, m := range members {
			if m.count(voiceproto.OpSpeaking) == before[i][voiceproto.OpSpeaking] {
				return false
			}
		}
		return true
	}, "the late joiner and the room learn each other's SSRCs")
	t.Logf("member %d joined and learnt the room's %d SSRCs (and the room its) in %v", n+1, n, time.Since(lateStart).Round(time.Millisecond))
	if err := late.ws.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 10*time.Second, func() bool {
		for i, m := range members {
			if m.count(voiceproto.OpClientDisconnect) == before[i][voiceproto.OpClientDisconnect] {
				return false
			}
		}
		return true
	}, "every member is told the late joiner left")
	for i, m := range members {
		for _, op := range ops {
			if got := m.count(op) - before[i][op]; got != 1 {
				t.Fatalf("%s read %d op %d for one join and leave, want 1", m.user, got, op)
			}
		}
	}
	if got := testutilCloses(t, s.metrics); got != 0 {
		t.Fatalf("%d connections closed by the server", got)
	}
}

// testutilCloses sums parley_voice_gateway_closes_total.
func testutilCloses(t *testing.T, reg *prometheus.Registry) int {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range families {
		if f.GetName() == "parley_voice_gateway_closes_total" {
			for _, m := range f.GetMetric() {
				n += int(m.GetCounter().GetValue())
			}
		}
	}
	return n
}
