package signaling

import (
	"encoding/json"
	"sync"
	"time"

	"github.com/parleyhq/parley/internal/voicectl"
)

// session is one authenticated voice session. It outlives its connection
// for ResumeWindow so that a client can resume (op 7) without losing its
// media state, its sequence numbers or the messages sent meanwhile.
type session struct {
	srv                      *Server
	id, user, guild, channel string
	room                     string
	dialect                  Dialect
	media                    Participant
	daveVersion              int
	mu                       sync.Mutex // guards all following fields
	conn                     *conn      // nil while detached
	seq                      int64      // last numbered message (v8)
	replay                   []replayed // ring of numbered messages
	replayNext               int
	speaking                 int
	mode                     string
	detachTimer              *time.Timer
	ended                    bool
}

type replayed struct {
	seq int64
	msg []byte
}

// send encodes and queues a message for the session's connection; in v8 it
// numbers the message and keeps it for re-delivery on resume.
func (ss *session) send(op Op, d any) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.ended {
		return
	}
	out := outbound{Op: op, D: d}
	v8 := ss.dialect == DialectV8 && numbered(op)
	if v8 {
		ss.seq++
		seq := ss.seq
		out.Seq, out.S = &seq, &seq
	}
	b, err := json.Marshal(out)
	if err != nil {
		ss.srv.log.Error("encode", "op", op.String(), "err", err)
		return
	}
	if v8 {
		r := replayed{seq: ss.seq, msg: b}
		if len(ss.replay) < ss.srv.cfg.ReplayBuffer {
			ss.replay = append(ss.replay, r)
		} else {
			ss.replay[ss.replayNext] = r
			ss.replayNext = (ss.replayNext + 1) % len(ss.replay)
		}
	}
	if ss.conn != nil {
		ss.conn.enqueue(b)
	}
}

// attach binds a connection, replaying numbered messages after seqAck
// (v8). It returns the connection it replaced, if any.
func (ss *session) attach(c *conn, seqAck int64, replay bool) (old *conn) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	old, ss.conn = ss.conn, c
	if ss.detachTimer != nil {
		ss.detachTimer.Stop()
		ss.detachTimer = nil
	}
	if replay {
		n := len(ss.replay)
		for i := 0; i < n; i++ {
			r := ss.replay[(ss.replayNext+i)%n]
			if r.seq > seqAck {
				c.enqueue(r.msg)
			}
		}
	}
	return old
}

// detach unbinds c and starts the resume window.
func (ss *session) detach(c *conn) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.conn != c || ss.ended {
		return
	}
	ss.conn = nil
	ss.detachTimer = time.AfterFunc(ss.srv.cfg.ResumeWindow, func() {
		ss.mu.Lock()
		expired := ss.conn == nil
		ss.mu.Unlock()
		if expired {
			ss.srv.endSession(ss)
		}
	})
}

// kick closes the session's connection with code.
func (ss *session) kick(code CloseCode, reason string) {
	ss.mu.Lock()
	c := ss.conn
	ss.mu.Unlock()
	if c != nil {
		c.terminate(code, reason)
	}
}

// end releases the media; the caller has removed ss from the server.
func (ss *session) end() {
	ss.mu.Lock()
	if ss.ended {
		ss.mu.Unlock()
		return
	}
	ss.ended = true
	if ss.detachTimer != nil {
		ss.detachTimer.Stop()
	}
	ss.mu.Unlock()
	ss.media.Leave()
}

func (ss *session) setSpeaking(flags int) {
	ss.mu.Lock()
	ss.speaking = flags
	ss.mu.Unlock()
}

// speakingFor renders this session's speaking state for a receiver's
// dialect: a bool for legacy clients, the bitmask otherwise.
func (ss *session) speakingFor(to Dialect) any {
	ss.mu.Lock()
	f := ss.speaking
	ss.mu.Unlock()
	if to == DialectLegacy {
		return f != 0
	}
	return f
}

func (ss *session) describe() voicectl.Participant {
	ss.mu.Lock()
	mode := ss.mode
	ss.mu.Unlock()
	return voicectl.Participant{
		GuildID: ss.guild, ChannelID: ss.channel, UserID: ss.user,
		SSRC: ss.media.SSRC(), Mode: mode,
		Mute: ss.media.ServerMute(), Deaf: ss.media.ServerDeaf(),
	}
}
