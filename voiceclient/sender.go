package voiceclient

import (
	"math/rand/v2"
	"sync"

	"github.com/parleyhq/parley/voiceproto"
)

// MaxOpusSize is the largest Opus payload SendOpus accepts, so that the
// encrypted datagram stays under a typical 1500-byte MTU.
const MaxOpusSize = 1400

// SamplesPerFrame is the RTP timestamp step of one 20 ms frame at 48 kHz.
const SamplesPerFrame = 960

// Packet is an RTP packet to send with explicit header values (SendPacket).
type Packet struct {
	Seq       uint16
	Timestamp uint32
	Marker    bool
	Opus      []byte
}

// sender owns the outgoing RTP state: sequence, timestamp and nonce
// counters and the reusable buffers.
type sender struct {
	mu    sync.Mutex
	c     *Conn
	seq   uint16 // +checklocks:mu
	ts    uint32 // +checklocks:mu
	nonce uint32 // +checklocks:mu; BE counter from 1, like discordjs
	clear []byte // +checklocks:mu
	wire  []byte // +checklocks:mu

	// video is each video stream's sequence and picture ID (video.go).
	video []videoSend // +checklocks:mu

	speakMu  sync.Mutex
	speaking voiceproto.SpeakingFlags // +checklocks:speakMu; last flags sent
}

func (s *sender) init(c *Conn) {
	s.c = c
	s.seq = uint16(rand.Uint32())
	s.ts = rand.Uint32()
	s.video = make([]videoSend, len(c.videoStreams))
	for i := range s.video {
		s.video[i] = videoSend{seq: uint16(rand.Uint32()), pic: uint16(rand.Uint32()) & 0x7FFF}
	}
	s.clear = make([]byte, 0, 12+MaxOpusSize)
	s.wire = make([]byte, 0, 12+MaxOpusSize+64)
}

// SendOpus sends one Opus frame as one RTP packet: the sequence number
// advances by 1 and the timestamp by 960 (20 ms). If the client has not
// announced speaking, it sends op 5 Speaking first (the server needs it
// before audio).
func (c *Conn) SendOpus(frame []byte) error {
	if err := c.ensureSpeaking(); err != nil {
		return err
	}
	s := &c.send
	s.mu.Lock()
	defer s.mu.Unlock()
	seq, ts := s.seq, s.ts
	s.seq++
	s.ts += SamplesPerFrame
	return s.sendLocked(seq, ts, false, frame)
}

// SendPacket sends one RTP packet with the caller's sequence number,
// timestamp and marker, leaving SendOpus's counters alone. It is the hook
// for load generators and protocol tests; it does not send Speaking.
func (c *Conn) SendPacket(p Packet) error {
	s := &c.send
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sendLocked(p.Seq, p.Timestamp, p.Marker, p.Opus)
}

// NextSeqTS returns the sequence number and timestamp the next SendOpus
// will use.
func (c *Conn) NextSeqTS() (uint16, uint32) {
	c.send.mu.Lock()
	defer c.send.mu.Unlock()
	return c.send.seq, c.send.ts
}

// WriteDatagram writes raw bytes to the media socket (keepalives, RTCP,
// malformed packets in tests).
func (c *Conn) WriteDatagram(b []byte) error {
	u := c.udpConn()
	if u == nil {
		return ErrClosed
	}
	select {
	case <-c.closing:
		return ErrClosed
	default:
	}
	_, err := u.Write(b)
	return err
}

func (s *sender) sendLocked(seq uint16, ts uint32, marker bool, opus []byte) error {
	if len(opus) > MaxOpusSize {
		return ErrFrameTooLarge
	}
	c := s.c
	ciph := c.cipher.Load()
	if ciph == nil && c.rtc == nil {
		return ErrClosed
	}
	select {
	case <-c.closing:
		return ErrClosed
	default:
	}
	var err error
	if c.dave != nil { // the same DAVE frame on either transport
		if opus, err = c.dave.encrypt(opus); err != nil {
			return err
		}
	}
	if c.rtc != nil {
		err = c.rtc.write(seq, ts, marker, opus) // pion seals SRTP
	} else {
		b := s.clear[:voiceproto.FixedHeaderLen]
		voiceproto.PutFixedHeader(b, marker, voiceproto.PayloadTypeOpus, seq, ts, c.ssrc)
		b = append(b, opus...)
		s.nonce++
		wire, serr := ciph.Seal(s.wire[:0], b, voiceproto.ClientNonce(s.nonce))
		if serr != nil {
			return serr
		}
		_, err = c.udp.Write(wire)
	}
	if err != nil {
		c.stats.udpErrors.Add(1)
		return err
	}
	c.stats.framesSent.Add(1)
	c.stats.bytesSent.Add(uint64(len(opus)))
	return nil
}

// Speaking sends op 5 with the microphone flag set or cleared.
func (c *Conn) Speaking(on bool) error {
	var flags voiceproto.SpeakingFlags
	if on {
		flags = voiceproto.SpeakingMicrophone
	}
	return c.SetSpeaking(flags)
}

// SetSpeaking sends op 5 with the given flags
// (voiceproto.SpeakingMicrophone etc.).
func (c *Conn) SetSpeaking(flags voiceproto.SpeakingFlags) error {
	c.send.speakMu.Lock()
	defer c.send.speakMu.Unlock()
	if err := c.writeOp(voiceproto.OpSpeaking, voiceproto.Speaking{Speaking: flags, Delay: 0, SSRC: c.ssrc}); err != nil {
		return err
	}
	c.send.speaking = flags
	return nil
}

func (c *Conn) ensureSpeaking() error {
	c.send.speakMu.Lock()
	on := c.send.speaking != 0
	c.send.speakMu.Unlock()
	if on {
		return nil
	}
	return c.Speaking(true)
}
