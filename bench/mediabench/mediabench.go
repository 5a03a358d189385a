// Package mediabench measures the media proxy against a bare govips loop
// doing the same work in the same run, and compares cache-hit throughput of
// the same handler on fasthttp and net/http.
//
// Everything runs in one process (server, load generator and bare loop);
// CPU comes from getrusage(RUSAGE_SELF), so "proxy CPU per request"
// includes the in-process client. Ratios are the point, not absolutes
// (shared/docs/performance.md §8).
package mediabench

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/color/palette"
	"image/gif"
	"image/jpeg"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/davidbyttow/govips/v2/vips"
	"github.com/parleyhq/parley/mediaproxy"
	"github.com/valyala/fasthttp"
)

// Options configure a run.
type Options struct {
	// Duration is the measuring time of each phase.
	Duration time.Duration
	// Concurrency is the number of client goroutines for resize phases.
	Concurrency int
	// HitConcurrency is the number of clients for cache-hit phases.
	HitConcurrency int
	Log            *slog.Logger
}

// Case is one resize workload measured through the proxy and bare.
type Case struct {
	Name         string  `json:"name"`
	Requests     int     `json:"requests"`
	ImagesPerSec float64 `json:"images_per_s"`
	CPUms        float64 `json:"cpu_ms_per_request"`
	P50ms        float64 `json:"p50_ms"`
	P99ms        float64 `json:"p99_ms"`
	BareOps      int     `json:"bare_ops"`
	BareCPUms    float64 `json:"bare_cpu_ms_per_op"`
	Ratio        float64 `json:"proxy_over_bare_cpu"`
}

// Report is the bench result.
type Report struct {
	Cases           []Case  `json:"cases"`
	HitFastHTTP     float64 `json:"cache_hit_req_per_s_fasthttp"`
	HitNetHTTP      float64 `json:"cache_hit_req_per_s_nethttp"`
	HitFastCPUus    float64 `json:"cache_hit_cpu_us_fasthttp"`
	HitNetCPUus     float64 `json:"cache_hit_cpu_us_nethttp"`
	PeakRSSMiB      int64   `json:"peak_rss_mib"`
	GOMAXPROCS      int     `json:"gomaxprocs"`
	DurationPerStep string  `json:"duration_per_phase"`
}

func cpuNow() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func peakRSS() int64 {
	b, _ := os.ReadFile("/proc/self/status")
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			n, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			return n >> 10
		}
	}
	return 0
}

// Corpus is the generated input set.
type Corpus struct {
	Photo    []byte // 2560×1600 JPEG
	Animated []byte // animated GIF
}

// MakeCorpus generates the inputs deterministically.
func MakeCorpus() (Corpus, error) {
	const w, h = 2560, 1600
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	r := rand.New(rand.NewPCG(1, 2))
	for y := range h {
		for x := range w {
			n := uint8(r.IntN(24))
			img.Set(x, y, color.RGBA{uint8(x*255/w) + n, uint8(y*255/h) + n, uint8((x+y)*255/(w+h)) + n, 255})
		}
	}
	var jb bytes.Buffer
	if err := jpeg.Encode(&jb, img, &jpeg.Options{Quality: 88}); err != nil {
		return Corpus{}, err
	}
	g := &gif.GIF{}
	for i := range 8 {
		fr := image.NewPaletted(image.Rect(0, 0, 480, 360), palette.Plan9)
		for y := range 360 {
			for x := range 480 {
				fr.Set(x, y, color.RGBA{uint8(x + i*30), uint8(y), uint8(i * 30), 255})
			}
		}
		g.Image = append(g.Image, fr)
		g.Delay = append(g.Delay, 10)
	}
	var gb bytes.Buffer
	if err := gif.EncodeAll(&gb, g); err != nil {
		return Corpus{}, err
	}
	return Corpus{Photo: jb.Bytes(), Animated: gb.Bytes()}, nil
}

type workload struct {
	name  string
	src   []byte
	query string
	bare  func(src []byte) error
}

