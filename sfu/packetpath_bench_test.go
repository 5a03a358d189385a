package sfu

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"testing"

	"github.com/parleyhq/parley/voiceproto"
)

// BenchmarkPacketPath measures the whole per-packet path on one reader:
// receive-side decrypt, parse, munge per receiver, re-encrypt, and the
// batched sendmmsg to loopback, for one speaker fanned out to N-1
// receivers. ns/fwd is the cost per forwarded packet.
func BenchmarkPacketPath(b *testing.B) {
	for _, mode := range []string{voiceproto.ModeAES256GCMRTPSize, voiceproto.ModeXChaCha20RTPSize} {
		for _, size := range []int{2, 10} {
			for _, send := range []bool{true, false} {
				name := fmt.Sprintf("%s/room=%d/send=%v", mode, size, send)
				b.Run(name, func(b *testing.B) { benchPacketPath(b, mode, size, send) })
			}
		}
	}
}

func benchPacketPath(b *testing.B, mode string, size int, send bool) {
	n, err := New(Config{UDPAddr: "127.0.0.1:0", Readers: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer n.closeSockets()
	// Receivers' media goes to one sink socket that nobody reads: the
	// kernel drops what overflows, so only the server side is measured.
	sink, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	defer sink.Close()
	sinkAddr := sink.LocalAddr().(*net.UDPAddr)
	key := bytes.Repeat([]byte{1}, 32)
	var speaker *Participant
	for i := range size {
		p, err := n.Join("room", fmt.Sprint(i))
		if err != nil {
			b.Fatal(err)
		}
		if err := p.SetTransport(mode, key, ""); err != nil {
			b.Fatal(err)
		}
		p.setAddr(sinkAddr)
		if i == 0 {
			speaker = p
		}
	}
	c, _ := voiceproto.NewCipher(mode, key)
	payload := bytes.Repeat([]byte{0xAB}, 80)
	payload[0] = 0xFC
	const batch = 64
	pkts := make([][]byte, batch)
	for i := range pkts {
		hdr := make([]byte, 12, 12+len(payload)+c.Overhead())
		hdr[0], hdr[1] = 0x80, 0x78
		binary.BigEndian.PutUint16(hdr[2:], uint16(i))
		binary.BigEndian.PutUint32(hdr[4:], uint32(i)*960)
		binary.BigEndian.PutUint32(hdr[8:], speaker.ssrc)
		var nonce [4]byte
		binary.BigEndian.PutUint32(nonce[:], uint32(i+1))
		pkts[i], _ = c.Seal(nil, append(hdr, payload...), nonce)
	}
	from := &net.UDPAddr{IP: sinkAddr.IP, Port: sinkAddr.Port}
	r := newReader(n, n.socks[0], false, 0)
	seqBase := uint16(0)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		j := i % batch
		if j == 0 && i > 0 {
			if send {
				r.udp.flush(&r.ls)
			} else {
				r.udp.used = 0
			}
			// Advance the stream so every packet is new to the munger; the
			// header is AAD, so re-seal.
			b.StopTimer()
			seqBase += batch
			for k := range pkts {
				plain, err := c.Open(nil, pkts[k])
				if err != nil {
					b.Fatal(err)
				}
				binary.BigEndian.PutUint16(plain[2:], seqBase+uint16(k))
				binary.BigEndian.PutUint32(plain[4:], uint32(seqBase+uint16(k))*960)
				var nonce [4]byte
				binary.BigEndian.PutUint32(nonce[:], uint32(i+k+1))
				pkts[k], _ = c.Seal(pkts[k][:0], plain, nonce)
			}
			b.StartTimer()
		}
		r.handle(pkts[j], from)
	}
	if send {
		r.udp.flush(&r.ls)
	}
	b.StopTimer()
	fwd := float64(b.N) * float64(size-1)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/fwd, "ns/fwd")
	if r.ls.drops != [numDropReasons]uint64{} {
		b.Fatalf("drops: %v", r.ls.drops)
	}
}
