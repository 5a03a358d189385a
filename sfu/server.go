package sfu

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/ipv4"

	"github.com/parleyhq/parley/internal/lifecycle"
	"github.com/parleyhq/parley/voiceproto"
)

// batchConn is the batched datagram I/O of golang.org/x/net's ipv4/ipv6
// PacketConn (recvmmsg/sendmmsg on Linux). ipv6.Message is the same type.
type batchConn interface {
	ReadBatch(ms []ipv4.Message, flags int) (int, error)
	WriteBatch(ms []ipv4.Message, flags int) (int, error)
}

// Server is the SFU on its native UDP address (and, with WebRTC, the
// browsers' one): it owns the sockets, the reader goroutines, the RTCP
// goroutine and every room.
//
// Packet path: reader.run (recvmmsg) → reader.handle (native: classify,
// discovery, SSRC lookup, decrypt) or reader.handleRTC (browsers: demux,
// SRTP open) → Participant.forward (per-receiver munging) → the receiver's
// transport.send (seal AEAD or SRTP into the reader's batch) →
// sender.flush (sendmmsg).
type Server struct {
	cfg Config
	log *slog.Logger
	// socks are SO_REUSEPORT sockets on one address, one per reader: the
	// kernel hashes each client's flow to one socket, so one sender's
	// packets are read, and forwarded, in order by one goroutine.
	socks    []*socket
	local    *net.UDPAddr
	publicIP string
	modes    []string
	stats    Stats
	vstats   VideoStats
	metrics  *metrics

	// rtc is the WebRTC side (rtc.go), nil without Config.WebRTCAddr.
	rtc *rtcHub
	// ctx ends at Close: it bounds the WebRTC handshakes.
	ctx    context.Context
	cancel context.CancelFunc

	// bySSRC is a copy-on-write map read on every packet without a lock.
	bySSRC atomic.Pointer[map[uint32]*Participant]

	mu     sync.Mutex // guards the following and writes to bySSRC
	rooms  map[string]*Room
	closed bool

	wg sync.WaitGroup
}

// New validates cfg and binds the UDP sockets.
func New(cfg Config) (*Server, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ua, _ := net.ResolveUDPAddr("udp", cfg.UDPAddr)
	first, err := listenReusePort(ua)
	if err != nil {
		return nil, fmt.Errorf("sfu: listen %s: %w", cfg.UDPAddr, err)
	}
	local := first.conn.LocalAddr().(*net.UDPAddr)
	s := &Server{cfg: cfg, log: cfg.Logger, socks: []*socket{first}, local: local,
		modes: voiceproto.Modes(cfg.LegacyModes), rooms: map[string]*Room{}}
	for len(s.socks) < cfg.Readers {
		sock, err := listenReusePort(local)
		if err != nil {
			s.closeSockets()
			return nil, fmt.Errorf("sfu: listen %s: %w", local, err)
		}
		s.socks = append(s.socks, sock)
	}
	s.publicIP = cfg.PublicIP
	if s.publicIP == "" {
		if local.IP.IsUnspecified() {
			s.publicIP = "127.0.0.1"
		} else {
			s.publicIP = local.IP.String()
		}
	}
	if cfg.WebRTCAddr != "" {
		if s.rtc, err = newRTCHub(cfg.WebRTCAddr, cfg.Readers, s.publicIP, pionLogs{cfg.Logger.With("component", "webrtc")}, &s.stats.WebRTCUnrouted); err != nil {
			s.closeSockets()
			return nil, err
		}
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	empty := map[uint32]*Participant{}
	s.bySSRC.Store(&empty)
	s.metrics = newMetrics(cfg.Metrics, &s.stats)
	return s, nil
}

// Start runs the reader goroutines until Close; it returns at once.
func (s *Server) Start(context.Context) error {
	readers := make([]*reader, 0, 2*len(s.socks))
	for i, sock := range s.socks {
		readers = append(readers, newReader(s, sock, false, i))
	}
	if s.rtc != nil {
		for i, sock := range s.rtc.socks {
			readers = append(readers, newReader(s, sock, true, i))
		}
		s.wg.Add(1)
		go func() { // the server's one RTCP goroutine, until Close
			defer s.wg.Done()
			s.rtc.runRTCP(s.ctx)
		}()
	}
	for _, r := range readers {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			r.run()
		}()
	}
	return nil
}

