package interop

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// driver is a third-party client in its own process speaking the drivers'
// line protocol (interop/node/voice/djs-driver.mjs, interop/disgodriver):
// JSON events on stdout, "play" and "leave" on stdin. Its methods fail t:
// a subtest uses its own view of the driver (in).
type driver struct {
	t      *testing.T
	label  string // "discordjs:<user>"
	user   string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	events chan driverEvent
	got    *frameLog
	done   chan struct{}
	stderr *lineWriter
	stop   func() // closes stdin and waits for the process; once
}

// in is the driver as seen from test t (a subtest): its failures end t,
// not the test that started the driver.
func (d *driver) in(t *testing.T) *driver {
	e := *d
	e.t = t
	return &e
}

type driverEvent struct {
	Event   string `json:"event"`
	Mode    string `json:"mode"`
	SSRC    uint32 `json:"ssrc"`
	User    string `json:"user"`
	Opus    string `json:"opus"`
	Message string `json:"message"`
	Frames  int    `json:"frames"`
}

// driverConfig is the CONFIG.json every driver reads.
type driverConfig struct {
	creds
	Frames    []string `json:"frames"`
	Subscribe []string `json:"subscribe,omitempty"`
	Mode      string   `json:"mode,omitempty"`
	CA        string   `json:"ca,omitempty"`
	DAVE      bool     `json:"dave,omitempty"`
	Debug     bool     `json:"debug"`
}

// writeDriverConfig writes cfg (with frames) to a temp file.
func writeDriverConfig(t *testing.T, cfg driverConfig, frames [][]byte) string {
	t.Helper()
	cfg.Debug = os.Getenv("PARLEY_TEST_DEBUG") == "1"
	for _, f := range frames {
		cfg.Frames = append(cfg.Frames, base64.StdEncoding.EncodeToString(f))
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "driver-"+cfg.UserID+".json")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// startDriver starts cmd and reads its events; it is stopped at cleanup.
func startDriver(t *testing.T, name, user string, cmd *exec.Cmd) *driver {
	t.Helper()
	d := &driver{t: t, label: name + ":" + user, user: user, cmd: cmd,
		events: make(chan driverEvent, 256), got: newFrameLog(), done: make(chan struct{})}
	d.stderr = &lineWriter{t: t, prefix: d.label + " stderr"}
	cmd.Stderr = d.stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if d.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		missingClient(t, "start %s driver: %v", name, err)
	}
	d.stop = sync.OnceFunc(d.exit)
	go d.readStdout(stdout)
	t.Cleanup(d.stop)
	return d
}

func (d *driver) readStdout(r io.Reader) {
	defer close(d.done)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var e driverEvent
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			d.t.Logf("%s stdout: %s", d.label, sc.Bytes())
			continue
		}
		switch e.Event {
		case "frame":
			if op, err := base64.StdEncoding.DecodeString(e.Opus); err == nil {
				d.got.add(e.User, op)
			}
		case "debug":
			d.t.Logf("%s debug: %s", d.label, e.Message)
		default:
			d.events <- e
		}
	}
}

// wait returns the next event named kind, failing on an error event, an
// exit or a timeout.
func (d *driver) wait(kind string, timeout time.Duration) driverEvent {
	d.t.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	check := func(e driverEvent) bool {
		if e.Event == kind {
			return true
		}
		if e.Event == "error" {
			d.t.Fatalf("%s: %s", d.label, e.Message)
		}
		d.t.Logf("%s event %+v", d.label, e)
		return false
	}
	for {
		select {
		case e := <-d.events:
			if check(e) {
				return e
			}
		case <-d.done:
			for { // drain what was printed before the exit
				select {
				case e := <-d.events:
					if check(e) {
						return e
					}
				default:
					d.t.Fatalf("%s exited before %q", d.label, kind)
				}
			}
		case <-timer.C:
			d.t.Fatalf("%s: no %q within %v", d.label, kind, timeout)
		}
	}
}

func (d *driver) send(cmd string) {
	d.t.Helper()
	if _, err := io.WriteString(d.stdin, cmd+"\n"); err != nil {
		d.t.Fatalf("%s: write %q: %v", d.label, cmd, err)
	}
}

// exit closes stdin (the driver leaves and exits) and kills the process if
// it lingers.
func (d *driver) exit() {
	_ = d.stdin.Close()
	exited := make(chan struct{})
	go func() { _ = d.cmd.Wait(); close(exited) }()
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		_ = d.cmd.Process.Kill()
		<-exited
	}
	d.stderr.stop()
}
