package voicebench

import (
	"sync/atomic"
	"time"

	"github.com/parleyhq/parley/voiceproto"
)

// rxStats are one event loop's receive counts, owned by its goroutine until
// it stops.
type rxStats struct {
	received   uint64 // generator packets decrypted
	inWindow   uint64 // ... whose send time lies in the measured window
	decryptErr uint64
	foreign    uint64 // datagrams that are not generator packets
	srtcp      uint64 // SRTCP datagrams web participants received (not opened)
	lat        histogram
	latApp     histogram
	// dirRecv counts in-window deliveries by sender and receiver kind
	// (runs with web participants only).
	dirRecv [numKinds][numKinds]uint64
}

// loop is one generator event loop on a locked OS thread: it sends its
// speakers' due packets, drains its sockets' ready datagrams (epoll with a
// zero timeout, recvmmsg), and sleeps until the next send or the next poll,
// whichever is later. Every syscall it makes is non-blocking or a sleep
// issued as a raw syscall, so the thread never hands its P back and forth
// with the Go scheduler (and never keeps sysmon awake): one wake-up per
// quantum, whatever the packet rate.
type loop struct {
	r        *run
	socks    []*participant // sockets this loop receives on
	speakers []*participant // speakers this loop sends for, in phase order
	io       rxIO
	plain    []byte
	sendBuf  []byte
	st       rxStats

	// Send state: speakers[next] is due in frame.
	next, frame                  int
	sent, sentWin, late, sendErr uint64
	// dirExp counts in-window deliveries expected by sender and receiver
	// kind (runs with web participants only).
	dirExp [numKinds][numKinds]uint64

	// Published after every round for the progress line and the result.
	pubReceived, pubInWindow                 atomic.Uint64
	pubSent, pubSentWin, pubLate, pubSendErr atomic.Uint64
	// secRecv and secExp count in-window deliveries received and expected
	// per second of send time.
	secRecv, secExp []atomic.Uint64
}

func newLoop(r *run) *loop {
	return &loop{r: r, plain: make([]byte, 0, rxBufSize), sendBuf: make([]byte, rxBufSize)}
}

// run is the event loop. It returns when r.stopRx is set; sending stops
// earlier, at r.stopSend.
func (l *loop) run() error {
	pinThread()
	r := l.r
	quantum := r.cfg.Quantum
	for !r.stopRx.Load() {
		now := time.Since(r.start)
		if !r.stopSend.Load() {
			l.sendDue(now)
		}
		if err := l.poll(); err != nil {
			return err
		}
		l.publish()
		wake := now + quantum
		if len(l.speakers) > 0 && !r.stopSend.Load() {
			wake = max(wake, l.due())
		}
		rawSleep(wake - time.Since(r.start))
	}
	return nil
}

// due is when speakers[next] must send, relative to r.start.
func (l *loop) due() time.Duration {
	return time.Duration(l.frame)*FrameInterval + l.speakers[l.next].phase
}

// sendDue sends every packet due by now.
func (l *loop) sendDue(now time.Duration) {
	if len(l.speakers) == 0 {
		return
	}
	r := l.r
	size := uint64(r.cfg.Size - 1)
	for l.due() <= now {
		p := l.speakers[l.next]
		sendNS := time.Now().UnixNano()
		inWin := sendNS >= r.winStart && sendNS < r.winEnd
		if inWin && now-l.due() > time.Millisecond {
			l.late++
		}
		if err := r.sendOne(p, l.sendBuf, sendNS); err != nil {
			l.sendErr++
		} else {
			l.sent++
			if inWin {
				l.sentWin++
				l.secExp[(sendNS-r.winStart)/int64(time.Second)].Add(size)
				if r.mixed() {
					from := p.kind()
					l.dirExp[from][kindNative] += p.peers[kindNative]
					l.dirExp[from][kindWeb] += p.peers[kindWeb]
				}
			}
		}
		if l.next++; l.next == len(l.speakers) {
			l.next, l.frame = 0, l.frame+1
		}
	}
}

// sendOne builds, seals and sends p's next packet stamped with sendNS.
func (r *run) sendOne(p *participant, buf []byte, sendNS int64) error {
	if p.link != nil {
		return r.sendSRTP(p, buf, sendNS)
	}
	n := voiceproto.FixedHeaderLen + r.cfg.PayloadSize
	b := buf[:n]
	voiceproto.PutFixedHeader(b, false, voiceproto.PayloadTypeOpus, p.seq, p.ts, p.ssrc)
	putPayload(b[voiceproto.FixedHeaderLen:], sendNS, uint32(p.idx))
	// A big-endian counter from 1, as discordjs: never in the server's
	// nonce space (voice-protocol.md §3.4).
	p.nonce++
	sealed, err := p.cipher.Seal(b[:0], b, voiceproto.ClientNonce(p.nonce))
	if err != nil {
		return err
	}
	p.seq++
	p.ts += 960
	return p.sock.send(sealed)
}

