package mediaproxy

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"hash/crc32"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/davidbyttow/govips/v2/vips"
)

func pngChunk(typ string, data []byte) []byte {
	var b bytes.Buffer
	_ = binary.Write(&b, binary.BigEndian, uint32(len(data)))
	b.WriteString(typ)
	b.Write(data)
	_ = binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(append([]byte(typ), data...)))
	return b.Bytes()
}

// pngBomb declares w×h with colour type ct but carries only zlib(n zeros).
func pngBomb(w, h uint32, ct byte, n int) []byte {
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr, w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, ct
	var z bytes.Buffer
	zw, _ := zlib.NewWriterLevel(&z, zlib.BestCompression)
	_, _ = zw.Write(make([]byte, n))
	_ = zw.Close()
	out := append([]byte(nil), pngSig...)
	out = append(out, pngChunk("IHDR", ihdr)...)
	out = append(out, pngChunk("IDAT", z.Bytes())...)
	return append(out, pngChunk("IEND", nil)...)
}

// gifFrameBomb follows shared/docs/mediaproxy.md §8.
func gifFrameBomb(sw, sh uint16, frames int) []byte {
	var b bytes.Buffer
	b.WriteString("GIF89a")
	_ = binary.Write(&b, binary.LittleEndian, sw)
	_ = binary.Write(&b, binary.LittleEndian, sh)
	b.Write([]byte{0x80, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff})
	b.Write([]byte{0x21, 0xff, 0x0b})
	b.WriteString("NETSCAPE2.0")
	b.Write([]byte{3, 1, 0, 0, 0})
	for range frames {
		b.Write([]byte{0x21, 0xf9, 4, 0, 1, 0, 0, 0})
		b.Write([]byte{0x2c, 0, 0, 0, 0, 1, 0, 1, 0, 0})
		b.Write([]byte{2, 2, 0x44, 0x01, 0})
	}
	b.WriteByte(0x3b)
	return b.Bytes()
}

// webpLosslessHeader declares a w×h VP8L image followed by junk.
func webpLosslessHeader(w, h int) []byte {
	v := uint32(w-1) | uint32(h-1)<<14
	d := []byte{0x2f, byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)}
	d = append(d, bytes.Repeat([]byte{0}, 10700)...)
	var b bytes.Buffer
	b.WriteString("RIFF")
	_ = binary.Write(&b, binary.LittleEndian, uint32(4+8+len(d)))
	b.WriteString("WEBPVP8L")
	_ = binary.Write(&b, binary.LittleEndian, uint32(len(d)))
	b.Write(d)
	return b.Bytes()
}

const svgXXE = `<?xml version="1.0"?>
<!DOCTYPE svg [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="100" height="100">
<text x="0" y="20">&xxe;</text><image href="http://127.0.0.1:9/" width="10" height="10"/></svg>`

func billionLaughs() []byte {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY lol0 "lol">`)
	for i := 1; i < 10; i++ {
		b.WriteString(`<!ENTITY lol` + strconv.Itoa(i) + ` "`)
		for range 10 {
			b.WriteString("&lol" + strconv.Itoa(i-1) + ";")
		}
		b.WriteString(`">`)
	}
	b.WriteString(`]><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><text>&lol9;</text></svg>`)
	return []byte(b.String())
}

// procStatus returns a /proc/self/status field in KiB.
func procStatus(t *testing.T, field string) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip("no /proc/self/status")
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			return n
		}
	}
	return 0
}

