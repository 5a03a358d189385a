package voiceproto

import "testing"

// benchPacket is a typical Opus packet: 12-byte header, 100-byte payload.
func benchPacket() []byte {
	return pkt{pt: 120, seq: 1, ts: 960, ssrc: 1, payload: seqBytes(100, 0)}.build()
}

func BenchmarkSeal(b *testing.B) {
	for _, m := range allModes {
		b.Run(m, func(b *testing.B) {
			c := mustNew(b, m)
			rtp := benchPacket()
			dst := make([]byte, 0, 256)
			var sn ServerNonce
			b.SetBytes(100)
			b.ReportAllocs()
			for b.Loop() {
				n, _ := sn.Next()
				if _, err := c.Seal(dst, rtp, n); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkOpen(b *testing.B) {
	for _, m := range allModes {
		b.Run(m, func(b *testing.B) {
			c := mustNew(b, m)
			wire, _ := c.Seal(nil, benchPacket(), [4]byte{1})
			dst := make([]byte, 0, 256)
			b.SetBytes(100)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Open(dst, wire); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkParseHeader(b *testing.B) {
	rtp := benchPacket()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseHeader(rtp); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkClassify(b *testing.B) {
	rtp := benchPacket()
	b.ReportAllocs()
	for b.Loop() {
		if Classify(rtp) != KindRTP {
			b.Fatal("not RTP")
		}
	}
}
