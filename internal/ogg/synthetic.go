package ogg

import (
	"bytes"
	"math/rand/v2"
)

// Silence is the Opus frame senders emit five times before they stop
// talking (CELT fullband 20 ms, stereo, no audio).
var Silence = []byte{0xF8, 0xFF, 0xFE}

// IsSilence reports whether p is the 3-byte Opus silence frame.
func IsSilence(p []byte) bool { return bytes.Equal(p, Silence) }

// Synthetic TOC bytes for 20 ms stereo single-frame packets (code 0):
// SILK wideband (config 9), Hybrid fullband (15) and CELT fullband (31).
var syntheticTOCs = [...]byte{9<<3 | 4, 15<<3 | 4, 31<<3 | 4}

// SyntheticOpus returns n deterministic pseudo-Opus frames for seed: each
// has a valid TOC byte for a 20 ms stereo frame (SILK, Hybrid or CELT) and a
// random body of 20..120 bytes. Decoders would produce noise, but clients
// forward Opus without decoding, so the frames survive a round trip through
// a voice server byte for byte. No frame equals Silence.
func SyntheticOpus(n int, seed uint64) [][]byte {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	out := make([][]byte, n)
	for i := range out {
		size := 20 + rng.IntN(101)
		f := make([]byte, 1+size)
		f[0] = syntheticTOCs[rng.IntN(len(syntheticTOCs))]
		for j := 1; j < len(f); j++ {
			f[j] = byte(rng.Uint32())
		}
		out[i] = f
	}
	return out
}