func TestHostileInputs(t *testing.T) {
	e := newTestServer(t, nil)
	pic := sourceOf(t, FormatJPEG, 256, 256)
	pngPic := sourceOf(t, FormatPNG, 32, 32)
	cases := []struct {
		name    string
		file    string
		data    []byte
		status  int
		code    string
		decodes bool // libvips may be asked to decode (header looks fine)
	}{
		{"png header bomb 100000x100000", "bomb.png", pngBomb(100000, 100000, 6, 100000), 422, "image_bomb", false},
		{"png 20000x20000 grey", "zeros.png", pngBomb(20000, 20000, 0, 200000), 422, "image_bomb", false},
		{"lossless webp 16383x16383", "big.webp", webpLosslessHeader(16383, 16383), 422, "image_bomb", false},
		{"gif declaring 10000 frames", "frames.gif", gifFrameBomb(2000, 2000, 10000), 422, "image_bomb", false},
		{"gif 65535x65535 screen", "screen.gif", gifFrameBomb(65535, 65535, 1), 422, "image_bomb", false},
		{"truncated jpeg", "trunc.jpg", pic[:len(pic)*6/10], 415, "undecodable", true},
		{"gif magic then garbage", "fake.png", append([]byte("GIF89a"), bytes.Repeat([]byte{0x41}, 300)...), 415, "undecodable", false},
		{"svg external entity", "xxe.svg", []byte(svgXXE), 415, "unsupported_format", false},
		{"svg billion laughs", "lol.png", billionLaughs(), 415, "unsupported_format", false},
		{"polyglot png+html", "poly.png", append(append([]byte(nil), pngPic...), []byte("<html><script>alert(1)</script></html>")...), 415, "undecodable", false},
		{"polyglot gif/js", "poly.gif", []byte("GIF89a/*\x00\x00*/=1;alert(document.domain)//;"), 415, "undecodable", false},
		{"pdf", "doc.jpg", []byte("%PDF-1.4\n1 0 obj<<>>endobj\n"), 415, "unsupported_format", false},
		{"empty", "empty.png", []byte{}, 415, "unsupported_format", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := e.put(t, c.file, c.data)
			before := e.srv.stats.Decodes.Load()
			start := time.Now()
			resp, body := e.get(t, withQuery(p, "width=256&format=webp&animated=true"))
			elapsed := time.Since(start)
			wantError(t, resp, body, c.status, c.code)
			if !c.decodes && e.srv.stats.Decodes.Load() != before {
				t.Fatalf("libvips was asked to decode %s; the probe should have refused it", c.name)
			}
			hwm, rss := procStatus(t, "VmHWM"), procStatus(t, "VmRSS")
			t.Logf("%s: %d %s in %v, %d bytes, VmRSS %d MiB, VmHWM %d MiB", c.name, resp.StatusCode, c.code, elapsed, len(c.data), rss>>10, hwm>>10)
			if elapsed > 2*time.Second {
				t.Fatalf("refusal took %v", elapsed)
			}
			if hwm > 512<<10 {
				t.Fatalf("peak RSS %d MiB over 512 MiB", hwm>>10)
			}
		})
	}
	// Wrong extension is sniffed, not trusted: a PNG named .jpg serves.
	t.Run("png named jpg", func(t *testing.T) {
		resp, body := e.get(t, withQuery(e.put(t, "really-a-png.jpg", pngPic), "width=16"))
		if resp.StatusCode != 200 || Sniff(body) != FormatPNG {
			t.Fatalf("status %d sniff %v", resp.StatusCode, Sniff(body))
		}
	})
}

// TestVipsBlocksUntrusted checks the second line of defence: even if SVG
// reached libvips, its loader is blocked.
func TestVipsBlocksUntrusted(t *testing.T) {
	if err := StartVips(); err != nil {
		t.Fatal(err)
	}
	if os.Getenv("VIPS_BLOCK_UNTRUSTED") == "" {
		t.Fatal("VIPS_BLOCK_UNTRUSTED not set")
	}
	for _, svg := range [][]byte{[]byte(svgXXE), billionLaughs()} {
		img, err := vips.NewImageFromBuffer(svg)
		if err == nil {
			_, _, err = img.ExportPng(vips.NewPngExportParams())
			img.Close()
		}
		if err == nil {
			t.Fatal("libvips decoded an SVG despite VIPS_BLOCK_UNTRUSTED")
		}
	}
	s := VipsSettings()
	if s["concurrency"] != 1 || s["cache_max"] != 0 || s["cache_max_mem"] != 0 {
		t.Fatalf("vips settings %v", s)
	}
}
