package interop

import (
	"bytes"
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parleyhq/parley/internal/datadir"
	"github.com/parleyhq/parley/internal/ogg"
	"github.com/parleyhq/parley/internal/testkit"
	"github.com/parleyhq/parley/internal/voicetoken"
	"github.com/parleyhq/parley/voiceclient"
	"github.com/parleyhq/parley/voicenode"
	"github.com/parleyhq/parley/voicenode/voicenodetest"
	"github.com/parleyhq/parley/voiceproto"
)

// interopRequired is true under `make test`: a missing client is a failure.
func interopRequired() bool { return os.Getenv("PARLEY_INTEROP") == "1" }

// missingClient fails (PARLEY_INTEROP=1) or skips the test.
func missingClient(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if interopRequired() {
		t.Fatalf("interop client missing (PARLEY_INTEROP=1): %s", msg)
	}
	t.Skipf("interop client missing: %s (run scripts/deps.sh, or `make test`)", msg)
}

// Test ids are snowflake-shaped: disgo and discordgo parse them as numbers.
const (
	testGuild   = "900000000000000001"
	testChannel = "900000000000000002"
)

// voiceEnv is a real Parley voice server on loopback.
type voiceEnv struct {
	srv    *voicenodetest.Node
	dir    *datadir.Dir
	signer *voicetoken.Signer
	pool   *x509.CertPool
	log    *slog.Logger
}

// testLogger writes to the test log at warn level (debug with PARLEY_TEST_DEBUG=1).
func testLogger(t *testing.T) *slog.Logger {
	lvl := slog.LevelWarn
	if os.Getenv("PARLEY_TEST_DEBUG") == "1" {
		lvl = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: lvl}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func startVoice(t *testing.T, legacy bool) *voiceEnv {
	t.Helper()
	log := testLogger(t)
	srv := voicenodetest.Start(t, voicenode.Config{LegacyModes: legacy, Logger: log})
	return &voiceEnv{srv: srv, dir: srv.Dir, signer: srv.Signer, pool: srv.RootCAs, log: log}
}

// creds is what `parley voice-token` prints.
type creds = voicetoken.Credentials

func (e *voiceEnv) creds(user string) creds {
	return e.srv.Creds(user, testGuild, testChannel)
}

// recFrame is one received packet: its Opus payload and, where the
// receiver exposes them (Parley's Go client), its RTP header fields.
type recFrame struct {
	ssrc uint32
	seq  uint16
	ts   uint32
	opus []byte
	at   time.Time // when it arrived (Parley's Go client)
}

// frameLog collects received frames per sending user.
type frameLog struct {
	mu     sync.Mutex
	byUser map[string][]recFrame
}

func newFrameLog() *frameLog {
	return &frameLog{byUser: map[string][]recFrame{}}
}

// add records an Opus frame from user, from a receiver that shows no RTP
// header.
func (l *frameLog) add(user string, opus []byte) { l.addFrame(user, recFrame{opus: opus}) }

// addFrame records f from user (its Opus bytes are copied).
func (l *frameLog) addFrame(user string, f recFrame) {
	f.opus = append([]byte(nil), f.opus...)
	l.mu.Lock()
	l.byUser[user] = append(l.byUser[user], f)
	l.mu.Unlock()
}

// from returns the Opus frames from user, in arrival order.
func (l *frameLog) from(user string) [][]byte { return payloads(l.frames(user)) }

// frames returns what arrived from user, in arrival order.
func (l *frameLog) frames(user string) []recFrame {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.byUser[user])
}

// fromSSRC returns what arrived from user's room SSRC ssrc, in arrival
// order.
func (l *frameLog) fromSSRC(user string, ssrc uint32) []recFrame {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []recFrame
	for _, f := range l.byUser[user] {
		if f.ssrc == ssrc {
			out = append(out, f)
		}
	}
	return out
}

func (l *frameLog) users() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for u := range l.byUser {
		out = append(out, u)
	}
	return out
}

// payloads is the frames' Opus packets.
func payloads(fs []recFrame) [][]byte {
	out := make([][]byte, len(fs))
	for i, f := range fs {
		out[i] = f.opus
	}
	return out
}

// contiguous reports the first break in the frames' RTP sequence numbers.
func contiguous(fs []recFrame) error {
	for i := 1; i < len(fs); i++ {
		if fs[i].seq != fs[i-1].seq+1 {
			return fmt.Errorf("frame %d of %d: sequence number %d after %d", i, len(fs), fs[i].seq, fs[i-1].seq)
		}
	}
	return nil
}

