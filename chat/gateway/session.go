package gateway

import (
	"sort"
	"sync"
	"time"

	"github.com/parleyhq/parley/chat/model"
)

// item is one dispatch in a session's list.
type item struct {
	seq int64
	ev  *model.Event
	// size is what the item costs the session's byte budget: the `d` this
	// session is sent plus the frame around it.
	size int
	// replay marks dispatches Resume may replay (not READY, the identify's
	// GUILD_CREATEs, RESUMED).
	replay bool
}

// itemOverhead is the frame around a dispatch's name and `d`
// ({"t":"","s":N,"op":0,"d":} and a frame header).
const itemOverhead = 48

// session is a gateway session: identity, sequence and the dispatch list
// that is both write queue and replay log. It outlives its connection for
// Config.ResumeWindow.
type session struct {
	id      string
	user    model.User
	intents model.Intent
	shard   [2]int
	// limit and limitBytes cap the dispatch list (Config.ReplayLimit and
	// Config.ReplayBytes): the oldest dispatches are dropped beyond either,
	// but the newest is always kept, so one dispatch larger than the byte
	// budget (a big GUILD_CREATE) is still delivered.
	limit, limitBytes int

	mu sync.Mutex
	// Guarded by mu:
	seq        int64  // last assigned seq
	written    int64  // last seq written to conn
	floor      int64  // highest seq removed from items; resume needs seq >= floor
	items      []item // seq-ordered dispatches not yet acknowledged
	bytes      int    // the sizes of items
	conn       *wsConn
	detachedAt time.Time
	ended      bool
	guilds     []model.Snowflake
	// token is the token the session was identified or last resumed
	// with; checkAt (unix nanos) when the sweeper re-checks it.
	token   model.TokenID
	checkAt int64
}

func (s *session) ref() model.SessionRef { return model.SessionRef{ID: s.id, UserID: s.user.ID} }

// wants reports whether the session receives ev.
func (s *session) wants(ev *model.Event) bool {
	return ev.Intent == 0 || s.intents.Has(ev.Intent)
}

// inShard reports whether a guild belongs to the session's shard.
func (s *session) inShard(g model.Snowflake) bool {
	return s.shard[1] <= 1 || int((uint64(g)>>22)%uint64(s.shard[1])) == s.shard[0]
}

// enqueue assigns the next seq to ev, a dispatch Resume may replay, and
// wakes the connection's writer. It reports false if the session had to
// drop unsent dispatches (the connection is too far behind and is being
// closed).
func (s *session) enqueue(ev *model.Event) bool { return s.enqueueAs(ev, true) }

// enqueueOnce is enqueue for a dispatch Resume does not replay (READY,
// the identify's GUILD_CREATEs, RESUMED).
func (s *session) enqueueOnce(ev *model.Event) bool { return s.enqueueAs(ev, false) }

func (s *session) enqueueAs(ev *model.Event, replay bool) bool {
	c, ok := s.push(ev, replay)
	if c != nil {
		if ok {
			c.kick()
		} else {
			c.closeWith(CloseUnknownError, false)
		}
	}
	return ok
}

// push appends ev and returns the connection to wake (nil if detached) and
// false if unsent dispatches had to be dropped.
func (s *session) push(ev *model.Event, replay bool) (*wsConn, bool) {
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return nil, true
	}
	s.seq++
	size := len(ev.Name) + len(ev.DataFor(s.intents, s.user.ID)) + itemOverhead
	s.items = append(s.items, item{seq: s.seq, ev: ev, size: size, replay: replay})
	s.bytes += size
	drop, freed := 0, 0
	for drop < len(s.items)-1 && (len(s.items)-drop > s.limit || s.bytes-freed > s.limitBytes) {
		freed += s.items[drop].size
		drop++
	}
	lost := drop > 0 && s.items[drop-1].seq > s.written
	s.trimLocked(drop)
	c := s.conn
	s.mu.Unlock()
	return c, !lost
}

