package voiceproto

import "encoding/binary"

// pkt describes a clear RTP packet for tests.
type pkt struct {
	marker  bool
	pt      uint8
	seq     uint16
	ts      uint32
	ssrc    uint32
	csrcs   []uint32
	ext     bool
	profile uint16
	extBody []byte // multiple of 4 bytes
	payload []byte
	padding int // 0 = none
}

func (p pkt) build() []byte {
	b0 := byte(0x80) | byte(len(p.csrcs))
	if p.ext {
		b0 |= 0x10
	}
	if p.padding > 0 {
		b0 |= 0x20
	}
	b1 := p.pt
	if p.marker {
		b1 |= 0x80
	}
	out := []byte{b0, b1}
	out = binary.BigEndian.AppendUint16(out, p.seq)
	out = binary.BigEndian.AppendUint32(out, p.ts)
	out = binary.BigEndian.AppendUint32(out, p.ssrc)
	for _, c := range p.csrcs {
		out = binary.BigEndian.AppendUint32(out, c)
	}
	if p.ext {
		out = binary.BigEndian.AppendUint16(out, p.profile)
		out = binary.BigEndian.AppendUint16(out, uint16(len(p.extBody)/4))
		out = append(out, p.extBody...)
	}
	out = append(out, p.payload...)
	if p.padding > 0 {
		for i := 0; i < p.padding-1; i++ {
			out = append(out, 0)
		}
		out = append(out, byte(p.padding))
	}
	return out
}

// rtpsizeLen is the clear part in the rtpsize modes, computed from the
// description rather than the bytes.
func (p pkt) rtpsizeLen() int {
	n := 12 + 4*len(p.csrcs)
	if p.ext {
		n += 4
	}
	return n
}

func seqBytes(n int, start byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = start + byte(i)
	}
	return b
}

var testKey = seqBytes(32, 0x40)

var allModes = []string{
	ModeAES256GCMRTPSize, ModeXChaCha20RTPSize, ModeXSalsa20, ModeXSalsa20Suffix,
	ModeXSalsa20Lite, ModeXSalsa20LiteRTPSize, ModeAES256GCM,
}

// shapes covers the header variants that change the clear/encrypted split.
var shapes = []struct {
	name string
	p    pkt
}{
	{"plain", pkt{pt: 120, seq: 1, ts: 960, ssrc: 0x11223344, payload: seqBytes(100, 1)}},
	{"empty_payload", pkt{pt: 120, seq: 2, ts: 1920, ssrc: 1}},
	{"ext", pkt{pt: 120, seq: 65535, ts: 0xFFFFFFFF, ssrc: 7, ext: true, profile: ExtProfileOneByte, extBody: []byte{0x10, 0xAA, 0, 0, 0x21, 1, 2, 0}, payload: []byte{0xF8, 0xFF, 0xFE}}},
	{"ext_empty_body", pkt{pt: 120, ssrc: 7, ext: true, profile: 0x1000, payload: seqBytes(20, 9)}},
	{"csrc_ext", pkt{marker: true, pt: 120, seq: 9, ts: 9, ssrc: 9, csrcs: []uint32{0xA1A2A3A4, 0xB1B2B3B4}, ext: true, profile: ExtProfileOneByte, extBody: seqBytes(12, 0x50), payload: seqBytes(60, 0x70)}},
	{"csrc_only", pkt{pt: 120, seq: 3, ssrc: 3, csrcs: []uint32{5}, payload: seqBytes(33, 3)}},
	{"padding", pkt{pt: 120, seq: 4, ssrc: 4, payload: seqBytes(17, 4), padding: 3}},
	{"ext_padding", pkt{pt: 120, seq: 5, ssrc: 5, ext: true, profile: ExtProfileOneByte, extBody: seqBytes(4, 0x90), payload: seqBytes(40, 5), padding: 8}},
	{"rtcp_like_pt", pkt{pt: 72, marker: true, seq: 6, ssrc: 6, payload: seqBytes(30, 6)}},
}
