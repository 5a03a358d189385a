package mediaproxy

import (
	"encoding/binary"
	"math"
	"os"
	"testing"

	"github.com/davidbyttow/govips/v2/vips"
)

// iccProfile builds a matrix-shaper RGB profile from primaries and one
// tag per channel for the curves, plus extra tags.
func iccProfile(prim [3][3]float64, curve []byte, extra ...string) []byte {
	type tag struct {
		sig  string
		data []byte
	}
	xyz := func(v [3]float64) []byte {
		b := append([]byte("XYZ "), 0, 0, 0, 0)
		for _, f := range v {
			b = binary.BigEndian.AppendUint32(b, uint32(int32(math.Round(f*65536))))
		}
		return b
	}
	tags := []tag{{"rXYZ", xyz(prim[0])}, {"gXYZ", xyz(prim[1])}, {"bXYZ", xyz(prim[2])},
		{"rTRC", curve}, {"gTRC", curve}, {"bTRC", curve}}
	for _, e := range extra {
		tags = append(tags, tag{e, []byte("mft2\x00\x00\x00\x00")})
	}
	hdr := make([]byte, 128)
	copy(hdr[12:], "mntrRGB XYZ ")
	p := binary.BigEndian.AppendUint32(hdr, uint32(len(tags)))
	off := 132 + 12*len(tags)
	var data []byte
	for _, t := range tags {
		p = append(p, t.sig...)
		p = binary.BigEndian.AppendUint32(p, uint32(off+len(data)))
		p = binary.BigEndian.AppendUint32(p, uint32(len(t.data)))
		data = append(data, t.data...)
		for len(data)%4 != 0 {
			data = append(data, 0)
		}
	}
	p = append(p, data...)
	binary.BigEndian.PutUint32(p[0:4], uint32(len(p)))
	return p
}

func paraCurve(typ uint16, g ...float64) []byte {
	b := append([]byte("para"), 0, 0, 0, 0)
	b = binary.BigEndian.AppendUint16(b, typ)
	b = append(b, 0, 0)
	for _, v := range g {
		b = binary.BigEndian.AppendUint32(b, uint32(int32(math.Round(v*65536))))
	}
	return b
}

func tableCurve(n int, f func(float64) float64) []byte {
	b := append([]byte("curv"), 0, 0, 0, 0)
	b = binary.BigEndian.AppendUint32(b, uint32(n))
	for i := range n {
		b = binary.BigEndian.AppendUint16(b, uint16(math.Round(f(float64(i)/float64(n-1))*65535)))
	}
	return b
}

func TestIsSRGBProfile(t *testing.T) {
	srgbPara := paraCurve(3, 2.4, 1/1.055, 0.055/1.055, 1/12.92, 0.04045)
	adobe := [3][3]float64{{0.6097, 0.3111, 0.0195}, {0.2052, 0.6257, 0.0609}, {0.1492, 0.0632, 0.7446}}
	gamma22 := func(x float64) float64 { return math.Pow(x, 2.2) }
	cases := []struct {
		name string
		p    []byte
		want bool
	}{
		{"sRGB parametric", iccProfile(srgbPrimaries, srgbPara), true},
		{"sRGB 1024-entry table", iccProfile(srgbPrimaries, tableCurve(1024, srgbEOTF)), true},
		{"sRGB with a LUT", iccProfile(srgbPrimaries, srgbPara, "A2B0"), false},
		{"Adobe RGB primaries", iccProfile(adobe, srgbPara), false},
		{"gamma 2.2 curve", iccProfile(srgbPrimaries, tableCurve(1024, gamma22)), false},
		{"pure gamma", iccProfile(srgbPrimaries, paraCurve(0, 2.2)), false},
		{"coarse table", iccProfile(srgbPrimaries, tableCurve(4, srgbEOTF)), false},
		{"truncated", iccProfile(srgbPrimaries, srgbPara)[:200], false},
		{"empty", nil, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := isSRGBProfile(c.p); got != c.want {
				t.Fatalf("isSRGBProfile = %v, want %v", got, c.want)
			}
		})
	}
	// The sRGB profile libvips' transforms target (govips ships it).
	if err := StartVips(); err != nil {
		t.Fatal(err)
	}
	path, err := vips.GetSRGBIEC6196621ICCProfilePath()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !isSRGBProfile(b) {
		t.Fatal("govips' sRGB IEC61966-2.1 profile not recognised")
	}
}

func FuzzIsSRGBProfile(f *testing.F) {
	f.Add(iccProfile(srgbPrimaries, paraCurve(3, 2.4, 1/1.055, 0.055/1.055, 1/12.92, 0.04045)))
	f.Add(iccProfile(srgbPrimaries, tableCurve(16, srgbEOTF), "A2B0"))
	f.Fuzz(func(t *testing.T, b []byte) { _ = isSRGBProfile(b) })
}
