package signaling

import (
	"context"
	"crypto/ecdsa"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/parleyhq/parley/e2ee/mls"
	"github.com/parleyhq/parley/internal/lifecycle"
	"github.com/parleyhq/parley/internal/voicectl"
	"github.com/parleyhq/parley/internal/voicetoken"
	"github.com/parleyhq/parley/voiceproto"
)

// Config configures a voice gateway Server.
type Config struct {
	Media  Media
	Tokens *voicetoken.Signer
	// Admitter is the control plane asked at every Identify and Resume
	// whether the session is still known and with which server mute and
	// deafen it starts (voicectl). Nil: the token alone admits, and the
	// node's own moderation table (Controller) applies.
	Admitter voicectl.Admitter
	// AdmitTimeout bounds one Admit call (default 5 s).
	AdmitTimeout time.Duration
	// HeartbeatInterval is announced in Hello and Ready (default 13.75 s).
	HeartbeatInterval time.Duration
	// HeartbeatTimeout closes a session with 4009 after this long without a
	// heartbeat (default 2.5 × HeartbeatInterval).
	HeartbeatTimeout time.Duration
	// IdentifyTimeout closes a connection that neither identifies nor
	// resumes in time with 4003 (default 5 s: clients identify at once).
	IdentifyTimeout time.Duration
	// ResumeWindow keeps a disconnected session (and its media) resumable
	// (default 30 s).
	ResumeWindow time.Duration
	// MaxMessageBytes bounds one client frame (default 64 KiB).
	MaxMessageBytes int64
	// RateBurst and RatePerSecond bound client messages per connection
	// (default 60 and 2/s); exceeding them closes with 4021.
	RateBurst     int
	RatePerSecond float64
	// ReplayBuffer is how many numbered v8 messages are kept for resume.
	ReplayBuffer int
	// DAVE is the end-to-end encryption policy (default DAVEPreferred).
	DAVE DAVEPolicy
	// DAVETransitionTimeout bounds the wait for op 23 before a transition
	// executes anyway (default dave.DefaultTransitionTimeout, 2 s).
	DAVETransitionTimeout time.Duration
	// DAVERateBurst and DAVERatePerSecond bound a connection's DAVE
	// messages (ops 23, 26, 28, 31), separately from the others (default
	// 120 and 10/s); exceeding them closes with 4021.
	DAVERateBurst     int
	DAVERatePerSecond float64
	// DAVESigner is the gateway's MLS external-sender key (dave.md §5);
	// nil generates one.
	DAVESigner *ecdsa.PrivateKey
	Logger     *slog.Logger
	Metrics    prometheus.Registerer
	Now        func() time.Time
}

