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

	"github.com/parleyhq/parley/sfu/voicecrypto"
	"golang.org/x/net/ipv4"
)

// batchConn is the batched datagram I/O of golang.org/x/net's ipv4/ipv6
// PacketConn (recvmmsg/sendmmsg on Linux). ipv6.Message is the same type.
type batchConn interface {
	ReadBatch(ms []ipv4.Message, flags int) (int, error)
	WriteBatch(ms []ipv4.Message, flags int) (int, error)
}

// Node is the SFU on one UDP socket: it owns the socket, the reader
// goroutines and every room.
//
// Packet path: reader.run (recvmmsg) → Node.handle (classify, discovery,
// SSRC lookup, decrypt) → Participant.forward (per-receiver munging and
// re-encryption into the reader's batch) → sender.flush (sendmmsg).
type Node struct {
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
	metrics  *metrics

	// bySSRC is a copy-on-write map read on every packet without a lock.
	bySSRC atomic.Pointer[map[uint32]*Participant]

	mu     sync.Mutex // guards the following and writes to bySSRC
	rooms  map[string]*Room
	closed bool

	wg sync.WaitGroup
}

// NewNode validates cfg and binds the UDP socket.
func NewNode(cfg Config) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ua, _ := net.ResolveUDPAddr("udp", cfg.UDPAddr)
	first, err := listenReusePort(ua)
	if err != nil {
		return nil, fmt.Errorf("sfu: listen %s: %w", cfg.UDPAddr, err)
	}
	local := first.conn.LocalAddr().(*net.UDPAddr)
	n := &Node{cfg: cfg, log: cfg.Logger, socks: []*socket{first}, local: local,
		modes: voicecrypto.Modes(cfg.LegacyModes), rooms: map[string]*Room{}}
	for len(n.socks) < cfg.Readers {
		s, err := listenReusePort(local)
		if err != nil {
			n.closeSockets()
			return nil, fmt.Errorf("sfu: listen %s: %w", local, err)
		}
		n.socks = append(n.socks, s)
	}
	n.publicIP = cfg.PublicIP
	if n.publicIP == "" {
		if local.IP.IsUnspecified() {
			n.publicIP = "127.0.0.1"
		} else {
			n.publicIP = local.IP.String()
		}
	}
	empty := map[uint32]*Participant{}
	n.bySSRC.Store(&empty)
	n.metrics = newMetrics(cfg.Metrics, &n.stats)
	return n, nil
}

// Start runs the reader goroutines until Close.
func (n *Node) Start() {
	for _, sock := range n.socks {
		r := newReader(n, sock)
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			r.run()
		}()
	}
}

// Close stops the readers and closes the socket.
func (n *Node) Close(ctx context.Context) error {
	n.mu.Lock()
	n.closed = true
	n.mu.Unlock()
	err := n.closeSockets()
	done := make(chan struct{})
	go func() { n.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return ctx.Err()
	}
	return err
}

// LocalAddr is the socket's bound address.
func (n *Node) LocalAddr() *net.UDPAddr { return n.local }

// UDPEndpoint is the ip and port announced in Ready.
func (n *Node) UDPEndpoint() (string, int) { return n.publicIP, n.local.Port }

// Modes lists the encryption modes offered, in preference order.
func (n *Node) Modes() []string { return n.modes }

// Stats returns the node's counters.
func (n *Node) Stats() *Stats { return &n.stats }

// Join adds user to room, allocating a unique SSRC.
func (n *Node) Join(roomID, user string) (*Participant, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil, ErrClosed
	}
	room := n.rooms[roomID]
	if room == nil {
		room = newRoom(roomID)
		n.rooms[roomID] = room
		n.metrics.rooms.Set(float64(len(n.rooms)))
	}
	if len(room.snapshot()) >= n.cfg.MaxRoomSize {
		return nil, ErrRoomFull
	}
	old := *n.bySSRC.Load()
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
	p := newParticipant(n, room, user, ssrc)
	next := make(map[uint32]*Participant, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	next[ssrc] = p
	n.bySSRC.Store(&next)
	room.add(p)
	n.metrics.participants.Inc()
	return p, nil
}

// leave removes p from its room and the SSRC map.
func (n *Node) leave(p *Participant) {
	n.mu.Lock()
	old := *n.bySSRC.Load()
	if old[p.ssrc] != p {
		n.mu.Unlock()
		return
	}
	next := make(map[uint32]*Participant, len(old))
	for k, v := range old {
		if k != p.ssrc {
			next[k] = v
		}
	}
	n.bySSRC.Store(&next)
	if p.room.remove(p) == 0 {
		delete(n.rooms, p.room.id)
		n.metrics.rooms.Set(float64(len(n.rooms)))
	}
	n.metrics.participants.Dec()
	n.mu.Unlock()
	// Forget the munging state others kept for p as a receiver.
	for _, q := range p.room.snapshot() {
		q.forgetReceiver(p)
	}
}

// participant looks up an SSRC without locking.
func (n *Node) participant(ssrc uint32) *Participant {
	return (*n.bySSRC.Load())[ssrc]
}

// RoomSize reports the participants in a room (for tests and DebugInfo).
func (n *Node) RoomSize(roomID string) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	if r := n.rooms[roomID]; r != nil {
		return len(r.snapshot())
	}
	return 0
}

// DebugInfo dumps the node's state.
func (n *Node) DebugInfo() map[string]any {
	n.mu.Lock()
	rooms := map[string]any{}
	for id, r := range n.rooms {
		var users []string
		for _, p := range r.snapshot() {
			users = append(users, p.user)
		}
		rooms[id] = users
	}
	n.mu.Unlock()
	return map[string]any{"udp": n.local.String(), "modes": n.modes, "rooms": rooms, "stats": n.stats.Snapshot()}
}

func (n *Node) closeSockets() error {
	var errs []error
	for _, s := range n.socks {
		errs = append(errs, s.conn.Close())
	}
	return errors.Join(errs...)
}

func isClosedErr(err error) bool { return errors.Is(err, net.ErrClosed) }

// now is the reader clock; a variable so benchmarks can see it in profiles.
var now = time.Now
