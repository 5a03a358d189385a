package mediaproxy

import (
	"context"
	"net/url"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/davidbyttow/govips/v2/vips"
)

func BenchmarkProbeImage(b *testing.B) {
	src := sourceOf(b, FormatJPEG, 256, 256)
	for b.Loop() {
		if _, err := ProbeImage(src, 500); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkServeCacheHit(b *testing.B) {
	e := newTestServer(b, nil)
	p := e.put(b, "a.png", sourceOf(b, FormatPNG, 64, 64))
	u, _ := url.Parse(p + "&width=32&format=webp")
	req := &Request{Method: "GET", RawPath: u.EscapedPath(), RawQuery: u.RawQuery, Accept: "image/avif,image/webp,*/*"}
	if r := e.srv.Handle(context.Background(), req); r.Status != 200 {
		b.Fatalf("status %d", r.Status)
	}
	b.ReportAllocs()
	for b.Loop() {
		if r := e.srv.Handle(context.Background(), req); r.Status != 200 {
			b.Fatalf("status %d", r.Status)
		}
	}
}

// BenchmarkPipelineVsBare alternates, every iteration, one JPEG→JPEG run of
// the main pipeline (probe, limits, thumbnail-on-load, colour, strip,
// encode) and the bare govips calls it is built on, and reports the CPU of
// each from getrusage. Interleaving per iteration keeps a noisy host from
// favouring either side. "srgb_profile" embeds an sRGB ICC profile, as
// most camera and editor output does.
func BenchmarkPipelineVsBare(b *testing.B) {
	plain := sourceOf(b, FormatJPEG, 2560, 1600)
	for _, c := range []struct {
		name string
		src  []byte
	}{{"plain", plain}, {"srgb_profile", withProfile(b, plain, vips.SRGBIEC6196621ICCProfilePath)}} {
		b.Run(c.name, func(b *testing.B) { benchPipelineVsBare(b, c.src) })
	}
}

func benchPipelineVsBare(b *testing.B, src []byte) {
	opts := Options{Width: 500, Format: FormatJPEG, choice: choiceExplicit, Quality: 80}
	bare := func() {
		img, err := vips.LoadThumbnailFromBuffer(src, 500, vipsMaxCoord, vips.InterestingNone, vips.SizeDown, vips.NewImportParams())
		if err != nil {
			b.Fatal(err)
		}
		p := vips.NewJpegExportParams()
		p.StripMetadata, p.Quality, p.Interlace, p.OptimizeCoding = true, 80, false, true
		if _, _, err := img.ExportJpeg(p); err != nil {
			b.Fatal(err)
		}
		img.Close()
	}
	var pipe, raw time.Duration
	for b.Loop() {
		c0 := cpuTime()
		if _, err := Process(context.Background(), src, opts, DefaultLimits(), time.Minute); err != nil {
			b.Fatal(err)
		}
		c1 := cpuTime()
		bare()
		c2 := cpuTime()
		pipe, raw = pipe+c1-c0, raw+c2-c1
	}
	b.ReportMetric(float64(pipe.Microseconds())/1000/float64(b.N), "pipeline-cpu-ms/op")
	b.ReportMetric(float64(raw.Microseconds())/1000/float64(b.N), "bare-cpu-ms/op")
	b.ReportMetric(float64(pipe)/float64(raw), "ratio")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func BenchmarkIsSRGBProfile(b *testing.B) {
	if err := StartVips(); err != nil {
		b.Fatal(err)
	}
	path, err := vips.GetSRGBIEC6196621ICCProfilePath()
	if err != nil {
		b.Fatal(err)
	}
	p, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if !isSRGBProfile(p) {
			b.Fatal("not sRGB")
		}
	}
}

// BenchmarkAlphaPNG measures a PNG with alpha (2560×1600 RGBA) thumbnailed
// to 500 wide, per output format, alternating every iteration between the
// main pipeline and libvips' own thumbnail (vips_thumbnail_buffer, which
// premultiplies into float and resizes in float) followed by the same
// encode. It reports the CPU of each from getrusage and the output bytes.
func BenchmarkAlphaPNG(b *testing.B) {
	src := encPNG(b, alphaPicture(2560, 1600))
	for _, f := range []Format{FormatPNG, FormatWebP, FormatAVIF} {
		b.Run(f.String(), func(b *testing.B) { benchAlpha(b, src, f) })
	}
}

func benchAlpha(b *testing.B, src []byte, f Format) {
	opts := Options{Width: 500, Format: f, choice: choiceExplicit}.Resolve(FormatPNG)
	thumb := func() int {
		img, err := vips.LoadThumbnailFromBuffer(src, 500, vipsMaxCoord, vips.InterestingNone, vips.SizeDown, vips.NewImportParams())
		if err != nil {
			b.Fatal(err)
		}
		j := &Job{Opts: opts, img: img}
		defer j.close()
		if err := stepEncode(j); err != nil {
			b.Fatal(err)
		}
		return len(j.Result.Body)
	}
	var pipe, ref time.Duration
	var pipeBytes, refBytes int
	for b.Loop() {
		c0 := cpuTime()
		res, err := Process(context.Background(), src, opts, DefaultLimits(), time.Minute)
		if err != nil {
			b.Fatal(err)
		}
		c1 := cpuTime()
		refBytes = thumb()
		c2 := cpuTime()
		pipe, ref, pipeBytes = pipe+c1-c0, ref+c2-c1, len(res.Body)
	}
	b.ReportMetric(float64(pipe.Microseconds())/1000/float64(b.N), "pipeline-cpu-ms/op")
	b.ReportMetric(float64(ref.Microseconds())/1000/float64(b.N), "thumbnail-cpu-ms/op")
	b.ReportMetric(float64(pipe)/float64(ref), "ratio")
	b.ReportMetric(float64(pipeBytes), "pipeline-B")
	b.ReportMetric(float64(refBytes), "thumbnail-B")
}
