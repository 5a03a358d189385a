package service

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parleyhq/parley/chat/model"
	"github.com/parleyhq/parley/chat/voicestate"
	"github.com/parleyhq/parley/internal/voicectl"
	"github.com/parleyhq/parley/internal/voicetoken"
)

// Moving calls (shared/docs/fleet.md §4): when the registry reports that
// a voice node starts draining or is lost (voicectl.Watcher), the mover
// re-places every voice channel this control plane placed there
// (PlaceRequest.From) and sends each member of it VOICE_SERVER_UPDATE for
// the new node, with a new token for the same voice session id, so the
// member's VOICE_STATE_UPDATE still holds and the new node admits it with
// its stored mute and deafen. Clients switch servers on that event alone
// (@discordjs/voice, discordgo and voiceclient do); the old node closes
// whoever stays when it exits.

// mover owns the goroutine that moves channels off leaving nodes: the
// registry's callback only queues the node (it must not block).
type mover struct {
	mu sync.Mutex // guards all following fields
	// queue holds the nodes to move channels off, in the order reported.
	queue   []voicectl.Node
	started bool
	stopped bool
	cancel  func() // unregisters the registry callback

	wake chan struct{} // capacity 1
	stop chan struct{}
	done chan struct{}

	// channels and members count the moves made (metrics).
	channels, members atomic.Uint64
}

func newMover() *mover {
	return &mover{cancel: func() {}, wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
}

// placements remembers the node each voice channel was placed on by this
// control plane, so the mover knows which channels a leaving node held.
type placements struct {
	mu     sync.Mutex        // guards byChan
	byChan map[string]string // channel id -> node id
}

func (p *placements) set(channel, node string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.byChan == nil {
		p.byChan = map[string]string{}
	}
	p.byChan[channel] = node
}

func (p *placements) get(channel string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.byChan[channel]
}

// startMover registers with the registry (when it is a voicectl.Watcher)
// and starts the mover's goroutine.
func (s *Service) startMover() {
	m := s.mover
	w, ok := s.cfg.Registry.(voicectl.Watcher)
	m.mu.Lock()
	defer m.mu.Unlock()
	if !ok || m.started || m.stopped {
		return
	}
	m.started = true
	m.cancel = w.OnLeaving(m.enqueue)
	go s.runMover() // owned by closeMover, which waits on done
}

// closeMover unregisters and waits for the goroutine (a move under way
// finishes; ctx bounds the wait).
func (s *Service) closeMover(ctx context.Context) error {
	m := s.mover
	m.mu.Lock()
	started, stopped := m.started, m.stopped
	m.stopped = true
	cancel := m.cancel
	m.mu.Unlock()
	if !started || stopped {
		return nil
	}
	cancel()
	close(m.stop)
	select {
	case <-m.done:
		return nil
	case <-ctx.Done():
		<-m.done // its calls are bounded by voiceCallTimeout
		return ctx.Err()
	}
}

// enqueue is the registry's callback: it never blocks.
func (m *mover) enqueue(n voicectl.Node) {
	m.mu.Lock()
	if !m.stopped {
		m.queue = append(m.queue, n)
	}
	m.mu.Unlock()
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

func (s *Service) runMover() {
	m := s.mover
	defer close(m.done)
	for {
		select {
		case <-m.stop:
			return
		case <-m.wake:
		}
		m.mu.Lock()
		queue := m.queue
		m.queue = nil
		m.mu.Unlock()
		for _, n := range queue {
			ctx, cancel := context.WithTimeout(context.Background(), voiceCallTimeout)
			s.moveOff(ctx, n)
			cancel()
		}
	}
}

// moveOff moves every voice channel with members that this control plane
// placed on node n to another node, and hands its members over.
func (s *Service) moveOff(ctx context.Context, n voicectl.Node) {
	byChannel := map[model.Snowflake][]voicestate.Entry{}
	for _, e := range s.voice.All() {
		if ch := e.State.ChannelID; ch != nil && s.placed.get(ch.String()) == n.ID {
			byChannel[*ch] = append(byChannel[*ch], e)
		}
	}
	if len(byChannel) == 0 {
		return
	}
	s.log.Info("moving voice channels off a voice node", "node", n.ID, "state", n.State, "channels", len(byChannel))
	for ch, members := range byChannel {
		c, err := s.graph.channel(ch)
		if err != nil {
			continue // deleted meanwhile: its members were disconnected
		}
		req := voicectl.PlaceRequest{Channel: ch.String(), Preferred: s.cfg.VoiceRegion, From: n.ID}
		if c.RTCRegion != nil {
			req.Region = *c.RTCRegion
		}
		to, err := s.cfg.Registry.Place(ctx, req)
		if err != nil {
			s.log.Warn("voice channel cannot move: no node takes it", "channel", ch, "from", n.ID, "err", err)
			continue
		}
		s.placed.set(ch.String(), to.ID)
		s.mover.channels.Add(1)
		for _, e := range members {
			s.handOver(e, to.Endpoint)
		}
	}
}

// handOver sends one member VOICE_SERVER_UPDATE for endpoint: a new
// token for its voice session, if the session is still the one moved.
func (s *Service) handOver(e voicestate.Entry, endpoint string) {
	cur, ok := s.voice.Get(e.State.GuildID, e.State.UserID)
	if !ok || cur.State.SessionID != e.State.SessionID || cur.State.ChannelID == nil || *cur.State.ChannelID != *e.State.ChannelID {
		return // left or moved meanwhile: that got its own hand-off
	}
	st := cur.State
	tok := s.cfg.VoiceSigner.Issue(voicetoken.Claims{UserID: st.UserID.String(), GuildID: st.GuildID.String(),
		ChannelID: st.ChannelID.String(), SessionID: st.SessionID, Expires: time.Now().Add(s.cfg.VoiceTokenTTL).Unix(),
		Mute: st.Mute, Deaf: st.Deaf})
	ev := event("VOICE_SERVER_UPDATE", 0, 0, map[string]any{"token": tok, "guild_id": st.GuildID, "endpoint": endpoint})
	if !s.dispatcher().DispatchSession(cur.GatewaySession, ev) {
		s.dispatcher().DispatchUser(st.UserID, ev)
	}
	s.mover.members.Add(1)
}

// VoiceMoves counts the voice channels moved off leaving nodes and the
// members handed over to their new nodes.
func (s *Service) VoiceMoves() (channels, members uint64) {
	return s.mover.channels.Load(), s.mover.members.Load()
}
