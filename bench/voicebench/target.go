package voicebench

import (
	"bufio"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/parleyhq/parley/internal/datadir"
	"github.com/parleyhq/parley/internal/voicetoken"
)

// Counters are a target's own packet counters.
type Counters struct {
	In    uint64            `json:"in"`
	Out   uint64            `json:"out"`
	Drops map[string]uint64 `json:"drops,omitempty"`
}

// sub returns c - o per field.
func (c Counters) sub(o Counters) Counters {
	d := Counters{In: c.In - o.In, Out: c.Out - o.Out, Drops: map[string]uint64{}}
	for k, v := range c.Drops {
		if v-o.Drops[k] > 0 {
			d.Drops[k] = v - o.Drops[k]
		}
	}
	return d
}

// Target is a server under load: the SFU (through its voice gateway) or the
// reflector (UDP only).
type Target struct {
	// Name labels progress lines and results ("sfu", "reflector").
	Name string
	// Reflector: participants join with a datagram instead of the gateway.
	Reflector bool
	// Gateway is the voice gateway's host:port (SFU).
	Gateway string
	// UDP is the reflector's media address.
	UDP string
	// RootCAs trusts the gateway's certificate; TokenKey signs voice tokens.
	RootCAs  *x509.CertPool
	TokenKey []byte
	// PID is the process whose CPU is the target's cost; os.Getpid() when
	// the target runs inside the generator (tests).
	PID int
	// Counters reads the target's packet counters (optional).
	Counters func(ctx context.Context) (Counters, error)
}

// InProcess reports whether the target shares the generator's process.
func (t *Target) InProcess() bool { return t.PID == os.Getpid() }

// Child is a server or reflector started as a child process that printed a
// JSON ready line on stdout.
type Child struct {
	cmd   *exec.Cmd
	Ready map[string]any
	done  chan struct{}
	err   error
}

// StartChild starts cmd and waits (up to a minute) for its first stdout
// line, a JSON object with "ready": true. Later stdout is discarded.
func StartChild(ctx context.Context, cmd *exec.Cmd) (*Child, error) {
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if cmd.Stderr == nil {
		cmd.Stderr = os.Stderr
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("voicebench: start %s: %w", cmd.Path, err)
	}
	c := &Child{cmd: cmd, done: make(chan struct{})}
	type result struct {
		line string
		err  error
	}
	lines := make(chan result, 1)
	br := bufio.NewReader(out)
	go func() {
		line, err := br.ReadString('\n')
		lines <- result{line, err}
		_, _ = io.Copy(io.Discard, br)
	}()
	go func() { c.err = cmd.Wait(); close(c.done) }()
	var res result
	select {
	case res = <-lines:
	case <-ctx.Done():
		c.Stop()
		return nil, ctx.Err()
	case <-time.After(time.Minute):
		c.Stop()
		return nil, fmt.Errorf("%w: no ready line after a minute", ErrReady)
	}
	if res.err != nil || json.Unmarshal([]byte(res.line), &c.Ready) != nil || c.Ready["ready"] != true {
		c.Stop()
		return nil, fmt.Errorf("%w: ready line %q (%v)", ErrReady, strings.TrimSpace(res.line), res.err)
	}
	return c, nil
}

// PID is the child's process id.
func (c *Child) PID() int { return c.cmd.Process.Pid }

// Stop sends SIGTERM, waits up to 10 s, then kills. It returns the child's
// total CPU time (user + system) over its life.
func (c *Child) Stop() time.Duration {
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
	if st := c.cmd.ProcessState; st != nil {
		return st.UserTime() + st.SystemTime()
	}
	return 0
}

// ServerTarget describes the voice server of dataDir from its ready fields
// (a child's ready line, or ready.json for a server started elsewhere).
func ServerTarget(dataDir string, ready map[string]any) (*Target, error) {
	dir, err := datadir.Open(dataDir)
	if err != nil {
		return nil, err
	}
	gw, _ := ready["voice_gateway"].(string)
	if gw == "" {
		return nil, fmt.Errorf("%w: no voice_gateway in %s (start `parley serve` with the voice component)", ErrNoServer, dir.ReadyPath())
	}
	pid, _ := ready["pid"].(float64)
	key, err := dir.Key(voicetoken.KeyName)
	if err != nil {
		return nil, err
	}
	pool, err := dir.CertPool()
	if err != nil {
		return nil, err
	}
	t := &Target{Name: "sfu", Gateway: gw, RootCAs: pool, TokenKey: key, PID: int(pid)}
	if m, _ := ready["metrics"].(string); m != "" {
		t.Counters = scrapeCounters("http://"+m+"/metrics", "parley_sfu_")
	}
	return t, nil
}

// AttachDataDir describes the server already running on dataDir.
func AttachDataDir(dataDir string) (*Target, error) {
	dir, err := datadir.Open(dataDir)
	if err != nil {
		return nil, err
	}
	ready, err := dir.ReadReady()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoServer, err)
	}
	t, err := ServerTarget(dataDir, ready)
	if err != nil {
		return nil, err
	}
	if t.PID <= 0 {
		return nil, fmt.Errorf("%w: ready.json has no pid", ErrNoServer)
	}
	if err := syscall.Kill(t.PID, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return nil, fmt.Errorf("%w: pid %d from ready.json: %v", ErrNoServer, t.PID, err)
	}
	return t, nil
}

// ReflectorTarget describes a reflector from its ready line.
func ReflectorTarget(ready map[string]any) (*Target, error) {
	udp, _ := ready["udp"].(string)
	if udp == "" {
		return nil, fmt.Errorf("%w: reflector ready line has no udp address", ErrReady)
	}
	pid, _ := ready["pid"].(float64)
	t := &Target{Name: "reflector", Reflector: true, UDP: udp, PID: int(pid)}
	if s, _ := ready["stats"].(string); s != "" {
		t.Counters = scrapeCounters("http://"+s+"/metrics", "parley_reflector_")
	}
	return t, nil
}

// scrapeCounters reads PREFIX packets_in_total, packets_out_total and
// drops_total{reason} from a Prometheus text endpoint.
func scrapeCounters(url, prefix string) func(ctx context.Context) (Counters, error) {
	client := &http.Client{Timeout: 5 * time.Second}
	return func(ctx context.Context) (Counters, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return Counters{}, err
		}
		resp, err := client.Do(req)
		if err != nil {
			return Counters{}, fmt.Errorf("voicebench: metrics: %w", err)
		}
		defer resp.Body.Close()
		return parseCounters(resp.Body, prefix)
	}
}

// parseCounters extracts the counters from Prometheus text exposition.
func parseCounters(r io.Reader, prefix string) (Counters, error) {
	c := Counters{Drops: map[string]uint64{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, prefix) {
			continue
		}
		name, rest, ok := strings.Cut(line[len(prefix):], " ")
		if !ok {
			continue
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
		if err != nil || f < 0 {
			continue
		}
		v := uint64(f)
		switch {
		case name == "packets_in_total":
			c.In = v
		case name == "packets_out_total":
			c.Out = v
		case strings.HasPrefix(name, `drops_total{reason="`):
			reason := strings.TrimSuffix(strings.TrimPrefix(name, `drops_total{reason="`), `"}`)
			c.Drops[reason] = v
		}
	}
	return c, sc.Err()
}
