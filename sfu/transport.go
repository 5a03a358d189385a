package sfu

import (
	"sync/atomic"

	"github.com/parleyhq/parley/voiceproto"
)

// transport is how one participant's downlink is sealed and where it goes:
// the seam between the one forward path (Participant.forward, the munger,
// the drop rules) and the wire formats. udpTransport is the native one
// (RTP with AEAD transport encryption, voice-protocol.md §3); rtcTransport
// the browsers' (SRTP over ICE and DTLS, rtc_transport.go). A transport
// is installed whole and replaced whole; its methods are called by
// several readers at once.
type transport interface {
	// ready reports whether media for the receiver can be sent now (keys
	// and an address); the forward path drops, not forwards, otherwise.
	ready(q *Participant) bool
	// send seals one forwarded packet — the fixed header it writes from
	// out (marker as given), ssrc, then payload — for receiver q into the
	// reader's outgoing batch. It returns numDropReasons when queued, or
	// why it was dropped.
	send(r *reader, q *Participant, seq uint16, ts uint32, marker bool, ssrc uint32, payload []byte) DropReason
}

// udpTransport is the native transport: one AEAD mode and key from Select
// Protocol, media to the participant's proven or declared address.
type udpTransport struct {
	cipher *voiceproto.Cipher
	// nonce counts the server's packets under this key; values map into
	// the server nonce space (voice-protocol.md §3.4).
	nonce atomic.Uint32
}

func (t *udpTransport) ready(q *Participant) bool { return q.addr.Load() != nil }

func (t *udpTransport) send(r *reader, q *Participant, seq uint16, ts uint32, marker bool, ssrc uint32, payload []byte) DropReason {
	return t.sendPT(r, q, voiceproto.PayloadTypeOpus, seq, ts, marker, ssrc, payload)
}

// sendPT is send with the payload type pt (video keeps its sender's).
func (t *udpTransport) sendPT(r *reader, q *Participant, pt uint8, seq uint16, ts uint32, marker bool, ssrc uint32, payload []byte) DropReason {
	to := q.addr.Load()
	if to == nil {
		return DropReceiverNotReady
	}
	nonce, ok := t.next()
	if !ok {
		return DropNonceSpace
	}
	b := r.udp.slot()[:voiceproto.FixedHeaderLen]
	voiceproto.PutFixedHeader(b, marker, pt, seq, ts, ssrc)
	b = append(b, payload...)
	sealed, err := t.cipher.Seal(b[:0], b, nonce)
	if err != nil {
		return DropSendError
	}
	r.udp.commit(sealed, to)
	return numDropReasons
}

// next returns the next server nonce under this key (safe for concurrent
// readers).
func (t *udpTransport) next() ([4]byte, bool) {
	// Once exhausted, stop counting so the counter can never wrap back
	// into used values.
	if t.nonce.Load() >= voiceproto.ServerNonceSpace {
		return [4]byte{}, false
	}
	n := t.nonce.Add(1) - 1
	return voiceproto.ServerNonceAt(n)
}
