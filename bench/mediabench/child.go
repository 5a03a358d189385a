package mediabench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parleyhq/parley/internal/datadir"
	"github.com/parleyhq/parley/mediaproxy"
)

// Child roles.
const (
	// RoleServer runs the media proxy on a data dir (fasthttp or net/http
	// front, caches on or off) and answers CPU queries.
	RoleServer = "server"
	// RoleBare runs bare govips loops on request.
	RoleBare = "bare"
)

// ChildOptions configure a child process (`parley bench mediaproxy
// --role ...`, started by Run).
type ChildOptions struct {
	Role    string
	DataDir string
	// HTTP is "fasthttp" or "nethttp" (server role).
	HTTP string
	// Cache turns the memory and disk caches on (server role).
	Cache bool
	// CPUProfile, when set, receives a CPU profile of the measured phases
	// (from the "prof" command to exit).
	CPUProfile string
}

// The control protocol: the child prints one JSON hello line, then
// answers each command line on stdin with one JSON line on stdout.
//
//	cpu                              → {"cpu_ns": N, "sys_ns": N}   getrusage(RUSAGE_SELF)
//	bare CASE DURATION_NS CONC MINOPS → {"ops": N, "cpu_ns": N, "sys_ns": N, "wall_ns": N}
//	prof                             → {} (starts the CPU profile)
//
// End of stdin stops the child (and writes the profile).
type childReply struct {
	Error      string `json:"error,omitempty"`
	PID        int    `json:"pid,omitempty"`
	Addr       string `json:"addr,omitempty"`
	GOMAXPROCS int    `json:"gomaxprocs,omitempty"`
	CPUns      int64  `json:"cpu_ns,omitempty"`
	SysNs      int64  `json:"sys_ns,omitempty"` // the system-time part of CPUns
	MinFlt     int64  `json:"minflt,omitempty"` // minor page faults
	Ops        int64  `json:"ops,omitempty"`
	WallNs     int64  `json:"wall_ns,omitempty"`
}

// RunChild runs one child process's side of the protocol until in ends.
func RunChild(ctx context.Context, o ChildOptions, in io.Reader, out io.Writer) error {
	if err := mediaproxy.StartVips(); err != nil {
		return err
	}
	enc := json.NewEncoder(out)
	hello := childReply{PID: os.Getpid(), GOMAXPROCS: runtime.GOMAXPROCS(0)}
	var stop func() error
	switch o.Role {
	case RoleServer:
		addr, shutdown, err := startServer(o)
		if err != nil {
			return err
		}
		hello.Addr, stop = addr, shutdown
	case RoleBare:
	default:
		return fmt.Errorf("mediabench: unknown role %q", o.Role)
	}
	if err := enc.Encode(hello); err != nil {
		return err
	}
	profiling := false
	defer func() {
		if profiling {
			pprof.StopCPUProfile()
		}
	}()
	sc := bufio.NewScanner(in)
	for sc.Scan() && ctx.Err() == nil {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		var r childReply
		switch f[0] {
		case "cpu":
			u, sys, flt := selfUsageFaults()
			r.CPUns, r.SysNs, r.MinFlt = int64(u+sys), int64(sys), flt
		case "prof":
			if o.CPUProfile != "" && !profiling {
				pf, err := os.Create(o.CPUProfile)
				if err == nil {
					err = pprof.StartCPUProfile(pf)
				}
				if err != nil {
					r.Error = err.Error()
				} else {
					profiling = true
				}
			}
		case "bare":
			r = runBare(ctx, o.DataDir, f[1:])
		default:
			r.Error = "unknown command " + f[0]
		}
		if err := enc.Encode(r); err != nil {
			return err
		}
	}
	if stop != nil {
		return stop()
	}
	return nil
}

func startServer(o ChildOptions) (string, func() error, error) {
	dd, err := datadir.Open(o.DataDir)
	if err != nil {
		return "", nil, err
	}
	key, err := dd.Key(mediaproxy.KeyName)
	if err != nil {
		return "", nil, err
	}
	st, err := mediaproxy.OpenStore(dd.Join("media"))
	if err != nil {
		return "", nil, err
	}
	c := mediaproxy.DefaultConfig()
	c.Key, c.Store = key, st
	// Production logging level: per-request logs are Debug and stay off.
	c.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	c.Timeout, c.Queue = time.Minute, 64
	if o.Cache {
		c.CacheDir = dd.Join("media-cache-" + o.HTTP)
	} else {
		c.MemCacheBytes, c.CacheDir = 0, ""
	}
	if o.HTTP != "fasthttp" && o.HTTP != "nethttp" {
		return "", nil, fmt.Errorf("mediabench: --http must be fasthttp or nethttp, not %q", o.HTTP)
	}
	// The media server binds its own listener; the net/http front serves
	// the same handler on another one and leaves that one unused.
	s, err := mediaproxy.New(c)
	if err != nil {
		return "", nil, err
	}
	shutdownCtx := func() (context.Context, context.CancelFunc) {
		return context.WithTimeout(context.Background(), 10*time.Second)
	}
	if o.HTTP == "fasthttp" {
		if err := s.Start(context.Background()); err != nil {
			return "", nil, err
		}
		return s.Addr(), func() error {
			ctx, cancel := shutdownCtx()
			defer cancel()
			return s.Close(ctx)
		}, nil
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, errors.Join(err, s.Close(context.Background()))
	}
	hs := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 60 * time.Second}
	done := make(chan error, 1)
	go func() { done <- hs.Serve(ln) }()
	return ln.Addr().String(), func() error {
		ctx, cancel := shutdownCtx()
		defer cancel()
		err := hs.Shutdown(ctx)
		if serr := <-done; !errors.Is(serr, http.ErrServerClosed) && err == nil {
			err = serr
		}
		return errors.Join(err, s.Close(ctx))
	}, nil
}

