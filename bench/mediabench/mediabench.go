// Package mediabench measures the media proxy fairly
// (shared/docs/performance.md §8): the proxy under test and a bare govips
// loop doing the same libvips work each run in a child process of the same
// binary, and each child reports its own CPU from getrusage(RUSAGE_SELF), so
// the load generator's CPU is never counted against the server.
//
// Resize: for every case, proxy and bare-loop phases alternate A B A B …
// (Reps repetitions of Duration each, themselves alternating in Slice-long
// turns); the report gives CPU ms per image for both and the median
// proxy/bare ratio with its min–max over the repetitions.
//
// Cache hits: a fasthttp and a net/http child serve the same handler with
// caches on; a lean generator in this process (raw TCP, keep-alive
// connections, HTTP/1.1 pipelining, prebuilt requests, responses counted
// without allocating) alternates between them. The report gives req/s,
// server CPU µs per request and the generator's own CPU µs per request.
//
// Peak RSS is each child's VmHWM from /proc/PID/status.
//
// Usage (the children are the same binary with --role):
//
//	parley bench mediaproxy --duration 2s [--reps 5] [--json]
//	parley bench mediaproxy --cases jpeg2560_to_jpeg500 --cpuprofile /tmp/mp
//	go tool pprof -top parley /tmp/mp-resize.pprof   # also -bare, -hit-fasthttp, -hit-nethttp
//	parley bench mediaproxy --cases avatar128_webp,thumb500_webp --hit-depth 1 --hit-conns 64
package mediabench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parleyhq/parley/internal/datadir"
	"github.com/parleyhq/parley/mediaproxy"
)

// Options configure a run.
type Options struct {
	// Duration is the measuring time of each phase (one repetition).
	Duration time.Duration
	// Reps is the number of A/B repetitions per case.
	Reps int
	// Slice is the unit of resize alternation: each repetition runs
	// Duration/Slice proxy slices, each followed by a bare-loop slice.
	Slice time.Duration
	// Concurrency is the number of clients in resize phases (and of
	// goroutines in the bare loop).
	Concurrency int
	// HitConns and HitDepth shape the cache-hit generator: keep-alive
	// connections, each with HitDepth pipelined requests in flight.
	HitConns, HitDepth int
	// GenProcs is this process's GOMAXPROCS during cache-hit phases.
	GenProcs int
	// Cases selects cases by name (resize and hit); empty = all.
	Cases []string
	// CPUProfile, when set, is a path prefix: each child writes
	// PREFIX-NAME.pprof covering its measured phases.
	CPUProfile string
	// Command builds the command line of a child: the same binary with
	// args appended to the subcommand that leads to RunChild.
	Command func(ctx context.Context, args ...string) *exec.Cmd
	// Stderr receives the children's stderr (default os.Stderr).
	Stderr io.Writer
}

// ResizeCase is one resize workload, proxy vs bare loop.
type ResizeCase struct {
	Name string `json:"name"`
	// ProxyCPUms is the proxy child's CPU per image, per repetition.
	ProxyCPUms Summary `json:"proxy_cpu_ms_per_image"`
	// BareCPUms is the bare-loop child's CPU per image.
	BareCPUms Summary `json:"bare_cpu_ms_per_image"`
	// ProxySysMs and BareSysMs are the system-time parts (I/O, page faults).
	ProxySysMs Summary `json:"proxy_sys_ms_per_image"`
	BareSysMs  Summary `json:"bare_sys_ms_per_image"`
	// ProxyFaults and BareFaults are minor page faults per image.
	ProxyFaults float64 `json:"proxy_minor_faults_per_image"`
	BareFaults  float64 `json:"bare_minor_faults_per_image"`
	// Ratio is ProxyCPUms / BareCPUms of each A/B pair.
	Ratio         Summary `json:"proxy_over_bare_cpu"`
	ProxyImages   int     `json:"proxy_images"`
	BareImages    int     `json:"bare_images"`
	ProxyPerSec   Summary `json:"proxy_images_per_s"`
	P50ms         float64 `json:"proxy_p50_ms"`
	P99ms         float64 `json:"proxy_p99_ms"`
	OutputBytes   int     `json:"output_bytes"`
	ClientCPUms   float64 `json:"client_cpu_ms_per_image"`
	ProxyCPUTotal float64 `json:"proxy_cpu_s_total"`
}

