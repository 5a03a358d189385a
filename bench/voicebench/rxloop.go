package voicebench

import (
	"encoding/binary"
	"sync/atomic"
	"time"

	"github.com/parleyhq/parley/sfu/voicecrypto"
)

// rxStats are one receive loop's counts, owned by its goroutine until it
// stops.
type rxStats struct {
	received   uint64 // generator packets decrypted
	inWindow   uint64 // ... whose send time lies in the measured window
	decryptErr uint64
	foreign    uint64 // datagrams that are not generator packets
	lat        histogram
	latApp     histogram
}

// rxLoop is one receive goroutine: an epoll instance over a share of the
// participants' sockets, recvmmsg, decryption and latency accounting.
type rxLoop struct {
	r     *run
	socks []*participant
	io    rxIO
	plain []byte
	st    rxStats

	// Published after every epoll wake-up for the progress line.
	pubReceived atomic.Uint64
	pubInWindow atomic.Uint64
	// secRecv counts in-window packets per second of send time.
	secRecv []atomic.Uint64
}

func newRxLoop(r *run) *rxLoop {
	return &rxLoop{r: r, plain: make([]byte, 0, rxBufSize)}
}

// packet accounts one received datagram. kernNS is the kernel's receive
// timestamp, userNS when the loop read it (both wall-clock ns).
func (l *rxLoop) packet(p *participant, pkt []byte, kernNS, userNS int64) {
	c := p.cipher
	if l.r.reflect {
		// The reflector forwards the sender's bytes: open with the
		// sender's key, found from the SSRC (index + 1).
		if len(pkt) < voicecrypto.FixedHeaderLen {
			l.st.foreign++
			return
		}
		i := int(binary.BigEndian.Uint32(pkt[8:12])) - 1
		if i < 0 || i >= len(l.r.parts) {
			l.st.foreign++
			return
		}
		c = l.r.parts[i].cipher
	}
	if voicecrypto.Classify(pkt) != voicecrypto.KindRTP {
		l.st.foreign++
		return
	}
	plain, err := c.Open(l.plain[:0], pkt)
	if err != nil {
		l.st.decryptErr++
		return
	}
	h, err := voicecrypto.ParseHeader(plain)
	if err != nil {
		l.st.foreign++
		return
	}
	sendNS, _, err := parsePayload(plain[h.PayloadStart:h.PayloadEnd])
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
	}
}

func (l *rxLoop) publish() {
	l.pubReceived.Store(l.st.received)
	l.pubInWindow.Store(l.st.inWindow)
}