// Run executes every phase.
func Run(ctx context.Context, o Options) (*Report, error) {
	if o.Duration <= 0 {
		o.Duration = 3 * time.Second
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 2
	}
	if o.HitConcurrency <= 0 {
		o.HitConcurrency = 32
	}
	if o.Log == nil {
		o.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if err := mediaproxy.StartVips(); err != nil {
		return nil, err
	}
	corpus, err := MakeCorpus()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "mediabench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	st, err := mediaproxy.OpenStore(dir)
	if err != nil {
		return nil, err
	}
	key := bytes.Repeat([]byte{9}, 32)
	newServer := func(cache bool) (*mediaproxy.Server, error) {
		c := mediaproxy.DefaultConfig()
		c.Key, c.Store, c.Log, c.Timeout = key, st, o.Log, time.Minute
		c.Queue = 64
		if !cache {
			c.MemCacheBytes, c.CacheDir = 0, ""
		}
		return mediaproxy.New(c)
	}
	cold, err := newServer(false)
	if err != nil {
		return nil, err
	}
	addr, err := cold.Listen()
	if err != nil {
		return nil, err
	}
	defer cold.Shutdown(context.Background())
	put := func(name string, b []byte) (string, error) {
		a, err := st.Put("1", name, b, mediaproxy.DefaultLimits(), time.Now())
		if err != nil {
			return "", err
		}
		return cold.Signer().SignAttachment("1", a.ID, a.Filename, time.Now(), 24*time.Hour), nil
	}
	photo, err := put("photo.jpg", corpus.Photo)
	if err != nil {
		return nil, err
	}
	anim, err := put("anim.gif", corpus.Animated)
	if err != nil {
		return nil, err
	}
	bare := func(f mediaproxy.Format, animated bool) func([]byte) error {
		return func(src []byte) error {
			p := vips.NewImportParams()
			if animated {
				p.NumPages.Set(-1)
			}
			img, err := vips.LoadThumbnailFromBuffer(src, 500, 10_000_000, vips.InterestingNone, vips.SizeDown, p)
			if err != nil {
				return err
			}
			defer img.Close()
			switch f {
			case mediaproxy.FormatWebP:
				e := vips.NewWebpExportParams()
				e.Quality, e.StripMetadata = 80, true
				_, _, err = img.ExportWebp(e)
			case mediaproxy.FormatJPEG:
				e := vips.NewJpegExportParams()
				e.Quality, e.StripMetadata, e.Interlace = 80, true, false
				_, _, err = img.ExportJpeg(e)
			case mediaproxy.FormatAVIF:
				e := vips.NewAvifExportParams()
				e.Quality, e.StripMetadata, e.Effort = 80, true, 2
				_, _, err = img.ExportAvif(e)
			}
			return err
		}
	}
	works := []workload{
		{"jpeg2560_to_webp500", corpus.Photo, photo + "&width=500&format=webp", bare(mediaproxy.FormatWebP, false)},
		{"jpeg2560_to_jpeg500", corpus.Photo, photo + "&width=500&format=jpeg", bare(mediaproxy.FormatJPEG, false)},
		{"jpeg2560_to_avif500", corpus.Photo, photo + "&width=500&format=avif", bare(mediaproxy.FormatAVIF, false)},
		{"gif_to_animated_webp500", corpus.Animated, anim + "&width=500&format=webp&animated=true", bare(mediaproxy.FormatWebP, true)},
	}
	rep := &Report{GOMAXPROCS: runtimeProcs(), DurationPerStep: o.Duration.String()}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	for _, w := range works {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		c := Case{Name: w.name}
		// Proxy: caches are off, and client g asks for quality 80-g%2 so
		// the two default clients never coalesce: every request is a job.
		lat, n, cpu, wall, err := drive(ctx, o.Concurrency, o.Duration, func(i int) error {
			resp, err := client.Get("http://" + addr + w.query + "&quality=" + strconv.Itoa(80-i%2))
			if err != nil {
				return err
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				return fmt.Errorf("%s: status %d", w.name, resp.StatusCode)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		c.Requests, c.ImagesPerSec = n, float64(n)/wall.Seconds()
		c.CPUms = float64(cpu.Microseconds()) / 1000 / float64(max(n, 1))
		c.P50ms, c.P99ms = pct(lat, 0.50), pct(lat, 0.99)
		_, bn, bcpu, _, err := drive(ctx, o.Concurrency, o.Duration, func(int) error { return w.bare(w.src) })
		if err != nil {
			return nil, err
		}
		c.BareOps = bn
		c.BareCPUms = float64(bcpu.Microseconds()) / 1000 / float64(max(bn, 1))
		if c.BareCPUms > 0 {
			c.Ratio = c.CPUms / c.BareCPUms
		}
		rep.Cases = append(rep.Cases, c)
	}
	// Cache hits: fasthttp front vs the same handler on net/http.
	hot, err := newServer(true)
	if err != nil {
		return nil, err
	}
	haddr, err := hot.Listen()
	if err != nil {
		return nil, err
	}
	defer hot.Shutdown(context.Background())
	nl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	nsrv := &http.Server{Handler: hot}
	go nsrv.Serve(nl)
	defer nsrv.Close()
	hitPath := photo + "&width=500&format=webp"
	for _, target := range []struct {
		addr string
		out  *float64
		cpu  *float64
	}{{haddr, &rep.HitFastHTTP, &rep.HitFastCPUus}, {nl.Addr().String(), &rep.HitNetHTTP, &rep.HitNetCPUus}} {
		hc := &fasthttp.HostClient{Addr: target.addr, MaxConns: o.HitConcurrency * 2}
		uri := "http://" + target.addr + hitPath
		get := func(int) error {
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			req.SetRequestURI(uri)
			if err := hc.Do(req, resp); err != nil {
				return err
			}
			if resp.StatusCode() != 200 {
				return fmt.Errorf("cache hit: status %d", resp.StatusCode())
			}
			return nil
		}
		if err := get(0); err != nil { // warm
			return nil, err
		}
		_, n, cpu, wall, err := drive(ctx, o.HitConcurrency, o.Duration, get)
		if err != nil {
			return nil, err
		}
		*target.out = float64(n) / wall.Seconds()
		*target.cpu = float64(cpu.Microseconds()) / float64(max(n, 1))
	}
	rep.PeakRSSMiB = peakRSS()
	return rep, nil
}

// drive runs fn from conc goroutines for d and returns latencies, count,
// process CPU and wall time.
func drive(ctx context.Context, conc int, d time.Duration, fn func(i int) error) ([]time.Duration, int, time.Duration, time.Duration, error) {
	var (
		mu    sync.Mutex
		lats  []time.Duration
		count atomic.Int64
		first error
		wg    sync.WaitGroup
	)
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	cpu0, t0 := cpuNow(), time.Now()
	for g := range conc {
		wg.Go(func() {
			local := make([]time.Duration, 0, 1024)
			for i := g; ctx.Err() == nil; i += conc {
				s := time.Now()
				if err := fn(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					cancel()
					return
				}
				local = append(local, time.Since(s))
				count.Add(1)
			}
			mu.Lock()
			lats = append(lats, local...)
			mu.Unlock()
		})
	}
	wg.Wait()
	return lats, int(count.Load()), cpuNow() - cpu0, time.Since(t0), first
}

func pct(l []time.Duration, p float64) float64 {
	if len(l) == 0 {
		return 0
	}
	sort.Slice(l, func(i, j int) bool { return l[i] < l[j] })
	return float64(l[min(len(l)-1, int(p*float64(len(l))))].Microseconds()) / 1000
}

// Text renders the report for humans.
func (r *Report) Text(w io.Writer) {
	fmt.Fprintf(w, "media proxy bench (GOMAXPROCS=%d, %s per phase, in-process client)\n", r.GOMAXPROCS, r.DurationPerStep)
	fmt.Fprintf(w, "%-26s %8s %9s %9s %8s %8s %11s %7s\n", "case", "img/s", "cpu ms", "p50 ms", "p99 ms", "reqs", "bare cpu ms", "ratio")
	for _, c := range r.Cases {
		fmt.Fprintf(w, "%-26s %8.1f %9.1f %9.1f %8.1f %8d %11.1f %7.2f\n", c.Name, c.ImagesPerSec, c.CPUms, c.P50ms, c.P99ms, c.Requests, c.BareCPUms, c.Ratio)
	}
	fmt.Fprintf(w, "cache hits: fasthttp %.0f req/s (%.1f µs CPU/req), net/http %.0f req/s (%.1f µs CPU/req)\n", r.HitFastHTTP, r.HitFastCPUus, r.HitNetHTTP, r.HitNetCPUus)
	fmt.Fprintf(w, "peak RSS %d MiB\n", r.PeakRSSMiB)
}