// HitServer is one front's cache-hit figures.
type HitServer struct {
	HTTP      string  `json:"http"`
	ReqPerSec Summary `json:"req_per_s"`
	// ServerCPUus is the server child's CPU per response.
	ServerCPUus Summary `json:"server_cpu_us_per_req"`
	// GenCPUus is the generator's CPU per response (this process).
	GenCPUus  Summary `json:"generator_cpu_us_per_req"`
	Responses int64   `json:"responses"`
	// CoresFor50k is the server CPU needed for 50k req/s, in cores.
	CoresFor50k float64 `json:"server_cores_for_50k_req_per_s"`
}

// HitCase is one cache-hit workload on both fronts.
type HitCase struct {
	Name      string      `json:"name"`
	BodyBytes int64       `json:"body_bytes"`
	Servers   []HitServer `json:"servers"`
	// NetOverFast is net/http server CPU / fasthttp server CPU per
	// request, per repetition pair.
	NetOverFast Summary `json:"nethttp_over_fasthttp_cpu"`
}

// ProcRSS is one child's peak resident set.
type ProcRSS struct {
	Child  string  `json:"child"`
	HWMMiB float64 `json:"vmhwm_mib"`
}

// Report is the bench result.
type Report struct {
	Env              Env          `json:"env"`
	Method           string       `json:"method"`
	Reps             int          `json:"reps"`
	DurationPerPhase string       `json:"duration_per_phase"`
	Slice            string       `json:"resize_slice"`
	Concurrency      int          `json:"resize_concurrency"`
	HitConns         int          `json:"hit_connections"`
	HitDepth         int          `json:"hit_pipeline_depth"`
	Resize           []ResizeCase `json:"resize"`
	Hits             []HitCase    `json:"cache_hits"`
	PeakRSS          []ProcRSS    `json:"peak_rss"`
}

const method = "proxy and bare loop in child processes of the same binary; CPU from each child's getrusage(RUSAGE_SELF) at phase edges; " +
	"A/B interleaved (resize in short slices within each repetition); cache hits from a raw-TCP pipelined generator in the parent (its CPU reported separately)"

func (o *Options) defaults() error {
	if o.Duration <= 0 {
		o.Duration = 2 * time.Second
	}
	if o.Reps <= 0 {
		o.Reps = 5
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 1
	}
	if o.Slice <= 0 || o.Slice > o.Duration {
		o.Slice = min(250*time.Millisecond, o.Duration)
	}
	if o.HitConns <= 0 {
		o.HitConns = 16
	}
	if o.HitDepth <= 0 {
		o.HitDepth = 4
	}
	if o.GenProcs <= 0 {
		o.GenProcs = 1
	}
	if o.Stderr == nil {
		o.Stderr = os.Stderr
	}
	if o.Command == nil {
		return fmt.Errorf("mediabench: Options.Command is required")
	}
	return nil
}

func (o *Options) selected(name string) bool {
	return len(o.Cases) == 0 || slices.Contains(o.Cases, name)
}

