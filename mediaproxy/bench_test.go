package mediaproxy

import (
	"context"
	"net/url"
	"testing"
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
	if r := e.srv.Serve(context.Background(), req); r.Status != 200 {
		b.Fatalf("status %d", r.Status)
	}
	b.ReportAllocs()
	for b.Loop() {
		if r := e.srv.Serve(context.Background(), req); r.Status != 200 {
			b.Fatalf("status %d", r.Status)
		}
	}
}
