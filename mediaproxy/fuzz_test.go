package mediaproxy

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func FuzzProbeImage(f *testing.F) {
	f.Add(pngBomb(100, 100, 6, 10))
	f.Add(gifFrameBomb(10, 10, 3))
	f.Add(webpLosslessHeader(10, 10))
	f.Add([]byte("\xff\xd8\xff\xc0\x00\x11\x08\x00\x10\x00\x10\x03"))
	f.Add([]byte("\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf"))
	f.Add(exifOriented([]byte("\xff\xd8\xff\xc0\x00\x11\x08\x00\x10\x00\x20\x03"), 6))
	addHEIFSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ProbeImage(b, 50)
		if err == nil && (p.Width <= 0 || p.Height <= 0 || p.Frames < 1 || !p.Format.Decodable()) {
			t.Fatalf("accepted nonsense probe %+v", p)
		}
		checkProbe(t, p, err)
	})
}

// addHEIFSeeds adds the committed phone HEIC and synthetic grids.
func addHEIFSeeds(f *testing.F) {
	if b, err := os.ReadFile(filepath.Join("testdata", "phone.heic")); err == nil {
		f.Add(b)
	}
	f.Add(heicSample)
	f.Add(heifWithGrid("heic", 1024, 512, 1024, 512, 512, 512, 1, 2, box("irot", []byte{1})))
	f.Add(heifWithGrid("avif", 64, 64, 64, 64, 32, 32, 2, 2, box("clap", u32s(60, 1, 50, 1, 0, 1, 0, 1)...)))
	f.Add(hostileILOC(3))
	f.Add(heifItems(64, 64, "av01", "thmb", 30000, 30000))
}

// checkProbe holds for every probe, accepted or not.
func checkProbe(t *testing.T, p Probe, err error) {
	t.Helper()
	if p.Orientation < 0 || p.Orientation > 8 || p.DecodePixels < 0 || p.ItemPixels < 0 {
		t.Fatalf("probe %+v", p)
	}
	if err == nil && (p.CleanWidth > p.Width || p.CleanHeight > p.Height || p.CleanWidth < 0 || p.CleanHeight < 0) {
		t.Fatalf("clean aperture outside the canvas: %+v", p)
	}
}

// FuzzProbeHEIF runs the HEIF structure walk on anything, whatever its
// brand: it must refuse or describe, never panic or accept a canvas
// without a size.
func FuzzProbeHEIF(f *testing.F) {
	addHEIFSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := probeHEIF(b, FormatHEIC)
		if err == nil && (p.Width <= 0 || p.Height <= 0 || p.Frames != 1) {
			t.Fatalf("accepted nonsense probe %+v", p)
		}
		if err != nil && !errors.Is(err, ErrUndecodable) {
			t.Fatalf("error %v is not ErrUndecodable", err)
		}
		checkProbe(t, p, err)
	})
}

func FuzzExifOrientation(f *testing.F) {
	f.Add(exifOriented([]byte("\xff\xd8"), 6)[6:])
	f.Add([]byte("Exif\x00\x00II*\x00\x08\x00\x00\x00\x01\x00\x12\x01\x03\x00\x01\x00\x00\x00\x03\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if o := exifOrientation(b); o < 0 || o > 8 {
			t.Fatalf("orientation %d", o)
		}
	})
}

// FuzzParseRange: every range returned lies inside the file and is not
// empty; every refusal is ErrRangeNotSatisfiable.
func FuzzParseRange(f *testing.F) {
	for _, h := range []string{"bytes=0-3", "bytes=-5", "bytes=7-", "bytes=0-1,5-6", "bytes=9-2", "bytes=", "bytes= 1 - 2 ,", "bytes=-0", "items=1-2"} {
		f.Add(h, int64(10))
	}
	f.Add("bytes=0-", int64(0))
	f.Fuzz(func(t *testing.T, h string, size int64) {
		if size < 0 {
			return
		}
		rs, err := parseRange(h, size)
		if err != nil {
			if !errors.Is(err, ErrRangeNotSatisfiable) {
				t.Fatalf("%q: error %v", h, err)
			}
			return
		}
		var sum int64
		for _, r := range rs {
			if r.start < 0 || r.length <= 0 || r.start+r.length > size {
				t.Fatalf("%q over %d bytes: range %+v", h, size, r)
			}
			sum += r.length
		}
		if sum > size {
			t.Fatalf("%q: ranges add up to %d > %d", h, sum, size)
		}
	})
}

