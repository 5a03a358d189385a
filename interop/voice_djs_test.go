package interop

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/parleyhq/parley/internal/ogg"
	"github.com/parleyhq/parley/sfu/voicecrypto"
)

// djsDriver is one @discordjs/voice client in a Node process
// (interop/node/voice/djs-driver.mjs).
type djsDriver struct {
	t      *testing.T
	user   string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	events chan djsEvent
	got    *frameLog
	done   chan struct{}
	stderr *lineWriter
	once   sync.Once
}

type djsEvent struct {
	Event   string `json:"event"`
	Mode    string `json:"mode"`
	SSRC    uint32 `json:"ssrc"`
	User    string `json:"user"`
	Opus    string `json:"opus"`
	Message string `json:"message"`
	Frames  int    `json:"frames"`
}

type djsConfig struct {
	creds
	Frames    []string `json:"frames"`
	Subscribe []string `json:"subscribe"`
	Mode      string   `json:"mode,omitempty"`
	Debug     bool     `json:"debug"`
}

// startDJS starts a driver that joins as user, will play frames on "play"
// and records frames from the users in subscribe.
func startDJS(t *testing.T, env *voiceEnv, user string, frames [][]byte, subscribe []string, mode string) *djsDriver {
	t.Helper()
	node := nodeBinary(t, "@discordjs/voice", "@noble/ciphers")
	cfg := djsConfig{creds: env.creds(user), Subscribe: subscribe, Mode: mode, Debug: os.Getenv("PARLEY_TEST_DEBUG") == "1"}
	for _, f := range frames {
		cfg.Frames = append(cfg.Frames, base64.StdEncoding.EncodeToString(f))
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(t.TempDir(), "djs-"+user+".json")
	if err := os.WriteFile(cfgPath, b, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node, repoFile(t, filepath.Join("node", "voice", "djs-driver.mjs")), cfgPath)
	cmd.Dir = repoFile(t, "node")
	cmd.Env = append(os.Environ(), "NODE_EXTRA_CA_CERTS="+env.dir.CertPath(), "NODE_NO_WARNINGS=1")
	d := &djsDriver{t: t, user: user, cmd: cmd, events: make(chan djsEvent, 256), got: newFrameLog(), done: make(chan struct{})}
	d.stderr = &lineWriter{t: t, prefix: "djs:" + user + " stderr"}
	cmd.Stderr = d.stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if d.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		missingClient(t, "start node: %v", err)
	}
	go d.readStdout(stdout)
	t.Cleanup(d.stop)
	return d
}

func (d *djsDriver) readStdout(r io.Reader) {
	defer close(d.done)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var e djsEvent
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			d.t.Logf("djs:%s stdout: %s", d.user, sc.Bytes())
			continue
		}
		switch e.Event {
		case "frame":
			op, err := base64.StdEncoding.DecodeString(e.Opus)
			if err == nil {
				d.got.add(e.User, op)
			}
		case "debug":
			d.t.Logf("djs:%s debug: %s", d.user, e.Message)
		default:
			d.events <- e
		}
	}
}

// wait returns the next event named kind, failing on an error event, exit
// or timeout.
func (d *djsDriver) wait(kind string, timeout time.Duration) djsEvent {
	d.t.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		select {
		case e := <-d.events:
			if e.Event == kind {
				return e
			}
			if e.Event == "error" {
				d.t.Fatalf("djs:%s: %s", d.user, e.Message)
			}
			d.t.Logf("djs:%s event %+v", d.user, e)
		case <-d.done:
			// Drain what was printed before the exit.
			for {
				select {
				case e := <-d.events:
					if e.Event == kind {
						return e
					}
					if e.Event == "error" {
						d.t.Fatalf("djs:%s: %s", d.user, e.Message)
					}
				default:
					d.t.Fatalf("djs:%s exited before %q", d.user, kind)
				}
			}
		case <-timer.C:
			d.t.Fatalf("djs:%s: no %q within %v", d.user, kind, timeout)
		}
	}
}

func (d *djsDriver) send(cmd string) {
	d.t.Helper()
	if _, err := io.WriteString(d.stdin, cmd+"\n"); err != nil {
		d.t.Fatalf("djs:%s: write %q: %v", d.user, cmd, err)
	}
}

// stop closes stdin (the driver destroys its connection and exits) and
// kills the process if it lingers.
func (d *djsDriver) stop() {
	d.once.Do(func() {
		_ = d.stdin.Close()
		exited := make(chan struct{})
		go func() { _ = d.cmd.Wait(); close(exited) }()
		select {
		case <-exited:
		case <-time.After(3 * time.Second):
			_ = d.cmd.Process.Kill()
			<-exited
		}
		d.stderr.stop()
	})
}

// TestDiscordJSVoice: @discordjs/voice and Parley's Go client exchange audio
// through the server in both AEAD modes.
func TestDiscordJSVoice(t *testing.T) {
	for _, mode := range []string{voicecrypto.ModeAES256GCMRTPSize, voicecrypto.ModeXChaCha20RTPSize} {
		t.Run(mode, func(t *testing.T) {
			env := startVoice(t, false)
			const goUser, djsUser = "100000000000000001", "100000000000000002"
			goFrames, djsFrames := ogg.SyntheticOpus(100, 1), ogg.SyntheticOpus(100, 2)
			g := env.joinGo(t, goUser, "")
			d := startDJS(t, env, djsUser, djsFrames, []string{goUser}, mode)
			if ready := d.wait("ready", 20*time.Second); ready.Mode != mode {
				t.Fatalf("discordjs selected %q, want %q", ready.Mode, mode)
			}
			exchange(t, g, djsUser, djsFrames, goFrames, d)
			d.send("leave")
			d.wait("left", 5*time.Second)
		})
	}
}

// exchange plays goFrames from g and peerFrames from the driver at once and
// checks both directions.
func exchange(t *testing.T, g *goPeer, peerUser string, peerFrames, goFrames [][]byte, d *djsDriver) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	d.send("play")
	if err := g.conn.PlayFrames(ctx, goFrames); err != nil {
		t.Fatalf("go play: %v", err)
	}
	d.wait("played", 15*time.Second)
	g.got.waitAudio(peerUser, len(peerFrames), 3*time.Second)
	d.got.waitAudio(g.user, len(goFrames), 3*time.Second)
	checkFrames(t, "discordjs -> go", g.got.from(peerUser), peerFrames)
	checkFrames(t, "go -> discordjs", d.got.from(g.user), goFrames)
}
