// Package gateway is the Discord-compatible gateway (v10, v9 as an alias):
// WebSocket transport, sessions, Resume with replay, close codes, intents
// filtering and fan-out of dispatches (shared/docs/chat-gateway.md §1).
//
// Transport: gobwas/ws frames over raw net.Conns. On Linux an epoll loop
// (poller) watches every connection for readability, so an idle connection
// holds no goroutine, no bufio and no buffers: just its wsConn, its session
// and the kernel socket. A goroutine exists per connection only while a
// frame is being read (readable), while a stalled write is finished
// (finishSlow) or while a close lingers (linger); writes otherwise happen
// on a small pool of flusher workers, and each write coalesces every
// pending frame into one syscall.
//
// Browsers come through the web origin instead (one TLS listener that
// net/http serves): ServeHTTP hijacks the request's connection, applies
// the same per-IP caps and hands it over. The poller cannot see bytes
// crypto/tls has buffered, and a TLS write that timed out cannot be
// resumed, so such an adopted connection has one reader and one writer
// goroutine of its own for its lifetime (readLoop, writeLoop), owned and
// waited for like the others; everything else (sessions, Resume, close
// codes, the sweeper) is shared.
//
// Fan-out: an Event carries its `d` encoded once; each recipient gets a small
// per-session prefix (`{"t":…,"s":N,"op":0,"d":`) spliced in front at flush
// time. A session's dispatches live in one list that serves both as the
// write queue (seq > written) and as the replay log for Resume (trimmed by
// the heartbeat's acknowledged seq and capped by Config.ReplayLimit
// dispatches and Config.ReplayBytes bytes). Every client frame, pings
// included, counts against Config.EventsPerMinute, and unwritten control
// frames are capped, so no client can grow a connection's queues.
//
// Lifecycle and ownership: New binds the listener, Start starts the accept
// loop, the poll loop, the sweeper and the flusher workers, and Close stops
// and waits for every goroutine the server started, per-connection ones
// included (see Server). Server owns the listener, the poller and every
// wsConn; a session outlives its connection for Config.ResumeWindow.
// Lock order: Server.mu → session.mu → wsConn.mu; the backend is never
// called with a lock held, and Dispatch never blocks on a socket.
package gateway