// trimLocked removes the first n items.
func (s *session) trimLocked(n int) {
	if n <= 0 {
		return
	}
	s.floor = max(s.floor, s.items[n-1].seq)
	for _, it := range s.items[:n] {
		s.bytes -= it.size
	}
	if n >= len(s.items) {
		s.items = nil
		return
	}
	k := copy(s.items, s.items[n:])
	clear(s.items[k:])
	s.items = s.items[:k]
}

// ack drops dispatches the client confirmed through a heartbeat's d.
func (s *session) ack(seq int64) {
	s.mu.Lock()
	if seq > s.written {
		seq = s.written
	}
	n := sort.Search(len(s.items), func(i int) bool { return s.items[i].seq > seq })
	s.trimLocked(n)
	s.mu.Unlock()
}

// render appends c's unwritten dispatches to buf. Written dispatches that
// Resume does not replay (READY, GUILD_CREATE) are dropped right away so an
// idle session keeps no list.
func (s *session) render(c *wsConn, buf []byte) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn != c {
		return buf
	}
	start := sort.Search(len(s.items), func(i int) bool { return s.items[i].seq > s.written })
	keep := start
	for i := start; i < len(s.items); i++ {
		it := s.items[i]
		buf = appendDispatch(buf, it.ev.Name, it.seq, it.ev.DataFor(s.intents, s.user.ID))
		s.written = it.seq
		if it.replay {
			s.items[keep] = it
			keep++
		} else {
			s.floor = max(s.floor, it.seq)
			s.bytes -= it.size
		}
	}
	clear(s.items[keep:])
	s.items = s.items[:keep]
	if len(s.items) == 0 {
		s.items = nil
	}
	return buf
}

// attach binds the session to c for a resume from seq; it returns the
// connection it replaces and whether the resume is possible.
func (s *session) attach(c *wsConn, seq int64) (old *wsConn, code CloseCode, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.ended:
		return nil, 0, false
	case seq > s.seq:
		return nil, CloseInvalidSeq, false
	case seq < s.floor:
		return nil, 0, false
	}
	old, s.conn, s.written, s.detachedAt = s.conn, c, seq, time.Time{}
	return old, 0, true
}

// detach unbinds c if it is the session's connection.
func (s *session) detach(c *wsConn, now time.Time) {
	s.mu.Lock()
	if s.conn == c {
		s.conn, s.detachedAt = nil, now
	}
	s.mu.Unlock()
}

// sweepState is what the sweeper needs of a live session, under one lock:
// whether it is detached past its resume window (expired), else whether
// its token's check is due at now, and that token.
func (s *session) sweepState(now time.Time, window time.Duration) (expired bool, token model.TokenID, due bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return false, token, false
	}
	if s.conn == nil && !s.detachedAt.IsZero() && now.Sub(s.detachedAt) > window {
		return true, token, false
	}
	return false, s.token, now.UnixNano() >= s.checkAt
}

// end marks the session over; it reports false if it already was.
func (s *session) end() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return false
	}
	s.ended, s.items, s.bytes = true, nil, 0
	return true
}

// logBytes returns the bytes held in the dispatch list.
func (s *session) logBytes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bytes
}

// setAuth records the token the session was opened or resumed with and
// when to re-check it.
func (s *session) setAuth(a model.Auth, checkAt int64) {
	s.mu.Lock()
	s.token, s.checkAt = a.Token, checkAt
	s.mu.Unlock()
}

// checked records a re-check of token, unless the session has moved to
// another token meanwhile (a resume).
func (s *session) checked(token model.TokenID, checkAt int64) {
	s.mu.Lock()
	if s.token == token {
		s.checkAt = checkAt
	}
	s.mu.Unlock()
}

// usesToken reports whether the session was opened with token (nil: any).
func (s *session) usesToken(token *model.TokenID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return token == nil || s.token == *token
}
