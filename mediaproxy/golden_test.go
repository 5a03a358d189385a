package mediaproxy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"math/bits"
	"os"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/davidbyttow/govips/v2/vips"
)

// goldenFile holds 64-bit difference hashes of every input→output
// conversion. Regenerate with PARLEY_UPDATE_GOLDEN=1.
const goldenFile = "testdata/golden-hashes.json"

// maxHashDistance tolerates encoder differences between libvips builds.
const maxHashDistance = 10

// dHash is the difference hash of an image's first frame: shrink to 9×8
// grey, one bit per horizontally adjacent pair.
func dHash(t *testing.T, data []byte) uint64 {
	t.Helper()
	img, err := vips.LoadThumbnailFromBuffer(data, 9, 8, vips.InterestingNone, vips.SizeForce, nil)
	if err != nil {
		t.Fatalf("hash load: %v", err)
	}
	defer img.Close()
	if err := img.ToColorSpace(vips.InterpretationBW); err != nil {
		t.Fatal(err)
	}
	if img.HasAlpha() {
		if err := img.Flatten(&vips.Color{R: 255, G: 255, B: 255}); err != nil {
			t.Fatal(err)
		}
	}
	b, _, err := img.ExportPng(vips.NewPngExportParams())
	if err != nil {
		t.Fatal(err)
	}
	g, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	var h uint64
	for y := range 8 {
		for x := range 8 {
			l, _, _, _ := g.At(x, y).RGBA()
			r, _, _, _ := g.At(x+1, y).RGBA()
			h <<= 1
			if l > r {
				h |= 1
			}
		}
	}
	return h
}

func TestGoldenHashes(t *testing.T) {
	update := os.Getenv("PARLEY_UPDATE_GOLDEN") != ""
	want := map[string]string{}
	if b, err := os.ReadFile(goldenFile); err == nil {
		if err := json.Unmarshal(b, &want); err != nil {
			t.Fatal(err)
		}
	} else if !update {
		t.Fatalf("%s missing; run with PARLEY_UPDATE_GOLDEN=1", goldenFile)
	}
	got := map[string]string{}
	formats := []Format{FormatJPEG, FormatPNG, FormatGIF, FormatWebP, FormatAVIF}
	check := func(name string, src []byte, q string, frames int) {
		t.Run(name, func(t *testing.T) {
			res, err := Process(context.Background(), src, mustOpts(t, q, ""), DefaultLimits(), 30*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if frames > 0 && res.Frames != frames {
				t.Fatalf("frames %d, want %d", res.Frames, frames)
			}
			h := strconv.FormatUint(dHash(t, res.Body), 16)
			got[name] = h
			if update {
				return
			}
			w, ok := want[name]
			if !ok {
				t.Fatalf("no golden hash for %s", name)
			}
			wv, _ := strconv.ParseUint(w, 16, 64)
			hv, _ := strconv.ParseUint(h, 16, 64)
			if d := bits.OnesCount64(wv ^ hv); d > maxHashDistance {
				t.Fatalf("perceptual hash %s differs from golden %s by %d bits", h, w, d)
			}
		})
	}
	for _, in := range formats {
		src := sourceOf(t, in, 120, 80)
		for _, out := range formats {
			check(fmt.Sprintf("%s_to_%s", in, out), src, "width=60&format="+out.String(), 1)
		}
	}
	anim := animatedGIF(t, 64, 48)
	check("animated_gif_to_animated_webp", anim, "width=32&format=webp&animated=true", 4)
	check("animated_gif_to_animated_gif", anim, "width=32&format=gif&animated=true", 4)
	check("animated_gif_to_png_first_frame", anim, "width=32&format=png", 1)
	if update {
		keys := make([]string, 0, len(got))
		for k := range got {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b, _ := json.MarshalIndent(got, "", "  ")
		if err := os.WriteFile(goldenFile, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %d hashes to %s", len(keys), goldenFile)
	}
}