// waitAudio waits until at least n non-silence frames from user arrived
// and reports whether they did (the caller's checks say what is missing).
func (l *frameLog) waitAudio(user string, n int, d time.Duration) bool {
	return testkit.Poll(d, func() bool { return len(nonSilence(l.from(user))) >= n })
}

// goPeer is Parley's own voice client in the room (in the native dialect,
// or in the web dialect as `parley voice join --webrtc` joins), recording
// every packet with its RTP header fields and every gateway event.
type goPeer struct {
	user string
	conn *voiceclient.Conn
	got  *frameLog

	mu     sync.Mutex
	events []voiceclient.Event

	// busy (ns), when set, holds the client's gateway reader that long
	// after a membership event (op 11/13), as a busy application would, so
	// that it processes the following commit later than the others.
	busy atomic.Int64
}

// waitEvent waits for a gateway event of type typ (and user, if not "")
// and reports whether it came.
func (p *goPeer) waitEvent(typ, user string, d time.Duration) bool {
	return testkit.Poll(d, func() bool { return p.hasEvent(typ, user) })
}

// saidSpeaking reports whether the gateway's last speaking flags for user
// were flags.
func (p *goPeer) saidSpeaking(user string, flags voiceproto.SpeakingFlags) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, e := range slices.Backward(p.events) {
		if e.Type == voiceclient.EventSpeaking && e.UserID == user {
			return e.Speaking == flags
		}
	}
	return false
}

func (p *goPeer) hasEvent(typ, user string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, e := range p.events {
		if e.Type == typ && (user == "" || e.UserID == user) {
			return true
		}
	}
	return false
}

func (e *voiceEnv) joinGo(t *testing.T, user, mode string) *goPeer {
	t.Helper()
	return e.dialGo(t, user, mode, false, false)
}

// joinGoNoDAVE joins with DAVE off (max_dave_protocol_version 0). The
// transport tests use it: DAVE has its own tests (dave_*_test.go), and
// whether a room runs DAVE then depends only on what they test.
func (e *voiceEnv) joinGoNoDAVE(t *testing.T, user, mode string) *goPeer {
	t.Helper()
	return e.dialGo(t, user, mode, true, false)
}

// joinGoWebRTC joins as `parley voice join --webrtc` does (the web
// dialect, DAVE off).
func (e *voiceEnv) joinGoWebRTC(t *testing.T, user string) *goPeer {
	t.Helper()
	return e.dialGo(t, user, "", true, true)
}

func (e *voiceEnv) dialGo(t *testing.T, user, mode string, noDAVE, webrtc bool) *goPeer {
	t.Helper()
	c := e.creds(user)
	p := &goPeer{user: user, got: newFrameLog()}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := voiceclient.Dial(ctx, voiceclient.Config{
		Endpoint: c.Endpoint, Token: c.Token, SessionID: c.SessionID, UserID: user,
		GuildID: c.GuildID, ChannelID: c.ChannelID, RootCAs: e.pool, Mode: mode,
		DisableDAVE: noDAVE, WebRTC: webrtc,
		Logger: e.log.With("client", "go:"+user),
		OnFrame: func(f voiceclient.Frame) {
			p.got.addFrame(f.UserID, recFrame{ssrc: f.SSRC, seq: f.Seq, ts: f.Timestamp, opus: f.Opus, at: time.Now()})
		},
		OnEvent: func(e voiceclient.Event) {
			p.mu.Lock()
			p.events = append(p.events, e)
			p.mu.Unlock()
			if d := time.Duration(p.busy.Load()); d > 0 && (e.Type == voiceclient.EventClientsConnect || e.Type == voiceclient.EventClientDisconnect) {
				time.Sleep(d) // a receiver busy for a moment: its gateway reader reads on late
			}
		},
	})
	if err != nil {
		t.Fatalf("go client %s: %v", user, err)
	}
	p.conn = conn
	t.Cleanup(func() { _ = conn.Close() })
	return p
}

// nonSilence drops F8 FF FE frames: libraries differ in whether they send,
// forward or drop the trailing silence.
func nonSilence(frames [][]byte) [][]byte {
	out := frames[:0:0]
	for _, f := range frames {
		if !ogg.IsSilence(f) {
			out = append(out, f)
		}
	}
	return out
}

