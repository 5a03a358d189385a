package sfu

import (
	"net"

	"golang.org/x/net/ipv4"
)

// slotSize is one outgoing datagram's buffer.
const slotSize = maxDatagram

// sender is a reader's outgoing batch: fixed slots in one slab, flushed
// with sendmmsg (WriteBatch).
type sender struct {
	sock *socket
	slab []byte
	msgs []ipv4.Message
	used int
}

func newSender(sock *socket, slots int) *sender {
	s := &sender{sock: sock, slab: make([]byte, slots*slotSize), msgs: make([]ipv4.Message, slots)}
	for i := range s.msgs {
		s.msgs[i].Buffers = [][]byte{nil}
	}
	return s
}

func (s *sender) free() int { return len(s.msgs) - s.used }

// slot returns the next free buffer (len 0, cap slotSize).
func (s *sender) slot() []byte {
	off := s.used * slotSize
	return s.slab[off : off : off+slotSize]
}

// commit queues the datagram written into the current slot.
func (s *sender) commit(b []byte, to *net.UDPAddr) {
	m := &s.msgs[s.used]
	m.Buffers[0] = b
	m.Addr = to
	s.used++
}

// flush sends every queued datagram and returns how many went out.
func (s *sender) flush(ls *localStats) int {
	sent := 0
	pending := s.msgs[:s.used]
	for len(pending) > 0 {
		k, err := s.sock.bc.WriteBatch(pending, 0)
		for i := 0; i < k; i++ {
			ls.bytes += uint64(len(pending[i].Buffers[0]))
		}
		sent += k
		pending = pending[k:]
		if err != nil {
			if isClosedErr(err) {
				break
			}
			// The first unsent datagram failed (e.g. unreachable): skip it.
			if len(pending) > 0 {
				ls.drops[DropSendError]++
				pending = pending[1:]
			}
		} else if k == 0 {
			break
		}
	}
	ls.out += uint64(sent)
	for i := range s.msgs[:s.used] {
		s.msgs[i].Addr = nil
	}
	s.used = 0
	return sent
}