// Run executes every selected phase.
func Run(ctx context.Context, o Options) (*Report, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	rep := &Report{Env: hostEnv(), Method: method, Reps: o.Reps, DurationPerPhase: o.Duration.String(), Slice: o.Slice.String(),
		Concurrency: o.Concurrency, HitConns: o.HitConns, HitDepth: o.HitDepth}
	rep.Env.GenProcs = o.GenProcs
	corpus, err := MakeCorpus()
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "mediabench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	paths, err := prepareDataDir(tmp, corpus)
	if err != nil {
		return nil, err
	}
	childArgs := func(role string, extra ...string) []string {
		return append([]string{"--role=" + role, "--data-dir=" + tmp}, extra...)
	}
	prof := func(name string) string {
		if o.CPUProfile == "" {
			return "--cpuprofile="
		}
		return "--cpuprofile=" + o.CPUProfile + "-" + name + ".pprof"
	}

	var resize []resizeCase
	for _, c := range resizeCases {
		if o.selected(c.name) {
			resize = append(resize, c)
		}
	}
	if len(resize) > 0 {
		srv, err := startChild(ctx, o, "resize-server", childArgs(RoleServer, "--http=fasthttp", "--cache=false", prof("resize"))...)
		if err != nil {
			return nil, err
		}
		bare, err := startChild(ctx, o, "bare", childArgs(RoleBare, prof("bare"))...)
		if err != nil {
			_ = srv.close()
			return nil, err
		}
		rep.Env.ServerProcs = srv.hello.GOMAXPROCS
		err = runResize(ctx, o, rep, srv, bare, resize, paths)
		rep.PeakRSS = append(rep.PeakRSS, rssOf(srv), rssOf(bare))
		_, _ = srv.close(), bare.close()
		if err != nil {
			return nil, err
		}
	}

	var hits []hitCase
	for _, c := range hitCases {
		if o.selected(c.name) {
			hits = append(hits, c)
		}
	}
	if len(hits) > 0 {
		fast, err := startChild(ctx, o, "fasthttp-server", childArgs(RoleServer, "--http=fasthttp", "--cache=true", prof("hit-fasthttp"))...)
		if err != nil {
			return nil, err
		}
		nethttp, err := startChild(ctx, o, "nethttp-server", childArgs(RoleServer, "--http=nethttp", "--cache=true", prof("hit-nethttp"))...)
		if err != nil {
			_ = fast.close()
			return nil, err
		}
		rep.Env.ServerProcs = fast.hello.GOMAXPROCS
		err = runHitCases(ctx, o, rep, []*child{fast, nethttp}, hits, paths)
		rep.PeakRSS = append(rep.PeakRSS, rssOf(fast), rssOf(nethttp))
		_, _ = fast.close(), nethttp.close()
		if err != nil {
			return nil, err
		}
	}
	return rep, nil
}

func rssOf(c *child) ProcRSS {
	return ProcRSS{Child: c.name, HWMMiB: float64(c.hwmKiB()) / 1024}
}

// prepareDataDir lays out a Parley data dir: the media key, the corpus
// stored as attachments in channel 1, and the raw corpus files for the
// bare loop. It returns the signed path of each corpus file.
func prepareDataDir(dir string, corpus Corpus) (map[string]string, error) {
	dd, err := datadir.Open(dir)
	if err != nil {
		return nil, err
	}
	key, err := dd.Key(mediaproxy.KeyName)
	if err != nil {
		return nil, err
	}
	signer, err := mediaproxy.NewSigner(key)
	if err != nil {
		return nil, err
	}
	st, err := mediaproxy.OpenStore(dd.Join("media"))
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(dir, "corpus"), 0o700); err != nil {
		return nil, err
	}
	paths := map[string]string{}
	now := time.Now()
	for name, b := range corpus.files() {
		if err := os.WriteFile(filepath.Join(dir, "corpus", name), b, 0o600); err != nil {
			return nil, err
		}
		a, err := st.Put("1", name, b, mediaproxy.DefaultLimits(), now)
		if err != nil {
			return nil, err
		}
		paths[name] = signer.SignAttachment(a.ChannelID, a.ID, a.Filename, now, 24*time.Hour)
	}
	return paths, nil
}

