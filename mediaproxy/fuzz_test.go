package mediaproxy

import (
	"bytes"
	"errors"
	"io"
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