// withDefaults returns c with every zero field that has a default set.
func (c Config) withDefaults() Config {
	if c.HeartbeatInterval == 0 {
		c.HeartbeatInterval = 13750 * time.Millisecond
	}
	if c.HeartbeatTimeout == 0 {
		c.HeartbeatTimeout = c.HeartbeatInterval * 5 / 2
	}
	if c.IdentifyTimeout == 0 {
		c.IdentifyTimeout = 5 * time.Second
	}
	if c.ResumeWindow == 0 {
		c.ResumeWindow = 30 * time.Second
	}
	if c.MaxMessageBytes == 0 {
		c.MaxMessageBytes = 64 << 10
	}
	if c.RateBurst == 0 {
		c.RateBurst = 60
	}
	if c.RatePerSecond == 0 {
		c.RatePerSecond = 2
	}
	if c.ReplayBuffer == 0 {
		c.ReplayBuffer = 256
	}
	if c.DAVERateBurst == 0 {
		c.DAVERateBurst = 120
	}
	if c.DAVERatePerSecond == 0 {
		c.DAVERatePerSecond = 10
	}
	if c.AdmitTimeout == 0 {
		c.AdmitTimeout = 5 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Validate reports the first invalid field; it changes nothing (New
// applies the defaults first).
func (c Config) Validate() error {
	if c.Media == nil {
		return fmt.Errorf("%w: Media is nil", ErrConfig)
	}
	if c.Tokens == nil {
		return fmt.Errorf("%w: Tokens is nil", ErrConfig)
	}
	if c.HeartbeatInterval < 0 || c.HeartbeatTimeout < 0 || c.IdentifyTimeout < 0 || c.ResumeWindow < 0 || c.AdmitTimeout < 0 {
		return fmt.Errorf("%w: negative interval or timeout", ErrConfig)
	}
	if c.MaxMessageBytes < 0 || c.RateBurst < 0 || c.RatePerSecond < 0 || c.ReplayBuffer < 0 ||
		c.DAVERateBurst < 0 || c.DAVERatePerSecond < 0 {
		return fmt.Errorf("%w: negative limit", ErrConfig)
	}
	switch c.DAVE {
	case DAVEPreferred, DAVERequired, DAVEOff:
	default:
		return fmt.Errorf("%w: unknown DAVE policy %d", ErrConfig, int(c.DAVE))
	}
	if c.DAVETransitionTimeout < 0 {
		return fmt.Errorf("%w: negative DAVE transition timeout", ErrConfig)
	}
	return nil
}

// Server is the voice gateway. It is an http.Handler to be served over TLS.
type Server struct {
	cfg      Config
	log      *slog.Logger
	metrics  *metrics
	upgrader websocket.Upgrader

	mu sync.Mutex // guards all following fields
	// sessions by session id, connected or awaiting resume.
	sessions map[string]*session
	// byUser finds a user's session in a guild: guild + "/" + user.
	byUser map[string]*session
	// rooms lists the sessions in each room (guild + "/" + channel).
	rooms map[string]map[*session]struct{}
	// moderation is the node's own server mute/deafen by guild + "/" +
	// user, set through the Controller whether or not the user is
	// connected, applied when a session starts (unless an Admitter speaks
	// for the guild). Only true flags are kept.
	moderation map[string]voicectl.Moderation
	// revoked are the sessions the control plane revoked (Revoke), until
	// when (revocation.go).
	revoked map[string]time.Time
	conns   map[*conn]struct{}
	closed  bool
	// notServing refuses every session (SetServing, serving.go).
	notServing bool
	wg         sync.WaitGroup

	// ctx ends at Close: it bounds calls to the control plane.
	ctx    context.Context
	cancel context.CancelFunc

	daveSender *mls.ExternalSender
	daveMu     sync.Mutex           // guards daveRooms
	daveRooms  map[string]*daveRoom // by room key
}

// New validates cfg and returns a Server.
func New(cfg Config) (*Server, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	key := cfg.DAVESigner
	if key == nil {
		var err error
		if key, err = mls.GenerateSignatureKey(); err != nil {
			return nil, fmt.Errorf("signaling: DAVE external sender key: %w", err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{
		ctx: ctx, cancel: cancel, moderation: map[string]voicectl.Moderation{}, revoked: map[string]time.Time{},
		daveSender: mls.NewExternalSender(key, daveSenderIdentity),
		daveRooms:  map[string]*daveRoom{},
		cfg:        cfg,
		log:        cfg.Logger,
		metrics:    newMetrics(cfg.Metrics),
		upgrader: websocket.Upgrader{
			HandshakeTimeout: 10 * time.Second,
			ReadBufferSize:   4096,
			WriteBufferSize:  4096,
			// Native clients send no Origin; browsers will use WebRTC.
			CheckOrigin: func(*http.Request) bool { return true },
		},
		sessions: map[string]*session{},
		byUser:   map[string]*session{},
		rooms:    map[string]map[*session]struct{}{},
		conns:    map[*conn]struct{}{},
	}, nil
}

// ServeHTTP upgrades to a WebSocket and runs the connection.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	dialect, err := voiceproto.ParseDialect(r.URL.Query().Get("v"))
	if err != nil {
		http.Error(w, `{"code":400,"message":"unsupported voice gateway version; use v=4..8"}`, http.StatusBadRequest)
		return
	}
	if !websocket.IsWebSocketUpgrade(r) {
		http.Error(w, `{"code":426,"message":"voice gateway: WebSocket upgrade required"}`, http.StatusUpgradeRequired)
		return
	}
	hj := &batchHijacker{ResponseWriter: w}
	ws, err := s.upgrader.Upgrade(hj, r, nil)
	if err != nil {
		return // the upgrader wrote the HTTP error
	}
	c := newConn(s, ws, hj.conn, dialect, r.RemoteAddr)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		c.closeNow(voiceproto.CloseGoingAway, "server shutting down")
		return
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	s.metrics.connections.Inc()
	defer func() {
		s.metrics.connections.Dec()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		s.wg.Done()
	}()
	c.run()
}

// Close ends every connection with 1001 and every session, and waits for
// the connection goroutines until ctx is done.
func (s *Server) Close(ctx context.Context) error {
	s.cancel()
	s.mu.Lock()
	s.closed = true
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	sessions := make([]*session, 0, len(s.sessions))
	for _, ss := range s.sessions {
		sessions = append(sessions, ss)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.terminate(voiceproto.CloseGoingAway, "server shutting down")
	}
	if err := lifecycle.WaitContext(ctx, &s.wg); err != nil {
		return err
	}
	for _, ss := range sessions {
		s.endSession(ss)
	}
	s.daveMu.Lock()
	rooms := make([]*daveRoom, 0, len(s.daveRooms))
	for _, r := range s.daveRooms {
		rooms = append(rooms, r)
	}
	clear(s.daveRooms)
	s.daveMu.Unlock()
	for _, r := range rooms {
		r.stop()
	}
	return nil
}

// daveSenderIdentity is the basic-credential identity of the gateway as
// the groups' external sender (user id 0, 8 bytes big-endian).
var daveSenderIdentity = make([]byte, 8)

func roomKey(guild, channel string) string { return guild + "/" + channel }

// register makes ss the user's session in its guild, replacing (and
// returning) any previous one.
func (s *Server) register(ss *session) (replaced *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	uk := roomKey(ss.guild, ss.user)
	replaced = s.byUser[uk]
	if replaced != nil {
		s.removeLocked(replaced)
	}
	s.sessions[ss.id] = ss
	s.byUser[uk] = ss
	room := s.rooms[ss.room]
	if room == nil {
		room = map[*session]struct{}{}
		s.rooms[ss.room] = room
	}
	room[ss] = struct{}{}
	s.metrics.sessions.Set(float64(len(s.sessions)))
	return replaced
}

// removeLocked forgets ss; it reports whether ss was registered.
func (s *Server) removeLocked(ss *session) bool {
	if s.sessions[ss.id] != ss {
		return false
	}
	delete(s.sessions, ss.id)
	if uk := roomKey(ss.guild, ss.user); s.byUser[uk] == ss {
		delete(s.byUser, uk)
	}
	if room := s.rooms[ss.room]; room != nil {
		delete(room, ss)
		if len(room) == 0 {
			delete(s.rooms, ss.room)
		}
	}
	s.metrics.sessions.Set(float64(len(s.sessions)))
	return true
}

// endSession removes ss, its media, and tells its room.
func (s *Server) endSession(ss *session) {
	s.mu.Lock()
	removed := s.removeLocked(ss)
	s.mu.Unlock()
	if !removed {
		return
	}
	ss.end()
	s.announceLeave(ss, true)
	s.daveLeave(ss)
	s.tellSenders(ss.room) // a layer only ss watched is wanted no more
}

// announceLeave tells ss's room that ss left (op 13) if tell, and makes
// every member forget what it was still owed about ss.
func (s *Server) announceLeave(ss *session, tell bool) {
	for _, p := range s.roomTargets(ss.room, ss) {
		p.announceLeave(ss, tell)
	}
}

// roomTargets returns the sessions in room except from.
func (s *Server) roomTargets(room string, from *session) []*session {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*session, 0, len(s.rooms[room]))
	for p := range s.rooms[room] {
		if p != from {
			out = append(out, p)
		}
	}
	return out
}

// lookup finds a session by id.
func (s *Server) lookup(id string) *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions[id]
}

// userSession finds a user's session in a guild.
func (s *Server) userSession(guild, user string) *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.byUser[roomKey(guild, user)]
}

// Controller returns the control-plane view of this gateway; it is a
// voicectl.Bus (Revoke too).
func (s *Server) Controller() voicectl.Controller { return controller{s} }

// Participants lists connected voice users.
func (s *Server) Participants() []voicectl.Participant {
	s.mu.Lock()
	list := make([]*session, 0, len(s.sessions))
	for _, ss := range s.sessions {
		list = append(list, ss)
	}
	s.mu.Unlock()
	out := make([]voicectl.Participant, 0, len(list))
	for _, ss := range list {
		out = append(out, ss.describe())
	}
	return out
}

type controller struct{ s *Server }

func (c controller) SetServerMute(_ context.Context, guild, user string, mute bool) error {
	c.s.moderate(guild, user, func(m *voicectl.Moderation) { m.Mute = mute })
	if ss := c.s.userSession(guild, user); ss != nil {
		ss.media.SetServerMute(mute)
	}
	return nil
}

func (c controller) SetServerDeaf(_ context.Context, guild, user string, deaf bool) error {
	c.s.moderate(guild, user, func(m *voicectl.Moderation) { m.Deaf = deaf })
	if ss := c.s.userSession(guild, user); ss != nil {
		ss.media.SetServerDeaf(deaf)
	}
	return nil
}

func (c controller) Disconnect(_ context.Context, guild, user string) error {
	ss := c.s.userSession(guild, user)
	if ss == nil {
		return voicectl.ErrNotConnected
	}
	ss.kick(voiceproto.CloseDisconnected, "disconnected by the control plane")
	c.s.endSession(ss)
	return nil
}

func (c controller) Participants() []voicectl.Participant { return c.s.Participants() }