// Close stops the readers and closes the socket. It is idempotent: a
// second Close only waits.
func (s *Server) Close(ctx context.Context) error {
	s.mu.Lock()
	again := s.closed
	s.closed = true
	s.mu.Unlock()
	if again {
		return lifecycle.WaitContext(ctx, &s.wg)
	}
	s.cancel() // ends the WebRTC transports
	if s.rtc != nil {
		s.rtc.close()
	}
	err := s.closeSockets()
	if werr := lifecycle.WaitContext(ctx, &s.wg); werr != nil {
		return werr
	}
	return err
}

// LocalAddr is the socket's bound address.
func (s *Server) LocalAddr() *net.UDPAddr { return s.local }

// UDPEndpoint is the ip and port announced in Ready.
func (s *Server) UDPEndpoint() (string, int) { return s.publicIP, s.local.Port }

// Modes lists the encryption modes offered, in preference order.
func (s *Server) Modes() []string { return s.modes }

// Stats returns the server's counters.
func (s *Server) Stats() *Stats { return &s.stats }

// Join adds user to room, allocating a unique SSRC.
func (s *Server) Join(roomID, user string) (*Participant, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	room := s.rooms[roomID]
	if room == nil {
		room = newRoom(roomID)
		s.rooms[roomID] = room
		s.metrics.rooms.Set(float64(len(s.rooms)))
	}
	if len(room.snapshot()) >= s.cfg.MaxRoomSize {
		return nil, ErrRoomFull
	}
	old := *s.bySSRC.Load()
	var ssrc uint32
	for range 100 {
		c := rand.Uint32()
		if _, taken := old[c]; c != 0 && !taken {
			ssrc = c
			break
		}
	}
	if ssrc == 0 {
		return nil, ErrSSRCSpace
	}
	p := newParticipant(s, room, user, ssrc)
	next := make(map[uint32]*Participant, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	next[ssrc] = p
	s.bySSRC.Store(&next)
	room.add(p)
	s.metrics.participants.Inc()
	return p, nil
}

// leave removes p from its room and the SSRC map.
func (s *Server) leave(p *Participant) {
	s.mu.Lock()
	old := *s.bySSRC.Load()
	if old[p.ssrc] != p {
		s.mu.Unlock()
		return
	}
	next := make(map[uint32]*Participant, len(old))
	for k, v := range old {
		if v != p { // its audio SSRC and any video ones
			next[k] = v
		}
	}
	s.bySSRC.Store(&next)
	if p.room.remove(p) == 0 {
		delete(s.rooms, p.room.id)
		s.metrics.rooms.Set(float64(len(s.rooms)))
	}
	s.metrics.participants.Dec()
	s.mu.Unlock()
	// Forget the munging state others kept for p as a receiver, and
	// what browsers report about p as a source.
	for _, q := range p.room.snapshot() {
		q.forgetReceiver(p)
		if t, ok := q.rtcTransport(); ok {
			t.forgetSource(p)
		}
	}
}

// participant looks up an SSRC without locking.
func (s *Server) participant(ssrc uint32) *Participant {
	return (*s.bySSRC.Load())[ssrc]
}

// RoomSize reports the participants in a room (for tests and DebugInfo).
func (s *Server) RoomSize(roomID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.rooms[roomID]; r != nil {
		return len(r.snapshot())
	}
	return 0
}

// DebugInfo dumps the server's state.
func (s *Server) DebugInfo() map[string]any {
	s.mu.Lock()
	rooms := map[string]any{}
	for id, r := range s.rooms {
		var users []string
		for _, p := range r.snapshot() {
			users = append(users, p.user)
		}
		rooms[id] = users
	}
	s.mu.Unlock()
	return map[string]any{"udp": s.local.String(), "modes": s.modes, "rooms": rooms, "stats": s.stats.Snapshot()}
}

func (s *Server) closeSockets() error {
	var errs []error
	for _, sock := range s.socks {
		errs = append(errs, sock.conn.Close())
	}
	if s.rtc != nil {
		s.rtc.closeSockets()
	}
	return errors.Join(errs...)
}

// WebRTCAddr is the browsers' UDP address (nil without WebRTC).
func (s *Server) WebRTCAddr() *net.UDPAddr {
	if s.rtc == nil {
		return nil
	}
	return s.rtc.local
}

// countHandshakeFailure counts a browser's failed ICE or DTLS handshake.
func (s *Server) countHandshakeFailure(err error) {
	if errors.Is(err, errICE) {
		s.stats.ICEFailures.Add(1)
	} else {
		s.stats.DTLSFailures.Add(1)
	}
}

func isClosedErr(err error) bool { return errors.Is(err, net.ErrClosed) }

// now is the reader clock; a variable so benchmarks can see it in profiles.
var now = time.Now
