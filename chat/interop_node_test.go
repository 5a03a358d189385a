package chat_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// nodeDriver runs a script from interop/node/chat and streams its JSON lines.
type nodeDriver struct {
	t     *testing.T
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan map[string]any
}

func repoRoot(t *testing.T) string {
	wd, _ := os.Getwd()
	return filepath.Dir(wd) // tests run in chat/
}

// startNode starts node on script, or skips (fails under PARLEY_INTEROP=1)
// when node or the npm packages are missing.
func startNode(t *testing.T, script string, env []string, args ...string) *nodeDriver {
	t.Helper()
	root := repoRoot(t)
	missing := ""
	node, err := exec.LookPath("node")
	if err != nil {
		missing = "node not in PATH"
	} else if _, err := os.Stat(filepath.Join(root, "interop/node/node_modules/discord.js/package.json")); err != nil {
		missing = "interop/node/node_modules/discord.js missing (run scripts/deps.sh)"
	}
	if missing != "" {
		if os.Getenv("PARLEY_INTEROP") == "1" {
			t.Fatal(missing)
		}
		t.Skip(missing + "; PARLEY_INTEROP=1 makes this a failure")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	cmd := exec.CommandContext(ctx, node, append([]string{filepath.Join(root, "interop/node/chat", script)}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = &testWriter{t: t, prefix: "node: "}
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	d := &nodeDriver{t: t, cmd: cmd, stdin: stdin, lines: make(chan map[string]any, 64)}
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil {
				d.lines <- m
			} else {
				t.Logf("node stdout: %s", sc.Text())
			}
		}
		close(d.lines)
	}()
	t.Cleanup(func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		cancel()
	})
	return d
}

// expect waits for a line with event == name; error lines fail the test.
func (d *nodeDriver) expect(name string, timeout time.Duration) map[string]any {
	d.t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case m, ok := <-d.lines:
			if !ok {
				d.t.Fatalf("node exited waiting for %q", name)
			}
			if m["event"] == "error" {
				d.t.Fatalf("node error: %v", m)
			}
			if m["event"] == name {
				return m
			}
			d.t.Logf("node: %v", m)
		case <-deadline:
			d.t.Fatalf("timed out waiting for node %q", name)
		}
	}
}

type testWriter struct {
	t      *testing.T
	prefix string
}

func (w *testWriter) Write(p []byte) (int, error) {
	for _, l := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		w.t.Log(w.prefix + l)
	}
	return len(p), nil
}
