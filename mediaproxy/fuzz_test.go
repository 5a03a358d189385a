package mediaproxy

import (
	"net/url"
	"testing"
)

func FuzzProbeImage(f *testing.F) {
	f.Add(pngBomb(100, 100, 6, 10))
	f.Add(gifFrameBomb(10, 10, 3))
	f.Add(webpLosslessHeader(10, 10))
	f.Add([]byte("\xff\xd8\xff\xc0\x00\x11\x08\x00\x10\x00\x10\x03"))
	f.Add([]byte("\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ProbeImage(b, 50)
		if err == nil && (p.Width <= 0 || p.Height <= 0 || p.Frames < 1 || !p.Format.Decodable()) {
			t.Fatalf("accepted nonsense probe %+v", p)
		}
	})
}

func FuzzParseOptions(f *testing.F) {
	f.Add("width=10&height=20&format=webp&quality=lossless&animated=true", "image/webp")
	f.Add("size=64&format=jpg", "")
	f.Fuzz(func(t *testing.T, q, accept string) {
		v, err := url.ParseQuery(q)
		if err != nil {
			return
		}
		o, err := ParseOptions(v, accept)
		if err != nil {
			return
		}
		if o.Width < 0 || o.Width > MaxDimension || o.Height < 0 || o.Height > MaxDimension {
			t.Fatalf("out of range %+v", o)
		}
		r := o.Resolve(FormatPNG)
		if !r.Format.Decodable() || r.Key() != r.Resolve(FormatPNG).Key() {
			t.Fatalf("resolve not idempotent: %+v", r)
		}
	})
}

func FuzzParseExternalPath(f *testing.F) {
	f.Add("sig/https/example.com/a.png")
	f.Add("sig/%3Fa=1/http/[::1]:80/x")
	f.Fuzz(func(t *testing.T, s string) {
		_, target, err := parseExternalPath(s)
		if err != nil {
			return
		}
		u, err := url.Parse(target)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.User != nil {
			t.Fatalf("bad target %q from %q", target, s)
		}
	})
}