// runBare runs one bare-loop phase: args are CASE DURATION_NS CONC MINOPS.
func runBare(ctx context.Context, dir string, args []string) childReply {
	if len(args) != 4 {
		return childReply{Error: "bare: want CASE DURATION_NS CONC MINOPS"}
	}
	var c *resizeCase
	for i := range resizeCases {
		if resizeCases[i].name == args[0] {
			c = &resizeCases[i]
		}
	}
	d, err1 := strconv.ParseInt(args[1], 10, 64)
	conc, err2 := strconv.Atoi(args[2])
	minOps, err3 := strconv.Atoi(args[3])
	if c == nil || err1 != nil || err2 != nil || err3 != nil || conc < 1 {
		return childReply{Error: "bare: bad arguments " + strings.Join(args, " ")}
	}
	src, err := os.ReadFile(filepath.Join(dir, "corpus", c.file))
	if err != nil {
		return childReply{Error: err.Error()}
	}
	_, sys0, flt0 := selfUsageFaults()
	n, cpu, wall, err := drive(ctx, conc, time.Duration(d), minOps, func(i int) error {
		_, err := bareOp(src, *c, qualityFor(i))
		return err
	})
	if err != nil {
		return childReply{Error: err.Error()}
	}
	_, sys1, flt1 := selfUsageFaults()
	return childReply{Ops: int64(n), CPUns: int64(cpu), SysNs: int64(sys1 - sys0), MinFlt: flt1 - flt0, WallNs: int64(wall)}
}

// drive runs fn from conc goroutines until d has passed and at least
// minOps calls completed; it returns the count, this process's CPU and
// the wall time. Call i of goroutine g has i ≡ g (mod conc).
func drive(ctx context.Context, conc int, d time.Duration, minOps int, fn func(i int) error) (int, time.Duration, time.Duration, error) {
	var (
		count atomic.Int64
		once  sync.Once
		first error
		wg    sync.WaitGroup
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cpu0, t0 := selfCPU(), time.Now()
	end := t0.Add(d)
	for g := range conc {
		wg.Go(func() {
			for i := g; ctx.Err() == nil && (time.Now().Before(end) || count.Load() < int64(minOps)); i += conc {
				if err := fn(i); err != nil {
					once.Do(func() { first = err })
					cancel()
					return
				}
				count.Add(1)
			}
		})
	}
	wg.Wait()
	return int(count.Load()), selfCPU() - cpu0, time.Since(t0), first
}

// child is the parent's handle on a child process.
type child struct {
	name  string
	cmd   *exec.Cmd
	in    io.WriteCloser
	out   *bufio.Scanner
	hello childReply
}

func startChild(ctx context.Context, o Options, name string, args ...string) (*child, error) {
	cmd := o.Command(ctx, args...)
	cmd.Stderr = o.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	outp, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("mediabench: start %s: %w", name, err)
	}
	c := &child{name: name, cmd: cmd, in: in, out: bufio.NewScanner(outp)}
	if err := c.read(&c.hello); err != nil {
		_ = c.close()
		return nil, err
	}
	return c, nil
}

func (c *child) read(r *childReply) error {
	if !c.out.Scan() {
		if err := c.out.Err(); err != nil {
			return fmt.Errorf("mediabench: %s: %w", c.name, err)
		}
		return fmt.Errorf("mediabench: %s exited", c.name)
	}
	if err := json.Unmarshal(c.out.Bytes(), r); err != nil {
		return fmt.Errorf("mediabench: %s: bad reply %q: %w", c.name, c.out.Text(), err)
	}
	if r.Error != "" {
		return fmt.Errorf("mediabench: %s: %s", c.name, r.Error)
	}
	return nil
}

func (c *child) call(cmd string) (childReply, error) {
	var r childReply
	if _, err := io.WriteString(c.in, cmd+"\n"); err != nil {
		return r, fmt.Errorf("mediabench: %s: %w", c.name, err)
	}
	return r, c.read(&r)
}

func (c *child) cpu() (time.Duration, error) {
	total, _, _, err := c.usage()
	return total, err
}

// usage is the child's total and system CPU and minor faults so far.
func (c *child) usage() (total, sys time.Duration, minflt int64, err error) {
	r, err := c.call("cpu")
	return time.Duration(r.CPUns), time.Duration(r.SysNs), r.MinFlt, err
}

// hwmKiB is the child's peak RSS so far.
func (c *child) hwmKiB() int64 { return procHWM(c.cmd.Process.Pid) }

// close ends stdin and waits for the child to exit.
func (c *child) close() error {
	_ = c.in.Close()
	done := make(chan error, 1)
	go func() { done <- c.cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(30 * time.Second):
		_ = c.cmd.Process.Kill()
		return <-done
	}
}
