package mediaproxy

import (
	"encoding/binary"
	"math"
)

// sRGB's colorimetry as an ICC v2/v4 matrix-shaper profile states it: the
// D50-adapted primaries (rXYZ, gXYZ, bXYZ tags) of IEC 61966-2-1, and its
// transfer curve.
var srgbPrimaries = [3][3]float64{
	{0.4361, 0.2225, 0.0139}, // red
	{0.3851, 0.7169, 0.0971}, // green
	{0.1431, 0.0606, 0.7141}, // blue
}

const (
	// srgbXYZTolerance absorbs s15Fixed16 rounding and the small
	// differences between published sRGB profiles (HP's, libvips', ICC's).
	srgbXYZTolerance = 0.0025
	// srgbTRCLevels keeps a matching curve within half an 8-bit level of
	// the sRGB curve (measured in encoded values), so skipping the transform
	// changes no output pixel by more than rounding.
	srgbTRCLevels = 0.5
)

// isSRGBProfile reports whether an embedded ICC profile describes sRGB
// itself, so that transforming to sRGB would be an identity and can be
// skipped (imgproxy skips the canonical HP profile by its header; this
// checks the colorimetry instead, so every sRGB profile qualifies, and
// nothing else does). It requires an RGB matrix-shaper profile with XYZ
// connection space, no lookup-table tags (which would take precedence in a
// transform), sRGB primaries and sRGB transfer curves. It never panics on
// malformed data; anything it cannot read is "not sRGB".
func isSRGBProfile(p []byte) bool {
	if len(p) < 132 || int(binary.BigEndian.Uint32(p[0:4])) > len(p) ||
		string(p[16:20]) != "RGB " || string(p[20:24]) != "XYZ " {
		return false
	}
	n := int(binary.BigEndian.Uint32(p[128:132]))
	if n > (len(p)-132)/12 {
		return false
	}
	var xyz [3][]byte
	var trc [3][]byte
	for i := range n {
		e := p[132+12*i:]
		sig := string(e[0:4])
		off, size := int(binary.BigEndian.Uint32(e[4:8])), int(binary.BigEndian.Uint32(e[8:12]))
		if off < 0 || size < 0 || off > len(p) || size > len(p)-off {
			return false
		}
		data := p[off : off+size]
		switch sig {
		case "A2B0", "A2B1", "A2B2", "B2A0", "B2A1", "B2A2", "D2B0", "B2D0":
			return false
		case "rXYZ":
			xyz[0] = data
		case "gXYZ":
			xyz[1] = data
		case "bXYZ":
			xyz[2] = data
		case "rTRC":
			trc[0] = data
		case "gTRC":
			trc[1] = data
		case "bTRC":
			trc[2] = data
		}
	}
	for c := range 3 {
		d := xyz[c]
		if len(d) < 20 || string(d[0:4]) != "XYZ " {
			return false
		}
		for k := range 3 {
			v := float64(int32(binary.BigEndian.Uint32(d[8+4*k:]))) / 65536
			if math.Abs(v-srgbPrimaries[c][k]) > srgbXYZTolerance {
				return false
			}
		}
		if !isSRGBCurve(trc[c]) {
			return false
		}
	}
	return true
}

// srgbEOTF is the sRGB transfer function (encoded → linear).
func srgbEOTF(x float64) float64 {
	if x <= 0.04045 {
		return x / 12.92
	}
	return math.Pow((x+0.055)/1.055, 2.4)
}

// srgbSlope is the derivative of srgbEOTF.
func srgbSlope(x float64) float64 {
	if x <= 0.04045 {
		return 1 / 12.92
	}
	return 2.4 / 1.055 * math.Pow((x+0.055)/1.055, 1.4)
}

// isSRGBCurve checks a curveType or parametricCurveType tag against the
// sRGB curve at every 8-bit input level.
func isSRGBCurve(d []byte) bool {
	if len(d) < 12 {
		return false
	}
	var eval func(x float64) float64
	switch string(d[0:4]) {
	case "curv":
		n := int(binary.BigEndian.Uint32(d[8:12]))
		if n < 2 || n > (len(d)-12)/2 { // 0 = identity, 1 = pure gamma: not sRGB
			return false
		}
		eval = func(x float64) float64 { // linear interpolation, as lcms does
			pos := x * float64(n-1)
			i := min(int(pos), n-2)
			a := float64(binary.BigEndian.Uint16(d[12+2*i:])) / 65535
			b := float64(binary.BigEndian.Uint16(d[12+2*i+2:])) / 65535
			return a + (b-a)*(pos-float64(i))
		}
	case "para":
		typ := binary.BigEndian.Uint16(d[8:10])
		if typ > 4 {
			return false
		}
		nParams := [...]int{1, 3, 4, 5, 7}[typ]
		if len(d) < 12+4*nParams {
			return false
		}
		var g [7]float64
		for k := range nParams {
			g[k] = float64(int32(binary.BigEndian.Uint32(d[12+4*k:]))) / 65536
		}
		switch typ {
		case 3: // Y = (aX+b)^g for X >= d, else cX
			eval = func(x float64) float64 {
				if x >= g[4] {
					return math.Pow(max(g[1]*x+g[2], 0), g[0])
				}
				return g[3] * x
			}
		case 4: // Y = (aX+b)^g + e for X >= d, else cX + f
			eval = func(x float64) float64 {
				if x >= g[4] {
					return math.Pow(max(g[1]*x+g[2], 0), g[0]) + g[5]
				}
				return g[3]*x + g[6]
			}
		default:
			return false
		}
	default:
		return false
	}
	for i, ref := range srgbRef {
		if math.Abs(eval(float64(i)/255)-ref.y) > ref.tol {
			return false
		}
	}
	return true
}

// srgbRef holds, per 8-bit level, the sRGB curve's linear value and the
// tolerance around it: a linear-domain error e is an encoded error of
// about e / slope, and the encoded error allowed is srgbTRCLevels.
var srgbRef = func() (t [256]struct{ y, tol float64 }) {
	for i := range t {
		x := float64(i) / 255
		t[i].y, t[i].tol = srgbEOTF(x), srgbTRCLevels/255*srgbSlope(x)
	}
	return t
}()