// sendSRTP is sendOne for a web participant: the same packet with the
// web dialect's Opus payload type, sealed with its SRTP context.
func (r *run) sendSRTP(p *participant, buf []byte, sendNS int64) error {
	n := voiceproto.FixedHeaderLen + r.cfg.PayloadSize
	b := buf[:n]
	voiceproto.PutFixedHeader(b, false, webOpusPT, p.seq, p.ts, p.ssrc)
	putPayload(b[voiceproto.FixedHeaderLen:], sendNS, uint32(p.idx))
	sealed, err := p.link.seal.EncryptRTP(b[:0], b, &p.link.sealHdr)
	if err != nil {
		return err
	}
	p.seq++
	p.ts += 960
	return p.sock.send(sealed)
}

// packet accounts one received datagram. kernNS is the kernel's receive
// timestamp, userNS when the loop read it (both wall-clock ns).
func (l *loop) packet(p *participant, pkt []byte, kernNS, userNS int64) {
	if p.link != nil {
		l.srtpPacket(p, pkt, kernNS, userNS)
		return
	}
	c := p.cipher
	if l.r.reflect {
		// The reflector forwards the sender's bytes: open with the
		// sender's key, found from the SSRC (index + 1).
		ssrc, ok := voiceproto.PeekSSRC(pkt)
		i := int(ssrc) - 1
		if !ok || i < 0 || i >= len(l.r.parts) {
			l.st.foreign++
			return
		}
		c = l.r.parts[i].cipher
	}
	if voiceproto.Classify(pkt) != voiceproto.KindRTP {
		l.st.foreign++
		return
	}
	plain, err := c.Open(l.plain[:0], pkt)
	if err != nil {
		l.st.decryptErr++
		return
	}
	h, err := voiceproto.ParseHeader(plain)
	if err != nil {
		l.st.foreign++
		return
	}
	l.deliver(p, plain[h.PayloadStart:h.PayloadEnd], kernNS, userNS)
}

// srtpPacket is packet for a web participant: RFC 7983 by the first byte,
// SRTCP (reports; byte 1 in 192-223, RFC 5761 §4) counted and left
// unopened, SRTP opened with its context.
func (l *loop) srtpPacket(p *participant, pkt []byte, kernNS, userNS int64) {
	if len(pkt) < 2 || pkt[0] < 128 || pkt[0] >= 192 {
		l.st.foreign++ // STUN or DTLS after the handshake
		return
	}
	if voiceproto.IsMuxedRTCP(pkt) {
		l.st.srtcp++
		return
	}
	plain, err := p.link.open.DecryptRTP(l.plain[:0], pkt, &p.link.openHdr)
	if err != nil {
		l.st.decryptErr++
		return
	}
	h, err := voiceproto.ParseHeader(plain)
	if err != nil || h.PayloadType != webOpusPT {
		l.st.foreign++
		return
	}
	l.deliver(p, plain[h.PayloadStart:h.PayloadEnd], kernNS, userNS)
}

// deliver accounts one opened generator payload received by p.
func (l *loop) deliver(p *participant, payload []byte, kernNS, userNS int64) {
	sendNS, sender, err := parsePayload(payload)
	if err != nil {
		l.st.foreign++
		return
	}
	l.st.received++
	if sendNS >= l.r.winStart && sendNS < l.r.winEnd {
		l.st.inWindow++
		l.secRecv[(sendNS-l.r.winStart)/int64(time.Second)].Add(1)
		l.st.lat.add(kernNS - sendNS)
		l.st.latApp.add(userNS - sendNS)
		if l.r.mixed() && int(sender) < len(l.r.parts) {
			l.st.dirRecv[l.r.parts[sender].kind()][p.kind()]++
		}
	}
}

func (l *loop) publish() {
	l.pubReceived.Store(l.st.received)
	l.pubInWindow.Store(l.st.inWindow)
	l.pubSent.Store(l.sent)
	l.pubSentWin.Store(l.sentWin)
	l.pubLate.Store(l.late)
	l.pubSendErr.Store(l.sendErr)
}