// FuzzFileTypes: whatever a file's bytes, name and declared type, what it
// is served as is passive or application/octet-stream, and its
// Content-Disposition carries only attr-chars and percent escapes.
func FuzzFileTypes(f *testing.F) {
	f.Add("a.html", "text/html", []byte("<html><script>x</script>"))
	f.Add("a.svg", "image/svg+xml", []byte("<svg/>"))
	f.Add("résumé.pdf", "", []byte("%PDF-1.4"))
	f.Add("x", "video/mp4; codecs=avc1", []byte{0, 1, 2})
	f.Add("x.txt", "text/plain; charset=\"utf-8\"", []byte("hi"))
	f.Fuzz(func(t *testing.T, name, declared string, data []byte) {
		ct := detectContentType(name, declared, data)
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil {
			t.Fatalf("content type %q does not parse: %v", ct, err)
		}
		if strings.HasPrefix(mt, "image/") && strings.HasPrefix(strings.ToLower(strings.TrimSpace(declared)), "image/") &&
			!strings.HasPrefix(http.DetectContentType(data), "image/") && extTypes[strings.ToLower(filepath.Ext(name))] != ct {
			t.Fatalf("declared %q made %q an image", declared, ct)
		}
		served, _ := servedType(ct)
		smt, _, _ := mime.ParseMediaType(served)
		major, _, _ := strings.Cut(smt, "/")
		if served != "application/octet-stream" && !passiveTypes[smt] && major != "audio" && major != "video" &&
			!strings.HasPrefix(smt, "application/vnd.openxmlformats-officedocument.") && !strings.HasPrefix(smt, "application/vnd.oasis.opendocument.") {
			t.Fatalf("%q served as %q", ct, served)
		}
		cd, ok := strings.CutPrefix(contentDisposition(false, name), "attachment; filename*=UTF-8''")
		if !ok {
			t.Fatalf("Content-Disposition %q", cd)
		}
		for _, c := range []byte(cd) {
			if c < 0x21 || c > 0x7e || strings.IndexByte("\"\\,;' ()<>@:/[]?={}*", c) >= 0 {
				t.Fatalf("Content-Disposition byte %q for %q", c, name)
			}
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
		if !r.Format.Encodable() || r.Key() != r.Resolve(FormatPNG).Key() {
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

// FuzzReadBody checks readBody's contract. For a body data read in Read
// calls of at most chunk bytes (the last one with or without io.EOF), of
// declared length (-1 unknown), a byte limit and a budget:
//
//   - success returns a prefix of data: data[:declared] when the length
//     is declared, all of data otherwise, never more than limit bytes;
//   - ErrTooLarge iff the body is over limit (declared over it, or an
//     undeclared body longer than it); errShortBody iff data is shorter
//     than a declared length within limit; ErrOverloaded only when the
//     budget is smaller than limit+1, and in place of one of the others;
//   - the reservation never exceeds limit+1 (declared when known) nor the
//     budget, covers every byte returned, is all the budget holds, and
//     release gives it all back.
func FuzzReadBody(f *testing.F) {
	f.Add([]byte("hello"), int64(5), int64(10), int64(1<<20), uint16(0), uint16(1), false)
	f.Add([]byte("hello"), int64(-1), int64(4), int64(1<<20), uint16(2), uint16(1), true)
	f.Add([]byte("hello"), int64(9), int64(10), int64(1<<20), uint16(3), uint16(1), false)
	f.Add([]byte("hello"), int64(3), int64(10), int64(1<<20), uint16(1), uint16(1), false)
	f.Add([]byte("hello"), int64(11), int64(10), int64(1<<20), uint16(0), uint16(1), false)
	f.Add([]byte("0123456789abcdef"), int64(-1), int64(200000), int64(1<<20), uint16(40000), uint16(10000), true)
	f.Add([]byte("0123456789abcdef"), int64(-1), int64(160000), int64(160000), uint16(0), uint16(10000), false)
	f.Add([]byte("0123456789abcdef"), int64(-1), int64(300000), int64(100000), uint16(65535), uint16(9000), false)
	f.Add([]byte{}, int64(-1), int64(0), int64(0), uint16(0), uint16(0), false)
	f.Add([]byte("x"), int64(0), int64(0), int64(0), uint16(0), uint16(1), true)
	f.Fuzz(func(t *testing.T, seed []byte, declared, limit, budget int64, chunk, rep uint16, eofWithData bool) {
		data := bytes.Repeat(seed, int(rep)%(1+(1<<19)/max(1, len(seed))))
		if declared < 0 {
			declared = -1
		}
		limit = abs(limit) % (1 << 20)
		budget = abs(budget) % (2 << 20)
		b := newByteBudget(budget)
		res := reservation{b: b}
		r := &chunkReader{data: data, chunk: max(1, int(chunk)), eofWithData: eofWithData}
		got, err := readBody(r, declared, limit, &res)

		if res.n > limit+1 || declared >= 0 && res.n > declared || res.n > budget {
			t.Fatalf("reserved %d (limit %d, declared %d, budget %d)", res.n, limit, declared, budget)
		}
		if b.InFlight() != res.n {
			t.Fatalf("budget holds %d, the reservation %d", b.InFlight(), res.n)
		}
		var want error
		switch {
		case declared > limit:
			want = ErrTooLarge
		case declared >= 0 && int64(len(data)) < declared:
			want = errShortBody
		case declared < 0 && int64(len(data)) > limit:
			want = ErrTooLarge
		}
		switch {
		case errors.Is(err, ErrOverloaded):
			if budget > limit || declared > limit {
				t.Fatalf("ErrOverloaded with a budget of %d for limit %d (declared %d)", budget, limit, declared)
			}
		case want == nil && err != nil, want != nil && !errors.Is(err, want):
			t.Fatalf("len %d declared %d limit %d: err %v, want %v", len(data), declared, limit, err, want)
		}
		if err == nil {
			wantBody := data
			if declared >= 0 {
				wantBody = data[:declared]
			}
			if !bytes.Equal(got, wantBody) || int64(len(got)) > limit || int64(len(got)) > res.n {
				t.Fatalf("read %d bytes, want %d of %d (limit %d, reserved %d)", len(got), len(wantBody), len(data), limit, res.n)
			}
		}
		res.release()
		if b.InFlight() != 0 {
			t.Fatalf("%d bytes still held after release", b.InFlight())
		}
	})
}

func abs(n int64) int64 {
	if n < 0 {
		return -(n + 1) // no overflow at MinInt64
	}
	return n
}

// chunkReader returns data at most chunk bytes per Read; the last bytes
// come with io.EOF when eofWithData, as some readers do.
type chunkReader struct {
	data        []byte
	chunk       int
	eofWithData bool
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.data[:min(len(r.data), r.chunk)])
	r.data = r.data[n:]
	if r.eofWithData && len(r.data) == 0 {
		return n, io.EOF
	}
	return n, nil
}