// runResize alternates proxy (A) and bare (B) phases for each case.
func runResize(ctx context.Context, o Options, rep *Report, srv, bare *child, cases []resizeCase, paths map[string]string) error {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: o.Concurrency + 2}}
	defer client.CloseIdleConnections()
	base := "http://" + srv.hello.Addr
	profiling := false
	for _, c := range cases {
		url := base + paths[c.file] + "&" + c.query + "&quality="
		var outBytes atomic.Int64
		get := func(i int) error {
			resp, err := client.Get(url + strconv.Itoa(qualityFor(i)))
			if err != nil {
				return err
			}
			n, _ := io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("mediabench: %s: proxy answered %d", c.name, resp.StatusCode)
			}
			outBytes.Store(n)
			return nil
		}
		// Warm both sides (first-use costs, page cache, libvips init).
		if err := get(0); err != nil {
			return err
		}
		if _, err := bare.call(fmt.Sprintf("bare %s %d 1 1", c.name, 0)); err != nil {
			return err
		}
		if !profiling {
			for _, c := range []*child{srv, bare} {
				if _, err := c.call("prof"); err != nil {
					return err
				}
			}
			profiling = true
		}
		rc := ResizeCase{Name: c.name}
		var pcpu, bcpu, psys, bsys, ratio, rate []float64
		var lat []time.Duration
		var clientCPU time.Duration
		var pflt, bflt int64
		var mu sync.Mutex
		timedGet := func(i int) error {
			t := time.Now()
			err := get(i)
			mu.Lock()
			lat = append(lat, time.Since(t))
			mu.Unlock()
			return err
		}
		nSlices := max(1, int(o.Duration/o.Slice))
		for range o.Reps {
			// One repetition: Duration of proxy (A) and of bare loop (B),
			// alternating in slices so that load changes on the host
			// (other tenants) hit both sides alike.
			var pn, bn int64
			var pc, ps, bc, bs, pwall time.Duration
			for range nSlices {
				s0, sys0, f0, err := srv.usage()
				if err != nil {
					return err
				}
				g0 := selfCPU()
				n, _, wall, err := drive(ctx, o.Concurrency, o.Slice, 1, timedGet)
				clientCPU += selfCPU() - g0
				if err != nil {
					return err
				}
				s1, sys1, f1, err := srv.usage()
				if err != nil {
					return err
				}
				pn, pc, ps, pwall = pn+int64(n), pc+s1-s0, ps+sys1-sys0, pwall+wall
				pflt += f1 - f0
				r, err := bare.call(fmt.Sprintf("bare %s %d %d 1", c.name, o.Slice, o.Concurrency))
				if err != nil {
					return err
				}
				bn, bc, bs = bn+r.Ops, bc+time.Duration(r.CPUns), bs+time.Duration(r.SysNs)
				bflt += r.MinFlt
			}
			perImage := func(d time.Duration, n int64) float64 { return float64(d) / float64(time.Millisecond) / float64(n) }
			p, b := perImage(pc, pn), perImage(bc, bn)
			pcpu, bcpu, ratio = append(pcpu, p), append(bcpu, b), append(ratio, p/b)
			psys, bsys = append(psys, perImage(ps, pn)), append(bsys, perImage(bs, bn))
			rate = append(rate, float64(pn)/pwall.Seconds())
			rc.ProxyImages += int(pn)
			rc.BareImages += int(bn)
			rc.ProxyCPUTotal += pc.Seconds()
		}
		rc.ProxyCPUms, rc.BareCPUms, rc.Ratio, rc.ProxyPerSec = summarize(pcpu), summarize(bcpu), summarize(ratio), summarize(rate)
		rc.ProxySysMs, rc.BareSysMs = summarize(psys), summarize(bsys)
		rc.ProxyFaults = float64(pflt) / float64(max(rc.ProxyImages, 1))
		rc.BareFaults = float64(bflt) / float64(max(rc.BareImages, 1))
		rc.P50ms, rc.P99ms = pct(lat, 0.50), pct(lat, 0.99)
		rc.OutputBytes = int(outBytes.Load())
		rc.ClientCPUms = float64(clientCPU) / float64(time.Millisecond) / float64(max(rc.ProxyImages, 1))
		rep.Resize = append(rep.Resize, rc)
	}
	return nil
}

// runHitCases alternates the fronts (A B A B …) on each cache-hit case.
func runHitCases(ctx context.Context, o Options, rep *Report, servers []*child, cases []hitCase, paths map[string]string) error {
	prev := runtime.GOMAXPROCS(o.GenProcs)
	defer runtime.GOMAXPROCS(prev)
	httpOf := func(c *child) string { return strings.TrimSuffix(c.name, "-server") }
	for _, srv := range servers {
		// Warm: the first request of each case is a miss that fills the
		// cache; check a second one hits.
		for _, c := range cases {
			for range 2 {
				if _, err := runHits(ctx, srv.hello.Addr, hitRequest(srv.hello.Addr, paths[c.file]+"&"+c.query), 1, 1, 0, srv); err != nil {
					return fmt.Errorf("mediabench: warming %s on %s: %w", c.name, srv.name, err)
				}
			}
		}
		if _, err := srv.call("prof"); err != nil {
			return err
		}
	}
	for _, c := range cases {
		hc := HitCase{Name: c.name}
		rate := make([][]float64, len(servers))
		scpu := make([][]float64, len(servers))
		gcpu := make([][]float64, len(servers))
		resp := make([]int64, len(servers))
		for range o.Reps {
			for i, srv := range servers {
				l, err := runHits(ctx, srv.hello.Addr, hitRequest(srv.hello.Addr, paths[c.file]+"&"+c.query), o.HitConns, o.HitDepth, o.Duration, srv)
				if err != nil {
					return fmt.Errorf("mediabench: %s on %s: %w", c.name, srv.name, err)
				}
				n := float64(max(l.responses, 1))
				rate[i] = append(rate[i], float64(l.responses)/l.wall.Seconds())
				scpu[i] = append(scpu[i], float64(l.serverCPU)/float64(time.Microsecond)/n)
				gcpu[i] = append(gcpu[i], float64(l.genCPU)/float64(time.Microsecond)/n)
				resp[i] += l.responses
				hc.BodyBytes = l.bodyBytes
			}
		}
		for i, srv := range servers {
			hs := HitServer{HTTP: httpOf(srv), ReqPerSec: summarize(rate[i]), ServerCPUus: summarize(scpu[i]), GenCPUus: summarize(gcpu[i]), Responses: resp[i]}
			hs.CoresFor50k = hs.ServerCPUus.Median * 50_000 / 1e6
			hc.Servers = append(hc.Servers, hs)
		}
		if len(servers) == 2 {
			r := make([]float64, len(scpu[0]))
			for k := range r {
				r[k] = scpu[1][k] / scpu[0][k]
			}
			hc.NetOverFast = summarize(r)
		}
		rep.Hits = append(rep.Hits, hc)
	}
	return nil
}

