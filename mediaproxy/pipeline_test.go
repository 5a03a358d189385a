package mediaproxy

import (
	"context"
	"errors"
	"net/url"
	"testing"
	"time"
)

func mustOpts(t *testing.T, q string, accept string) Options {
	t.Helper()
	v, err := url.ParseQuery(q)
	if err != nil {
		t.Fatal(err)
	}
	o, err := ParseOptions(v, accept)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func TestPipelineFormats(t *testing.T) {
	for _, in := range []Format{FormatJPEG, FormatPNG, FormatGIF, FormatWebP, FormatAVIF} {
		src := sourceOf(t, in, 96, 64)
		for _, out := range []Format{FormatJPEG, FormatPNG, FormatGIF, FormatWebP, FormatAVIF} {
			t.Run(in.String()+"_to_"+out.String(), func(t *testing.T) {
				res, err := Process(context.Background(), src, mustOpts(t, "width=48&format="+out.String(), ""), DefaultLimits(), 20*time.Second)
				if err != nil {
					t.Fatal(err)
				}
				if Sniff(res.Body) != out {
					t.Fatalf("output sniffed as %v, want %v", Sniff(res.Body), out)
				}
				if res.Width != 48 || res.Height != 32 {
					t.Fatalf("got %dx%d, want 48x32", res.Width, res.Height)
				}
			})
		}
	}
}

func TestPipelineNoUpscaleUnlessAsked(t *testing.T) {
	src := sourceOf(t, FormatPNG, 40, 20)
	res, err := Process(context.Background(), src, mustOpts(t, "width=400", ""), DefaultLimits(), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if res.Width != 40 {
		t.Fatalf("upscaled without upscale: %d", res.Width)
	}
	res, err = Process(context.Background(), src, mustOpts(t, "width=80&upscale=true", ""), DefaultLimits(), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if res.Width != 80 || res.Height != 40 {
		t.Fatalf("upscale: got %dx%d", res.Width, res.Height)
	}
}

func TestPipelineAnimated(t *testing.T) {
	src := animatedGIF(t, 64, 48)
	res, err := Process(context.Background(), src, mustOpts(t, "format=webp&animated=true&width=32", ""), DefaultLimits(), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	p, err := ProbeImage(res.Body, 100)
	if err != nil {
		t.Fatal(err)
	}
	if p.Format != FormatWebP || p.Frames != 4 || res.Frames != 4 || p.Width != 32 || p.Height != 24 {
		t.Fatalf("animated webp: probe %+v result frames %d", p, res.Frames)
	}
	res, err = Process(context.Background(), src, mustOpts(t, "format=webp&width=32", ""), DefaultLimits(), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if p, _ := ProbeImage(res.Body, 100); p.Frames != 1 {
		t.Fatalf("first frame only: got %d frames", p.Frames)
	}
}

func TestPipelineDeadline(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	j := &Job{Source: sourceOf(t, FormatPNG, 16, 16), Limits: DefaultLimits()}
	if err := MainPipeline(nil).Run(ctx, j); !errors.Is(err, ErrTimeout) {
		t.Fatalf("got %v, want ErrTimeout", err)
	}
}
