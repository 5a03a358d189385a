package mediaproxy

import (
	"context"
	"image"
	"strconv"
	"testing"
	"time"
)

// rgbAt is the 8-bit colour at (x, y) of a decoded image.
func rgbAt(img image.Image, x, y int) [3]int {
	r, g, b, _ := img.At(x, y).RGBA()
	return [3]int{int(r >> 8), int(g >> 8), int(b >> 8)}
}

// markedCorners is where markedPicture's marks are once an EXIF
// orientation is applied: the colour of the top-left, top-right,
// bottom-left and bottom-right corners.
func markedCorners(orientation int) [4][3]int {
	r, g, w := [3]int{220, 20, 20}, [3]int{20, 160, 20}, [3]int{255, 255, 255}
	switch orientation {
	case 2: // mirrored left to right
		return [4][3]int{w, r, g, w}
	case 3: // half turn
		return [4][3]int{g, w, w, r}
	case 6: // quarter turn clockwise
		return [4][3]int{w, r, g, w}
	case 8: // quarter turn anticlockwise
		return [4][3]int{w, g, r, w}
	}
	return [4][3]int{r, w, w, g}
}

// wantCorners checks a decoded markedPicture shows as orientation asks.
func wantCorners(t *testing.T, img image.Image, orientation int) {
	t.Helper()
	b := img.Bounds()
	in := 2 + b.Dx()/32
	want := markedCorners(orientation)
	for i, pt := range []image.Point{{b.Min.X + in, b.Min.Y + in}, {b.Max.X - in, b.Min.Y + in}, {b.Min.X + in, b.Max.Y - in}, {b.Max.X - in, b.Max.Y - in}} {
		if got := rgbAt(img, pt.X, pt.Y); !near(got, want[i], 40) {
			t.Fatalf("corner %d %v of %v is %v, want about %v: orientation %d not applied as it should be", i, pt, b, got, want[i], orientation)
		}
	}
}

// TestOrientedJPEG: an EXIF-oriented photo's record has its displayed
// size, and both the original-size view and a thumbnail come out upright
// in that size (orientation 6 is a phone held upright).
func TestOrientedJPEG(t *testing.T) {
	e := newTestServer(t, nil)
	const w, h = 640, 480
	for _, o := range []int{1, 2, 3, 6, 8} {
		t.Run("orientation "+strconv.Itoa(o), func(t *testing.T) {
			src := exifOriented(encJPEG(t, markedPicture(w, h)), uint16(o))
			p, err := ProbeImage(src, 1)
			if err != nil || p.Orientation != o {
				t.Fatalf("probe %+v %v", p, err)
			}
			dw, dh := w, h
			if o >= 5 {
				dw, dh = h, w
			}
			a, path := e.putFile(t, "photo.jpg", "image/jpeg", src)
			if a.Width != dw || a.Height != dh {
				t.Fatalf("record %dx%d, want the displayed %dx%d", a.Width, a.Height, dw, dh)
			}
			for _, c := range []struct {
				query string
				w, h  int
			}{
				{"", dw, dh},
				{"width=100", 100, 100 * dh / dw},
				{"size=128", 128 * dw / max(dw, dh), 128 * dh / max(dw, dh)},
			} {
				resp, body := e.get(t, withQuery(path, c.query))
				if resp.StatusCode != 200 {
					t.Fatalf("%q: status %d %s", c.query, resp.StatusCode, body)
				}
				img := decodeJPEG(t, body)
				if b := img.Bounds(); b.Dx() != c.w || b.Dy() != c.h {
					t.Fatalf("%q: %dx%d, want %dx%d", c.query, b.Dx(), b.Dy(), c.w, c.h)
				}
				wantCorners(t, img, o)
			}
			// WebP (what browsers ask for) measures the same.
			resp, body := e.get(t, path, "Accept", "image/webp")
			if pr, err := ProbeImage(body, 1); resp.StatusCode != 200 || err != nil || pr.Width != dw || pr.Height != dh {
				t.Fatalf("webp: %d %+v %v", resp.StatusCode, pr, err)
			}
		})
	}
}

// TestOrientedJPEGProcess: Process (the bench's and tools' entry) agrees.
func TestOrientedJPEGProcess(t *testing.T) {
	src := exifOriented(encJPEG(t, markedPicture(64, 48)), 6)
	res, err := Process(context.Background(), src, mustOpts(t, "format=jpeg", ""), DefaultLimits(), 10*time.Second)
	if err != nil || res.Width != 48 || res.Height != 64 {
		t.Fatalf("%dx%d %v", res.Width, res.Height, err)
	}
	wantCorners(t, decodeJPEG(t, res.Body), 6)
}
