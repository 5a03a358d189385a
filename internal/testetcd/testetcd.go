// Package testetcd gives tests a throw-away etcd: Start runs Debian's
// etcd-server (scripts/deps.sh installs it) on loopback ports in a
// temporary directory and stops it when the test ends, so no process
// outlives its test. Without an etcd binary the test is skipped; under
// PARLEY_INTEROP=1 it fails, as the other kits do. A Proxy in front of the
// server lets a test cut one client's connection (a partition) while the
// others keep theirs.
package testetcd

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/parleyhq/parley/internal/testkit"
)

// Server is a running etcd.
type Server struct {
	// Endpoint is the client URL's host:port.
	Endpoint string
	cmd      *exec.Cmd
	log      *testkit.SyncBuffer
}

// binary finds etcd: PARLEY_ETCD names it, else PATH and /usr/bin.
func binary() (string, error) {
	if p := os.Getenv("PARLEY_ETCD"); p != "" {
		return p, nil
	}
	if p, err := exec.LookPath("etcd"); err == nil {
		return p, nil
	}
	if _, err := os.Stat("/usr/bin/etcd"); err == nil {
		return "/usr/bin/etcd", nil
	}
	return "", exec.ErrNotFound
}

// freePorts returns n loopback ports that were free a moment ago.
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	var ls []net.Listener
	var out []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		_ = l.Close()
	}
	return out
}

// Start runs an etcd for t and stops it (SIGKILL, then the wait) in t's
// cleanup. It skips t when etcd is not installed, or fails it under
// PARLEY_INTEROP=1. A port taken between choosing it and etcd binding it
// is retried.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := binary()
	if err != nil {
		if os.Getenv("PARLEY_INTEROP") == "1" {
			t.Fatal("etcd not installed (scripts/deps.sh installs etcd-server)")
		}
		t.Skip("etcd not installed (scripts/deps.sh installs etcd-server); PARLEY_INTEROP=1 makes this a failure")
	}
	var last error
	for range 3 {
		s, err := start(t, bin)
		if err == nil {
			return s
		}
		last = err
	}
	t.Fatalf("testetcd: %v", last)
	return nil
}

func start(t testing.TB, bin string) (*Server, error) {
	dir, err := os.MkdirTemp("", "parley-etcd-")
	if err != nil {
		return nil, err
	}
	ports := freePorts(t, 2)
	client := fmt.Sprintf("http://127.0.0.1:%d", ports[0])
	peer := fmt.Sprintf("http://127.0.0.1:%d", ports[1])
	log := &testkit.SyncBuffer{}
	cmd := exec.Command(bin,
		"--name", "test", "--data-dir", filepath.Join(dir, "data"),
		"--listen-client-urls", client, "--advertise-client-urls", client,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		"--initial-cluster", "test="+peer, "--initial-cluster-state", "new",
		// A lone member elects itself at once; short ticks keep the
		// minimum lease TTL (1.5 election timeouts) near one second.
		"--heartbeat-interval", "50", "--election-timeout", "500",
		"--log-level", "warn", "--logger", "zap")
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // never outlives the test binary
	if err := cmd.Start(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }() // owned by stop below
	stop := func() {
		_ = cmd.Process.Kill()
		<-exited
		_ = os.RemoveAll(dir)
	}
	deadline := time.Now().Add(10 * time.Second)
	hc := &http.Client{Timeout: time.Second}
	for {
		select {
		case <-exited:
			stop()
			return nil, fmt.Errorf("etcd exited: %s", log.String())
		default:
		}
		if resp, err := hc.Get(client + "/health"); err == nil {
			ok := resp.StatusCode == http.StatusOK
			_ = resp.Body.Close()
			if ok {
				break
			}
		}
		if time.Now().After(deadline) {
			stop()
			return nil, fmt.Errorf("etcd not healthy after 10 s: %s", log.String())
		}
		time.Sleep(20 * time.Millisecond) // polling a child process's readiness, not test synchronisation
	}
	hc.CloseIdleConnections()
	t.Cleanup(stop)
	return &Server{Endpoint: fmt.Sprintf("127.0.0.1:%d", ports[0]), log: log}, nil
}

// Proxy is a TCP relay in front of a Server: a client given Proxy.Endpoint
// can be partitioned from etcd with Cut (every relayed connection closed,
// new ones refused) and reconnected with Heal.
type Proxy struct {
	// Endpoint is the relay's host:port.
	Endpoint string
	*testkit.TCPProxy
}

// NewProxy starts a relay to s, closed (and waited for) in t's cleanup.
func (s *Server) NewProxy(t testing.TB) *Proxy {
	t.Helper()
	p := testkit.NewTCPProxy(t, s.Endpoint)
	return &Proxy{Endpoint: p.Addr(), TCPProxy: p}
}

// Logs returns what etcd printed (for a failing test's message).
func (s *Server) Logs() string { return s.log.String() }
