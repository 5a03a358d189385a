package mediaproxy

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"image"
	"image/jpeg"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/parleyhq/parley/internal/testkit"
)

func needHEIC(t *testing.T) {
	t.Helper()
	if !HEICSupported() {
		t.Skip("libvips cannot decode HEIC on this machine (the refusal path is TestHEICRefused)")
	}
}

func decodeJPEG(t *testing.T, b []byte) image.Image {
	t.Helper()
	img, err := jpeg.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("not a JPEG (%q…): %v", b[:min(len(b), 16)], err)
	}
	return img
}

// TestHEICServed: a phone's HEIC is accepted at upload with its displayed
// size, and served converted, upright, in the format the browser takes.
func TestHEICServed(t *testing.T) {
	needHEIC(t)
	testkit.NoLeaks(t, processGlobals...)
	e := newTestServer(t, nil)
	src := readFixture(t, filepath.Join("testdata", "phone.heic"))
	a, p := e.putFile(t, "IMG_0001.HEIC", "application/octet-stream", src)
	if a.Kind != KindImage || a.ContentType != "image/heic" || a.Format != "heic" || a.Width != phoneH || a.Height != phoneW {
		t.Fatalf("record %+v, want a %dx%d image/heic image", a, phoneH, phoneW)
	}
	for _, c := range []struct {
		name, query, accept string
		format              Format
		w, h                int
	}{
		{"original, no Accept: JPEG", "", "", FormatJPEG, phoneH, phoneW},
		{"original, Safari-like Accept", "", "image/webp,image/avif,image/heic,*/*", FormatWebP, phoneH, phoneW},
		{"thumbnail", "width=32", "", FormatJPEG, 32, 48},
		{"explicit png", "height=48&format=png", "", FormatPNG, 32, 48},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp, body := e.get(t, withQuery(p, c.query), "Accept", c.accept)
			if resp.StatusCode != 200 || Sniff(body) != c.format {
				t.Fatalf("status %d, %s body: %s", resp.StatusCode, Sniff(body), body[:min(len(body), 200)])
			}
			wantSafeHeaders(t, resp)
			pr, err := ProbeImage(body, 1)
			if err != nil || pr.Width != c.w || pr.Height != c.h {
				t.Fatalf("output %+v %v, want %dx%d", pr, err, c.w, c.h)
			}
			if c.format == FormatJPEG {
				wantCorners(t, decodeJPEG(t, body), 6)
			}
		})
	}
}

// TestHEICRefused forces the "cannot decode" path through the config:
// upload and serving both answer 415 with the message clients show.
func TestHEICRefused(t *testing.T) {
	testkit.NoLeaks(t, processGlobals...)
	e := newTestServer(t, func(c *Config) { c.Limits.DisableHEIC = true })
	src := readFixture(t, filepath.Join("testdata", "phone.heic"))
	if _, err := e.store.PutFile("100", "a.heic", "image/heic", src, e.srv.cfg.Limits, time.Now()); !errors.Is(err, ErrHEICUnsupported) {
		t.Fatalf("PutFile: %v, want ErrHEICUnsupported", err)
	}
	req, _ := http.NewRequest(http.MethodPost, e.base+"/upload/100?filename=a.heic", bytes.NewReader(src))
	req.Header.Set("Authorization", "Bearer "+UploadToken(e.key))
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var eb errorBody
	_ = json.NewDecoder(resp.Body).Decode(&eb)
	resp.Body.Close()
	if resp.StatusCode != 415 || eb.Code != "heic_unsupported" || eb.Message != "HEIC images cannot be decoded on this server" {
		t.Fatalf("upload: %d %+v", resp.StatusCode, eb)
	}
	// Stored when the server could decode it (or planted), served now.
	p := e.put(t, "b.heic", src)
	resp, body := e.get(t, withQuery(p, "width=32"))
	wantError(t, resp, body, 415, "heic_unsupported")
	if err := json.Unmarshal(body, &eb); err != nil || eb.Message != "HEIC images cannot be decoded on this server" {
		t.Fatalf("serve: %s", body)
	}
	if e.srv.stats.Decodes.Load() != 0 {
		t.Fatal("a refused HEIC reached libvips")
	}
	resp, body = e.get(t, "/healthz")
	if !bytes.Contains(body, []byte(`"heic":false`)) {
		t.Fatalf("healthz %d %s", resp.StatusCode, body)
	}
}

// TestDecodesHEIC: the self-test decodes the embedded sample where libvips
// can, and never calls a damaged or different file a success.
func TestDecodesHEIC(t *testing.T) {
	if got := decodesHEIC(heicSample); got != HEICSupported() {
		t.Fatalf("decodesHEIC(sample) = %v, HEICSupported() = %v", got, HEICSupported())
	}
	for name, b := range map[string][]byte{
		"truncated": heicSample[:len(heicSample)/2],
		"png":       sourceOf(t, FormatPNG, 16, 16),
		"other":     readFixture(t, filepath.Join("testdata", "phone.heic")),
		"empty":     nil,
	} {
		if decodesHEIC(b) {
			t.Fatalf("%s: decodesHEIC = true", name)
		}
	}
}