// checkFrames requires got (silence removed) to equal want byte for byte
// and in order.
func checkFrames(t *testing.T, what string, got, want [][]byte) {
	t.Helper()
	got = nonSilence(got)
	n := min(len(got), len(want))
	for i := range n {
		if !bytes.Equal(got[i], want[i]) {
			idx := -1
			for j := range want {
				if bytes.Equal(got[i], want[j]) {
					idx = j
					break
				}
			}
			t.Errorf("%s: frame %d differs (%d bytes, want %d; it is sent frame %d); %d received, %d sent",
				what, i, len(got[i]), len(want[i]), idx, len(got), len(want))
			return
		}
	}
	if len(got) != len(want) {
		t.Errorf("%s: received %d frames, sent %d (first %d match)", what, len(got), len(want), n)
	}
}

// checkGoFrames is checkFrames for a Parley Go receiver, which also sees
// RTP sequence numbers: when the arrival order is wrong it reports whether
// the order by sequence number is right (the server forwarded packets out
// of order but numbered them correctly) or not.
func checkGoFrames(t *testing.T, what string, g *goPeer, from string, want [][]byte) {
	t.Helper()
	if n := g.conn.Stats().EarlyFrames; n > 0 {
		t.Errorf("%s: %d frames reached %s before the server's op 5 announced their SSRC "+
			"(@discordjs/voice drops such frames)", what, n, g.user)
	}
	fs := g.got.frames(from)
	frames := payloads(fs)
	if inOrder(nonSilence(frames), want) {
		checkFrames(t, what, frames, want)
		return
	}
	idx := make([]int, len(frames))
	for i := range idx {
		idx[i] = i
	}
	base := fs[0].seq
	sort.SliceStable(idx, func(a, b int) bool { return int16(fs[idx[a]].seq-base) < int16(fs[idx[b]].seq-base) })
	bySeq := make([][]byte, len(frames))
	for i, j := range idx {
		bySeq[i] = frames[j]
	}
	if inOrder(nonSilence(bySeq), want) {
		t.Errorf("%s: frames arrived out of order, but their RTP sequence numbers are in the sent order: "+
			"the server reorders packets of one sender (%d frames)", what, len(frames))
		return
	}
	checkFrames(t, what, frames, want)
}

func inOrder(got, want [][]byte) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if !bytes.Equal(got[i], want[i]) {
			return false
		}
	}
	return true
}

// repoFile returns a path under the repository root (this package's dir's
// parent).
func repoFile(t *testing.T, rel string) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("no caller")
	}
	return filepath.Join(filepath.Dir(file), rel)
}

// nodeBinary finds node and checks interop/node/node_modules has pkg.
func nodeBinary(t *testing.T, pkgs ...string) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		missingClient(t, "node not on PATH")
	}
	for _, p := range pkgs {
		if _, err := os.Stat(repoFile(t, filepath.Join("node", "node_modules", p, "package.json"))); err != nil {
			missingClient(t, "npm package %s not installed in interop/node", p)
		}
	}
	return node
}

// lineWriter forwards a subprocess's stderr to the test log.
type lineWriter struct {
	t      *testing.T
	prefix string
	mu     sync.Mutex
	buf    []byte
	done   bool
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		if !w.done {
			w.t.Logf("%s: %s", w.prefix, w.buf[:i])
		}
		w.buf = w.buf[i+1:]
	}
	return len(p), nil
}

func (w *lineWriter) stop() {
	w.mu.Lock()
	w.done = true
	w.mu.Unlock()
}

var _ io.Writer = (*lineWriter)(nil)

// openFile opens a file for reading.
func openFile(p string) (*os.File, error) { return os.Open(p) }

// mkdirTemp makes a directory that outlives one test (for binaries shared
// by the package's tests); TestMain removes it.
func mkdirTemp(prefix string) (string, error) {
	dir, err := os.MkdirTemp("", prefix)
	if err == nil {
		tempDirsMu.Lock()
		tempDirs = append(tempDirs, dir)
		tempDirsMu.Unlock()
	}
	return dir, err
}

var (
	tempDirsMu sync.Mutex
	tempDirs   []string
)

func TestMain(m *testing.M) {
	code := m.Run()
	tempDirsMu.Lock()
	for _, d := range tempDirs {
		_ = os.RemoveAll(d)
	}
	tempDirsMu.Unlock()
	os.Exit(code)
}
