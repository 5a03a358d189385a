package signaling

import (
	"encoding/json"
	"errors"
	"maps"
	"sync"

	"github.com/parleyhq/parley/voiceproto"
)

// Video signalling on the voice gateway (shared/docs/video.md §1): Identify
// declares streams and Ready answers their SSRCs (the media plane allocates
// them), op 12 Video says which the client sends and is relayed with
// user_id to the room (a joiner is told of every sender), op 15 Media Sink
// Wants records what each receiver wants and tells each sender which of its
// streams nobody gets (0: pause it), op 14 Session Update answers the
// client's codecs with the call's.

// VideoParticipant is what the gateway needs of a media plane that forwards
// video; a Participant without it takes no video (Ready answers no streams,
// op 12 may only say video is off).
type VideoParticipant interface {
	// AllocateVideo allocates each declared stream's SSRC and RTX SSRC.
	AllocateVideo(streams []voiceproto.Stream) ([]voiceproto.Stream, error)
	// SetVideo installs the streams of the client's latest op 12.
	SetVideo(streams []voiceproto.Stream)
	// SetSinkWants records the client's op 15 as a receiver.
	SetSinkWants(w voiceproto.MediaSinkWants)
}

// sessionVideo is a session's video state. alloc is set before the session
// is registered and never changes; the rest is guarded by mu.
type sessionVideo struct {
	alloc []voiceproto.Stream
	// tellMu serialises tellSender for this sender, so that concurrent
	// recomputations cannot send an older answer last.
	tellMu sync.Mutex
	mu     sync.Mutex
	// op12 is the session's latest op 12 as relayed (with user_id), nil
	// before its first.
	op12 *voiceproto.Video
	// wants is the session's op 15 as a receiver (nil: the best of all).
	wants *voiceproto.MediaSinkWants
	// told is the last op 15 sent to the session as a sender.
	told map[uint32]int
}

// videoOp12 returns the session's latest op 12, if any.
func (ss *session) videoOp12() (voiceproto.Video, bool) {
	ss.video.mu.Lock()
	defer ss.video.mu.Unlock()
	if ss.video.op12 == nil {
		return voiceproto.Video{}, false
	}
	return *ss.video.op12, true
}

// videoWant is the quality ss wants of sender p (given p's streams).
func (ss *session) videoWant(p *session, streams []voiceproto.Stream) int {
	ss.video.mu.Lock()
	w := ss.video.wants
	ss.video.mu.Unlock()
	var first uint32
	if len(streams) > 0 {
		first = streams[0].SSRC
	}
	return w.Want(p.media.SSRC(), first)
}

// allocateVideo checks Identify's streams and has the media plane allocate
// them; it returns what Ready answers (never nil).
func allocateVideo(media Participant, streams []voiceproto.Stream) ([]voiceproto.Stream, error) {
	if err := voiceproto.CheckStreams(streams); err != nil {
		return nil, closeFor(voiceproto.CloseBadRequest, err.Error(), err)
	}
	vp, ok := media.(VideoParticipant)
	if len(streams) == 0 || !ok {
		return []voiceproto.Stream{}, nil
	}
	out, err := vp.AllocateVideo(streams)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// videoErr maps a decoder's error to its close code.
func videoErr(op voiceproto.Op, err error) error {
	if errors.Is(err, voiceproto.ErrBadVideo) {
		return closeFor(voiceproto.CloseBadRequest, "invalid "+op.String()+": "+err.Error(), err)
	}
	return closeFor(voiceproto.CloseDecodeError, "invalid "+op.String()+" payload: "+err.Error(), err)
}

// onVideo handles a client's op 12.
func (c *conn) onVideo(d json.RawMessage) error {
	ss := c.sess
	v, err := voiceproto.DecodeVideo(d, ss.media.SSRC(), ss.video.alloc)
	if err != nil {
		return videoErr(voiceproto.OpVideo, err)
	}
	v.UserID = voiceproto.ID(ss.user)
	if vp, ok := ss.media.(VideoParticipant); ok {
		vp.SetVideo(v.Streams)
	}
	ss.video.mu.Lock()
	ss.video.op12 = &v
	ss.video.mu.Unlock()
	for _, p := range c.srv.roomTargets(ss.room, ss) {
		p.announce(ss, pendVideo)
	}
	c.srv.tellSender(ss)
	return nil
}

// onSinkWants handles a client's op 15.
func (c *conn) onSinkWants(d json.RawMessage) error {
	ss := c.sess
	w, err := voiceproto.DecodeMediaSinkWants(d)
	if err != nil {
		return videoErr(voiceproto.OpMediaSinkWants, err)
	}
	if vp, ok := ss.media.(VideoParticipant); ok {
		vp.SetSinkWants(w)
	}
	ss.video.mu.Lock()
	ss.video.wants = &w
	ss.video.mu.Unlock()
	c.srv.tellSenders(ss.room)
	return nil
}

// onSessionUpdate handles a client's op 14: the codecs it offers are
// checked and answered with the call's (Opus, and the video codec chosen
// for it).
func (c *conn) onSessionUpdate(d json.RawMessage) error {
	u, err := voiceproto.DecodeSessionUpdate(d)
	if err != nil {
		return videoErr(voiceproto.OpSessionUpdate, err)
	}
	c.sess.send(voiceproto.OpSessionUpdate, voiceproto.SessionUpdate{
		AudioCodec: voiceproto.CodecOpus, VideoCodec: voiceproto.VideoCodecFor(u.Codecs)})
	return nil
}

// tellSenders recomputes op 15 for every video sender of room.
func (s *Server) tellSenders(room string) {
	for _, p := range s.roomTargets(room, nil) {
		if _, ok := p.videoOp12(); ok {
			s.tellSender(p)
		}
	}
}

// tellSender sends sender ss an op 15 naming each of its active streams
// with 100 if some receiver of the room may get it (voiceproto.PickStream
// over the receiver's want, or a lower layer its bandwidth may move it
// to) and 0 if nobody can, when that changed since the last one it was
// sent.
func (s *Server) tellSender(ss *session) {
	ss.video.tellMu.Lock()
	defer ss.video.tellMu.Unlock()
	v, ok := ss.videoOp12()
	if !ok {
		return
	}
	wanted := make(map[uint32]int, len(v.Streams))
	for _, st := range v.Streams {
		if st.Active {
			wanted[st.SSRC] = 0
		}
	}
	if len(wanted) == 0 {
		return
	}
	for _, r := range s.roomTargets(ss.room, ss) {
		k := voiceproto.PickStream(v.Streams, r.videoWant(ss, v.Streams))
		if k < 0 {
			continue
		}
		// The SFU's bandwidth estimate may move the receiver down to any
		// lower active layer at any time: those stay on too.
		for _, st := range v.Streams {
			if st.Active && st.Quality <= v.Streams[k].Quality {
				wanted[st.SSRC] = voiceproto.MaxQuality
			}
		}
	}
	ss.video.mu.Lock()
	same := maps.Equal(wanted, ss.video.told)
	ss.video.told = wanted
	ss.video.mu.Unlock()
	if !same {
		ss.send(voiceproto.OpMediaSinkWants, voiceproto.MediaSinkWants{Any: -1, BySSRC: wanted})
	}
}
