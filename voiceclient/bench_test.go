package voiceclient

import (
	"encoding/binary"
	"net"
	"testing"
	"time"

	"github.com/parleyhq/parley/internal/ogg"
	"github.com/parleyhq/parley/voiceproto"
)

// benchConn is a dialed-looking Conn whose UDP socket points at a local
// sink, for measuring the send and receive paths without a server.
func benchConn(b testing.TB, mode string) (*Conn, *voiceproto.Cipher) {
	b.Helper()
	sink, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { sink.Close() })
	go func() { // drain
		buf := make([]byte, 2048)
		for {
			if _, err := sink.Read(buf); err != nil {
				return
			}
		}
	}()
	u, err := net.DialUDP("udp4", nil, sink.LocalAddr().(*net.UDPAddr))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { u.Close() })
	ciph, err := voiceproto.NewCipher(mode, make([]byte, 32))
	if err != nil {
		b.Fatal(err)
	}
	c := newBareConn(func(Frame) {})
	c.ssrc, c.udp = 1, u
	c.cipher.Store(ciph)
	c.send.init(c)
	c.send.speaking = voiceproto.SpeakingMicrophone
	return c, ciph
}

func BenchmarkSendOpus(b *testing.B) {
	for _, mode := range []string{voiceproto.ModeAES256GCMRTPSize, voiceproto.ModeXChaCha20RTPSize} {
		b.Run(mode, func(b *testing.B) {
			c, _ := benchConn(b, mode)
			frame := ogg.SyntheticOpus(1, 1)[0]
			b.SetBytes(int64(len(frame)))
			b.ReportAllocs()
			for b.Loop() {
				if err := c.SendOpus(frame); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkReceive measures decrypt, parse and delivery of one datagram.
func BenchmarkReceive(b *testing.B) {
	for _, mode := range []string{voiceproto.ModeAES256GCMRTPSize, voiceproto.ModeXChaCha20RTPSize} {
		b.Run(mode, func(b *testing.B) {
			c, ciph := benchConn(b, mode)
			c.users[7] = "u"
			frame := ogg.SyntheticOpus(1, 2)[0]
			rtp := make([]byte, 12, 12+len(frame))
			rtp[0], rtp[1] = 0x80, 0x78
			binary.BigEndian.PutUint32(rtp[8:], 7)
			rtp = append(rtp, frame...)
			pkt, err := ciph.Seal(nil, rtp, [4]byte{0x80, 0, 0, 0xC0})
			if err != nil {
				b.Fatal(err)
			}
			clear := make([]byte, 0, 2048)
			now := time.Now()
			b.SetBytes(int64(len(frame)))
			b.ReportAllocs()
			for b.Loop() {
				c.handleDatagram(pkt, clear, now)
			}
			if c.stats.framesReceived.Load() == 0 || c.stats.decryptErrors.Load() != 0 {
				b.Fatal("nothing delivered")
			}
		})
	}
}