// heifWithGrid builds a HEIF whose primary item 1 is a rows×cols grid of
// tiles (items 2…) each tw×th, with the grid's ispe gw×gh and its output
// size ow×oh in idat; irot and clap on the grid when given.
func heifWithGrid(brand string, gw, gh, ow, oh, tw, th uint32, rows, cols int, extra ...[]byte) []byte {
	u16 := func(v int) []byte { return binary.BigEndian.AppendUint16(nil, uint16(v)) }
	u32 := func(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
	full := []byte{0, 0, 0, 0}
	tiles := rows * cols
	infes := [][]byte{full, u16(1 + tiles), box("infe", []byte{2, 0, 0, 0}, u16(1), u16(0), []byte("grid"))}
	for i := range tiles {
		infes = append(infes, box("infe", []byte{2, 0, 0, 0}, u16(2+i), u16(0), []byte("hvc1")))
	}
	grid := append([]byte{0, 1, byte(rows - 1), byte(cols - 1)}, append(u32(ow), u32(oh)...)...)
	iloc := [][]byte{{1, 0, 0, 0}, {0x44, 0x00}, u16(1), u16(1), u16(1), u16(0), u16(1), u32(0), u32(uint32(len(grid)))}
	dimg := [][]byte{u16(1), u16(tiles)}
	for i := range tiles {
		dimg = append(dimg, u16(2+i))
	}
	props := [][]byte{box("ispe", full, u32(gw), u32(gh)), box("ispe", full, u32(tw), u32(th))}
	gridProps := []byte{0x01}
	for i, x := range extra {
		props = append(props, x)
		gridProps = append(gridProps, byte(0x83+i))
	}
	ipma := [][]byte{full, u32(uint32(1 + tiles)), u16(1), {byte(len(gridProps))}, gridProps}
	for i := range tiles {
		ipma = append(ipma, u16(2+i), []byte{1, 0x02})
	}
	return append(box("ftyp", []byte(brand), u32(0), []byte("mif1"+brand)),
		box("meta", full,
			box("hdlr", full, u32(0), []byte("pict"), make([]byte, 13)),
			box("pitm", full, u16(1)),
			box("iinf", infes...),
			box("iloc", iloc...),
			box("iref", full, box("dimg", dimg...)),
			box("iprp", box("ipco", props...), box("ipma", ipma...)),
			box("idat", grid))...)
}

// TestProbeHEIFStructure: the probe reads a grid's tiles, irot and clap
// from the structure alone, and the limits weigh the tiles.
func TestProbeHEIFStructure(t *testing.T) {
	full := []byte{0, 0, 0, 0}
	clap := box("clap", u32s(1000, 1, 500, 1, 0, 1, 0, 1)...)
	mismatch := heifWithGrid("heic", 64, 64, 64, 64, 32, 32, 2, 2)
	mismatch[len(mismatch)-10]++ // idat is last: the grid header's rows-1
	const grid = 1024*512 + 2*512*512
	cases := []struct {
		name    string
		b       []byte
		w, h    int // displayed
		orient  int
		decode  int64
		err     error
		limited error
	}{
		{"grid", heifWithGrid("heic", 1024, 512, 1024, 512, 512, 512, 1, 2), 1024, 512, 0, grid, nil, nil},
		{"rotated grid", heifWithGrid("heic", 1024, 512, 1024, 512, 512, 512, 1, 2, box("irot", []byte{3})), 512, 1024, 6, grid, nil, nil},
		{"cropped", heifWithGrid("heic", 1024, 512, 1024, 512, 512, 512, 1, 2, clap), 1000, 500, 0, grid, nil, nil},
		{"avif grid", heifWithGrid("avif", 1024, 512, 1024, 512, 512, 512, 1, 2), 1024, 512, 0, grid, nil, nil},
		{"tiles bigger than ispe", heifWithGrid("avif", 64, 64, 64, 64, 8000, 8000, 2, 2), 64, 64, 0, 64*64 + 4*8000*8000, nil, ErrImageBomb},
		{"output bigger than ispe", heifWithGrid("avif", 64, 64, 60000, 60000, 32, 32, 2, 2), 0, 0, 0, 0, ErrUndecodable, nil},
		{"tile count mismatch", mismatch, 0, 0, 0, 0, ErrUndecodable, nil},
		{"no primary", bytes.Replace(heifWithGrid("heic", 64, 64, 64, 64, 32, 32, 1, 1), []byte("pitm"), []byte("pitx"), 1), 0, 0, 0, 0, ErrUndecodable, nil},
		{"bad clap", heifWithGrid("heic", 64, 64, 64, 64, 32, 32, 1, 1, box("clap", full)), 0, 0, 0, 0, ErrUndecodable, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := ProbeImage(c.b, 10)
			if c.err != nil {
				if !errors.Is(err, c.err) {
					t.Fatalf("err %v, want %v", err, c.err)
				}
				t.Log(err)
				return
			}
			if w, h := p.Displayed(); err != nil || w != c.w || h != c.h || p.Orientation != c.orient || p.DecodePixels != c.decode {
				t.Fatalf("probe %+v %v, want %dx%d shown, orientation %d, decode %d", p, err, c.w, c.h, c.orient, c.decode)
			}
			if p.Format == FormatAVIF { // HEIC's limits need libheif; AVIF's do not
				if _, err := DefaultLimits().Check(c.b); !errors.Is(err, c.limited) {
					t.Fatalf("limits: %v, want %v", err, c.limited)
				}
			}
		})
	}
}

func u32s(v ...uint32) [][]byte {
	out := make([][]byte, len(v))
	for i, x := range v {
		out[i] = binary.BigEndian.AppendUint32(nil, x)
	}
	return out
}
