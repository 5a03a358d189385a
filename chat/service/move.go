package service

import (
	"context"
	"slices"
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
// whoever stays when it exits. A moved member not connected to its new
// node after Config.VoiceMoveTimeout (as the node publishes who is
// connected: voicectl.Presence) is removed from voice, as a client that
// never reconnects after its node died would otherwise stay forever.

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

	// pending are the moved members not yet seen on their new node,
	// owned by the mover's goroutine.
	pending []arrival

	// channels and members count the moves made, removed the members
	// removed for never arriving (metrics).
	channels, members, removed atomic.Uint64
}

// arrival is a moved member expected on its new node by due.
type arrival struct {
	state voicestate.Entry
	node  string
	due   time.Time
	// again: a first miss was seen; this is the confirming check.
	again bool
}

// presenceGrace confirms a member missing from its new node's list once
// more after this long (or VoiceMoveTimeout, if shorter): nodes publish who is connected every few seconds
// (fleet.MemberConfig.LoadInterval, 2 s), so one look may be stale.
const presenceGrace = 5 * time.Second

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
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		var due <-chan time.Time
		if len(m.pending) > 0 {
			timer.Reset(time.Until(m.pending[0].due))
			due = timer.C
		}
		select {
		case <-m.stop:
			return
		case <-due:
			s.checkArrivals(time.Now())
			continue
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

// checkArrivals removes from voice the moved members due by now that
// their new node does not list (pending is in due order).
func (s *Service) checkArrivals(now time.Time) {
	m := s.mover
	pres, _ := s.cfg.Registry.(voicectl.Presence)
	for len(m.pending) > 0 && !m.pending[0].due.After(now) {
		a := m.pending[0]
		m.pending = m.pending[1:]
		st := a.state.State
		cur, ok := s.voice.Get(st.GuildID, st.UserID)
		if pres == nil || !ok || cur.State.SessionID != st.SessionID || cur.State.ChannelID == nil || *cur.State.ChannelID != *st.ChannelID ||
			pres.Connected(a.node, st.ChannelID.String(), st.UserID.String()) {
			continue // arrived, or left or moved on by itself
		}
		if !a.again {
			a.again, a.due = true, now.Add(min(presenceGrace, s.cfg.VoiceMoveTimeout))
			i := slices.IndexFunc(m.pending, func(b arrival) bool { return b.due.After(a.due) })
			if i < 0 {
				i = len(m.pending)
			}
			m.pending = slices.Insert(m.pending, i, a) // kept in due order
			continue
		}
		s.log.Info("moved voice member never reached its new node: removed from voice", "user", st.UserID, "channel", st.ChannelID, "node", a.node)
		ctx, cancel := context.WithTimeout(context.Background(), voiceCallTimeout)
		s.leaveVoice(ctx, st.GuildID, st.UserID, true)
		cancel()
		m.removed.Add(1)
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
			s.handOver(e, to)
		}
	}
}

// handOver sends one member VOICE_SERVER_UPDATE for node to: a new token
// for its voice session, if the session is still the one moved, and
// expects it there within VoiceMoveTimeout.
func (s *Service) handOver(e voicestate.Entry, to voicectl.Node) {
	cur, ok := s.voice.Get(e.State.GuildID, e.State.UserID)
	if !ok || cur.State.SessionID != e.State.SessionID || cur.State.ChannelID == nil || *cur.State.ChannelID != *e.State.ChannelID {
		return // left or moved meanwhile: that got its own hand-off
	}
	st := cur.State
	tok := s.cfg.VoiceSigner.Issue(voicetoken.Claims{UserID: st.UserID.String(), GuildID: st.GuildID.String(),
		ChannelID: st.ChannelID.String(), SessionID: st.SessionID, Expires: time.Now().Add(s.cfg.VoiceTokenTTL).Unix(),
		Mute: st.Mute, Deaf: st.Deaf})
	ev := event("VOICE_SERVER_UPDATE", 0, 0, map[string]any{"token": tok, "guild_id": st.GuildID, "endpoint": to.Endpoint})
	if !s.dispatcher().DispatchSession(cur.GatewaySession, ev) {
		s.dispatcher().DispatchUser(st.UserID, ev)
	}
	s.mover.members.Add(1)
	m := s.mover
	m.pending = append(m.pending, arrival{state: cur, node: to.ID, due: time.Now().Add(s.cfg.VoiceMoveTimeout)})
}

// VoiceMoves counts the voice channels moved off leaving nodes, the
// members handed over to their new nodes, and those removed from voice
// for never reaching it.
func (s *Service) VoiceMoves() (channels, members, removed uint64) {
	return s.mover.channels.Load(), s.mover.members.Load(), s.mover.removed.Load()
}
