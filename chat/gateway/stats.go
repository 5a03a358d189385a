package gateway

import "sync/atomic"

// Stats are the gateway's gauges and cumulative counters (read with
// Server.Stats).
type Stats struct {
	Connections int64 // open connections
	Sessions    int64 // live sessions (attached or resumable)
	Dispatches  int64 // dispatch enqueues (deliveries)
	Writes      int64 // socket writes (each coalesces frames)
	BytesOut    int64
	Dropped     int64 // connections closed for falling behind
	// SlowWriters are connections being written on a goroutine of their
	// own because their socket buffer stayed full (finishSlow).
	SlowWriters int64
	// ReplayBytes is what every session's dispatch list holds, and
	// MaxReplayBytes the largest one (at most Config.ReplayBytes, or one
	// dispatch).
	ReplayBytes, MaxReplayBytes int64
	// RefusedPerIP and RefusedPending count connections closed at accept
	// for the per-IP caps (Config.Conns).
	RefusedPerIP, RefusedPending uint64
}

type stats struct {
	dispatches, writes, bytesOut, dropped, slowWriters atomic.Int64
}

// Stats returns the counters.
func (s *Server) Stats() Stats {
	s.mu.RLock()
	st := Stats{Connections: int64(len(s.conns)), Sessions: int64(len(s.sessions))}
	for _, ss := range s.sessions {
		n := int64(ss.logBytes())
		st.ReplayBytes += n
		st.MaxReplayBytes = max(st.MaxReplayBytes, n)
	}
	s.mu.RUnlock()
	st.Dispatches, st.Writes = s.stats.dispatches.Load(), s.stats.writes.Load()
	st.BytesOut, st.Dropped = s.stats.bytesOut.Load(), s.stats.dropped.Load()
	st.SlowWriters = s.stats.slowWriters.Load()
	rej := s.ln.Rejections()
	st.RefusedPerIP, st.RefusedPending = rej.PerIP, rej.Pending
	return st
}
