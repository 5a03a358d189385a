package interop

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/parleyhq/parley/internal/datadir"
	"github.com/parleyhq/parley/internal/testkit"
)

// parleyServer is `parley serve --dev` as a newcomer starts it (`make
// run`): the real binary in a process of its own, every listener on a
// port 0 of loopback, its own data dir. It is stopped with SIGTERM when
// the test ends; its stderr is shown when the test failed.
type parleyServer struct {
	t      *testing.T
	bin    string
	dir    *datadir.Dir
	ready  map[string]any
	cmd    *exec.Cmd
	stderr *testkit.SyncBuffer
}

// buildParley builds ./cmd/parley once per test binary, into a directory
// TestMain removes.
var buildParley = sync.OnceValues(func() (string, error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("go not on PATH: %w", err)
	}
	dir, err := mkdirTemp("parley-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "parley")
	cmd := exec.Command(goBin, "build", "-o", bin, "./cmd/parley")
	cmd.Dir = repoRoot()
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/parley: %w\n%s", err, out)
	}
	return bin, nil
})

// addrFlag matches a listen-address flag in `parley serve -h`.
var addrFlag = regexp.MustCompile(`(?m)^\s+-([a-z0-9-]+-addr)\b`)

// startParley builds and starts `parley serve --dev` and waits for its
// ready line (the JSON it also writes to ready.json).
func startParley(t *testing.T) *parleyServer {
	t.Helper()
	bin, err := buildParley()
	if err != nil {
		t.Fatal(err)
	}
	// Every listen-address flag serve has (new listeners included) gets
	// port 0 on loopback.
	help, _ := exec.Command(bin, "serve", "-h").CombinedOutput() // -h exits 0 or 2 by taste
	flags := addrFlag.FindAllStringSubmatch(string(help), -1)
	if len(flags) == 0 {
		t.Fatalf("parley serve -h lists no -...-addr flag:\n%s", help)
	}
	dataDir := t.TempDir()
	args := []string{"serve", "--dev", "--data-dir", dataDir, "--log-level", "warn"}
	for _, f := range flags {
		args = append(args, "--"+f[1], "127.0.0.1:0")
	}
	s := &parleyServer{t: t, bin: bin, stderr: &testkit.SyncBuffer{}}
	s.cmd = exec.Command(bin, args...)
	s.cmd.Stderr = s.stderr
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1)
	drained := make(chan struct{})
	go func() { // ends at EOF: when the process exits
		defer close(drained)
		r := bufio.NewReader(stdout)
		line, err := r.ReadString('\n')
		if err == nil {
			lines <- line
		}
		close(lines)
		_, _ = io.Copy(io.Discard, r)
	}()
	t.Cleanup(func() {
		s.stop()
		<-drained
		if t.Failed() {
			t.Logf("parley serve stderr (last lines):\n%s", tail(s.stderr.String(), 40))
		}
	})
	select {
	case line, ok := <-lines:
		if !ok || json.Unmarshal([]byte(line), &s.ready) != nil || s.ready["ready"] != true {
			t.Fatalf("parley serve %s: no ready line (got %q)\n%s", strings.Join(args[1:], " "), line, s.stderr)
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("parley serve: no ready line within 60 s\n%s", s.stderr)
	}
	if s.dir, err = datadir.Open(dataDir); err != nil {
		t.Fatal(err)
	}
	if onDisk, err := s.dir.ReadReady(); err != nil || onDisk["pid"] != s.ready["pid"] {
		t.Fatalf("ready.json %v (%v), the ready line %v", onDisk, err, s.ready)
	}
	return s
}

// stop sends SIGTERM and waits for a clean exit, killing the process
// after 15 s.
func (s *parleyServer) stop() {
	if s.cmd.ProcessState != nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	exited := make(chan error, 1)
	go func() { exited <- s.cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			s.t.Errorf("parley serve exited after SIGTERM: %v\n%s", err, tail(s.stderr.String(), 40))
		}
	case <-time.After(15 * time.Second):
		_ = s.cmd.Process.Kill()
		<-exited
		s.t.Errorf("parley serve did not exit within 15 s of SIGTERM; killed\n%s", tail(s.stderr.String(), 40))
	}
}

// addr is a listener's address from the ready line.
func (s *parleyServer) addr(name string) string {
	s.t.Helper()
	v, _ := s.ready[name].(string)
	if v == "" {
		s.t.Fatalf("parley serve's ready line has no %q: %v", name, s.ready)
	}
	return v
}

// api calls the chat REST API on the plain api listener (as bots do) and
// decodes the answer into out; it returns the status.
func (s *parleyServer) api(method, path, auth string, body, out any) int {
	s.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, "http://"+s.addr("api")+"/api/v10"+path, rd)
	if err != nil {
		s.t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			s.t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
	return resp.StatusCode
}

// account is a chat account's token and id.
type account struct {
	Token  string `json:"token"`
	UserID string `json:"user_id"`
}

// createBot registers a bot through the admin route of the API (what
// `parley bot create` does), with the data dir's admin key.
func (s *parleyServer) createBot(name string) account {
	s.t.Helper()
	key, err := s.dir.Key("chat_admin")
	if err != nil {
		s.t.Fatal(err)
	}
	var a account
	if code := s.api("POST", "/_parley/bots", "Admin "+hex.EncodeToString(key), map[string]any{"name": name}, &a); code != http.StatusCreated {
		s.t.Fatalf("POST /_parley/bots: %d", code)
	}
	return a
}

// register signs a user up through the API.
func (s *parleyServer) register(name, password string) account {
	s.t.Helper()
	var a account
	if code := s.api("POST", "/auth/register", "", map[string]string{"username": name, "password": password}, &a); code != http.StatusCreated {
		s.t.Fatalf("register %s: %d", name, code)
	}
	return a
}

// userID finds a member of guild by username.
func (s *parleyServer) userID(auth, guild, username string) string {
	s.t.Helper()
	var members []struct {
		User struct{ ID, Username string } `json:"user"`
	}
	if code := s.api("GET", "/guilds/"+guild+"/members?limit=1000", auth, nil, &members); code != http.StatusOK {
		s.t.Fatalf("list members: %d", code)
	}
	i := slices.IndexFunc(members, func(m struct {
		User struct{ ID, Username string } `json:"user"`
	}) bool {
		return m.User.Username == username
	})
	if i < 0 {
		s.t.Fatalf("no member named %s in guild %s", username, guild)
	}
	return members[i].User.ID
}

// tail is the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// repoRoot is the repository's root directory (this package's parent).
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(file))
}

// artifactDir is where a test keeps what a reviewer looks at afterwards:
// $PARLEY_ARTIFACTS/name (or $PARLEY_TEST_ARTIFACTS/name), else a new
// temporary directory that outlives the test.
func artifactDir(t *testing.T, name string) string {
	t.Helper()
	for _, env := range []string{"PARLEY_ARTIFACTS", "PARLEY_TEST_ARTIFACTS"} {
		if root := os.Getenv(env); root != "" {
			dir := filepath.Join(root, name)
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			return dir
		}
	}
	dir, err := os.MkdirTemp("", "parley-"+name+"-")
	if err != nil {
		t.Fatal(err)
	}
	return dir
}
