package signaling

import (
	"github.com/parleyhq/parley/voiceproto"
)

// Serving: a voice node in a fleet serves only while it holds its
// registry session (package fleet). When it loses it, the control plane
// may already have placed its channels elsewhere, so the node must serve
// nothing, or two nodes could serve one room after a partition:
// SetServing(false) ends every session (close 4022, call terminated: the
// voice server changed; clients go back to the main gateway) and refuses
// Identify and Resume with 4011 (server not found) until SetServing(true).

const (
	notServingReason = "voice node not serving (it lost its fleet registry session); ask the control plane for a new voice server"
	terminatedReason = "voice node left the fleet: the call moves to another voice server"
)

// SetServing starts (true) or stops (false) admitting sessions; stopping
// also ends every live session with 4022. A new Server serves.
func (s *Server) SetServing(serving bool) {
	s.mu.Lock()
	s.notServing = !serving
	var ended []*session
	if !serving {
		ended = make([]*session, 0, len(s.sessions))
		for _, ss := range s.sessions {
			ended = append(ended, ss)
		}
	}
	s.mu.Unlock()
	if len(ended) > 0 {
		s.log.Warn("voice node stopped serving: ending every session", "sessions", len(ended))
	}
	for _, ss := range ended {
		ss.kick(voiceproto.CloseCallTerminated, terminatedReason)
		s.endSession(ss)
	}
}

// Serving reports whether the gateway admits sessions.
func (s *Server) Serving() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.notServing
}

// checkServing returns the close error refusing a session while the node
// does not serve.
func (s *Server) checkServing() error {
	if s.Serving() {
		return nil
	}
	s.metrics.admissions.WithLabelValues("not_serving").Inc()
	return closeWith(voiceproto.CloseServerNotFound, notServingReason)
}