func pct(l []time.Duration, p float64) float64 {
	if len(l) == 0 {
		return 0
	}
	slices.Sort(l)
	return float64(l[min(len(l)-1, int(p*float64(len(l))))].Microseconds()) / 1000
}

// Text renders the report for humans.
func (r *Report) Text(w io.Writer) {
	e := r.Env
	fmt.Fprintf(w, "media proxy bench — %s\n", r.Method)
	fmt.Fprintf(w, "host: %s, %d CPUs, kernel %s, %s, loadavg %s; server GOMAXPROCS=%d, generator GOMAXPROCS=%d\n",
		e.CPUModel, e.NumCPU, e.Kernel, e.GoVersion, e.LoadAvg, e.ServerProcs, e.GenProcs)
	fmt.Fprintf(w, "%d reps × %s per phase (resize alternates in %s slices)\n", r.Reps, r.DurationPerPhase, r.Slice)
	if len(r.Resize) > 0 {
		fmt.Fprintf(w, "\nresize, concurrency %d: CPU ms per image, median [min–max]\n", r.Concurrency)
		fmt.Fprintf(w, "%-25s %-22s %-22s %-20s %9s %7s %7s %7s\n", "case", "proxy", "bare loop", "ratio", "sys p/b", "img/s", "p50 ms", "p99 ms")
		for _, c := range r.Resize {
			fmt.Fprintf(w, "%-25s %-22s %-22s %-20s %4.1f/%-4.1f %7.1f %7.1f %7.1f\n", c.Name, span(c.ProxyCPUms, "%.1f"), span(c.BareCPUms, "%.1f"),
				span(c.Ratio, "%.3f"), c.ProxySysMs.Median, c.BareSysMs.Median, c.ProxyPerSec.Median, c.P50ms, c.P99ms)
		}
	}
	if len(r.Hits) > 0 {
		fmt.Fprintf(w, "\ncache hits, %d connections × %d pipelined: median [min–max]\n", r.HitConns, r.HitDepth)
		fmt.Fprintf(w, "%-16s %7s %-9s %-26s %-22s %-18s %s\n", "case", "bytes", "front", "req/s", "server µs/req", "generator µs/req", "cores for 50k/s")
		for _, c := range r.Hits {
			for _, s := range c.Servers {
				fmt.Fprintf(w, "%-16s %7d %-9s %-26s %-22s %-18s %.2f\n", c.Name, c.BodyBytes, s.HTTP, span(s.ReqPerSec, "%.0f"),
					span(s.ServerCPUus, "%.1f"), span(s.GenCPUus, "%.1f"), s.CoresFor50k)
			}
			fmt.Fprintf(w, "%-16s net/http ÷ fasthttp server CPU: %s\n", c.Name, span(c.NetOverFast, "%.2f"))
		}
	}
	if len(r.PeakRSS) > 0 {
		fmt.Fprintf(w, "\npeak RSS (VmHWM):")
		for _, p := range r.PeakRSS {
			fmt.Fprintf(w, " %s %.0f MiB;", p.Child, p.HWMMiB)
		}
		fmt.Fprintln(w)
	}
}

func span(s Summary, f string) string {
	return fmt.Sprintf(f+" ["+f+"–"+f+"]", s.Median, s.Min, s.Max)
}
