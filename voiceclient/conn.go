package voiceclient

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/parleyhq/parley/voiceproto"
)

// Frame is one decrypted remote Opus packet.
type Frame struct {
	UserID    string // from the server's op 5 for SSRC; "" if never announced
	SSRC      uint32
	Seq       uint16
	Timestamp uint32
	Marker    bool
	Opus      []byte // valid only during the OnFrame call
	Received  time.Time
	// video: a reassembled video frame (video.go) on its way to
	// OnVideoFrame through the same DAVE queue; Marker is its keyframe bit.
	video bool
}

// Event is a gateway event reported through Config.OnEvent.
type Event struct {
	Type     string                   `json:"type"` // "speaking", "clients_connect", "client_disconnect", "resumed"
	UserID   string                   `json:"user_id,omitempty"`
	UserIDs  []string                 `json:"user_ids,omitempty"`
	SSRC     uint32                   `json:"ssrc,omitempty"`
	Speaking voiceproto.SpeakingFlags `json:"speaking"`
}

// Event types.
const (
	EventSpeaking         = "speaking"
	EventClientsConnect   = "clients_connect"
	EventClientDisconnect = "client_disconnect"
	EventResumed          = "resumed"
)

// Conn is a joined voice session. Its methods are safe for concurrent use.
type Conn struct {
	cfg    Config
	log    *slog.Logger
	url    string
	dialer *websocket.Dialer

	// Set by Dial before it returns; read-only afterwards.
	ssrc    uint32
	mode    string
	udp     *net.UDPConn
	extIP   string
	extPort int
	cipher  atomic.Pointer[voiceproto.Cipher]
	// rtc is the WebRTC side (Config.WebRTC), set by Dial before the
	// handshake; nil for native UDP.
	rtc      *rtcLink
	joinedAt time.Time
	// videoStreams are the streams Ready allocated (Config.VideoStreams).
	videoStreams []voiceproto.Stream

	// wmu guards ws writes and the ws pointer, and orders starting a
	// goroutine (check closing, wg.Add) before teardown's wait.
	wmu sync.Mutex
	ws  *websocket.Conn // +checklocks:wmu

	seq        atomic.Int64 // last server message seq, -1 if none
	hbReset    chan time.Duration
	hbSentT    atomic.Int64 // t of the last heartbeat sent
	hbAckedT   atomic.Int64 // t of the last ACK received
	lastRTT    atomic.Int64 // ns
	handshaken atomic.Bool

	helloCh chan voiceproto.Hello
	readyCh chan voiceproto.Ready
	sdCh    chan voiceproto.SessionDescription
	discoCh chan []byte

	send sender // guarded by its own mutex

	// dave is the DAVE participant, nil when DAVE is off; its media side
	// has its own lock (after dmu and the sender's), its MLS side another
	// (before dmu), which the media path never takes.
	dave *daveSession

	dmu     sync.Mutex          // serializes delivery; guards the fields below
	users   map[uint32]string   // ssrc -> user id, from op 5
	members map[string]struct{} // from op 11/13 and op 5
	// nmembers is len(members), written under dmu, read without it (the
	// sender asks whether it is alone).
	nmembers atomic.Int32
	pending  map[uint32][]pendingFrame // frames of not yet announced SSRCs
	// daveQueue holds, per sender of the FrameSession (the numeric user
	// id; 0 for all the non-numeric ones, which share its hold there), the
	// frames passed to DAVE awaiting their emit (dave.FrameSession holds a
	// few for a sender's next key).
	daveQueue map[uint64][]Frame
	// videoUsers maps video SSRCs to users (op 12); videoRecv reassembles
	// each SSRC's video (video.go).
	videoUsers map[uint32]string
	videoRecv  map[uint32]*videoJitter
	// videoRTX maps an RTX SSRC to the video SSRC it repairs.
	videoRTX map[uint32]uint32

	// vloop is set once the video feedback loop (video_rtcp.go) started.
	vloop atomic.Bool

	stats counters

	closeOnce sync.Once
	closing   chan struct{}
	readDone  chan struct{} // closed when readLoop returns
	errMu     sync.Mutex
	err       error // +checklocks:errMu
	wg        sync.WaitGroup
}

type pendingFrame struct {
	f    Frame
	opus []byte
}

// Limits on frames held for SSRCs the server has not announced yet.
const (
	maxPendingSSRCs    = 64
	maxPendingPerSSRC  = 100
	discoveryAttempts  = 10
	discoveryInterval  = 300 * time.Millisecond
	keepaliveInterval  = 5 * time.Second
	maxResumeAttempts  = 5
	defaultHandshake   = 10 * time.Second
	maxMissedHeartbeat = 2
)

// Dial joins the voice session described by cfg and returns once the UDP
// path is ready (Session Description received) and, with DAVE, once media
// can go out end-to-end encrypted (see WaitDAVE; at most 5 s more, within
// ctx). ctx bounds the handshake only; use Close to leave.
func Dial(ctx context.Context, cfg Config) (*Conn, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	u, err := gatewayURL(cfg.Endpoint)
	if err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Conn{
		cfg: cfg,
		log: log.With("user_id", cfg.UserID, "guild_id", cfg.GuildID),
		url: u,
		dialer: &websocket.Dialer{
			TLSClientConfig:  &tls.Config{RootCAs: cfg.RootCAs, MinVersion: tls.VersionTLS12},
			HandshakeTimeout: 10 * time.Second,
			Proxy:            nil,
		},
		hbReset:    make(chan time.Duration, 1),
		helloCh:    make(chan voiceproto.Hello, 1),
		readyCh:    make(chan voiceproto.Ready, 1),
		sdCh:       make(chan voiceproto.SessionDescription, 1),
		discoCh:    make(chan []byte, 1),
		users:      map[uint32]string{},
		members:    map[string]struct{}{},
		pending:    map[uint32][]pendingFrame{},
		daveQueue:  map[uint64][]Frame{},
		videoUsers: map[uint32]string{}, videoRecv: map[uint32]*videoJitter{}, videoRTX: map[uint32]uint32{},
		closing:  make(chan struct{}),
		readDone: make(chan struct{}),
	}
	c.seq.Store(-1)
	if !cfg.DisableDAVE {
		d, err := newDAVESession(c)
		if err != nil {
			c.log.Info("DAVE off", "err", err)
		} else {
			c.dave = d
		}
	}
	if cfg.WebRTC {
		if c.rtc, err = newRTCLink(c); err != nil {
			return nil, err
		}
	}
	if _, ok := ctx.Deadline(); !ok {
		d := cfg.HandshakeTimeout
		if d == 0 {
			d = defaultHandshake
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	if err := c.handshake(ctx); err != nil {
		c.fail(err)
		c.wg.Wait()
		return nil, err
	}
	c.handshaken.Store(true)
	c.joinedAt = time.Now()
	c.log.Info("voice joined", "ssrc", c.ssrc, "mode", c.mode, "external", net.JoinHostPort(c.extIP, strconv.Itoa(c.extPort)))
	// With DAVE, return once media can go out end-to-end encrypted (or
	// needs no DAVE): a client that sends at once would otherwise wait in
	// its first SendOpus. Not settling in time is not fatal.
	wctx, cancel := context.WithTimeout(ctx, daveSendWait)
	defer cancel()
	if err := c.WaitDAVE(wctx); err != nil {
		c.log.Info("DAVE not settled when joined; sends wait for it", "err", err)
	}
	return c, nil
}

func gatewayURL(endpoint string) (string, error) {
	if !strings.Contains(endpoint, "://") {
		endpoint = "wss://" + endpoint
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		return "", fmt.Errorf("%w: endpoint: %v", ErrConfig, err)
	}
	if u.Scheme != "wss" && u.Scheme != "ws" {
		return "", fmt.Errorf("%w: endpoint scheme %q", ErrConfig, u.Scheme)
	}
	q := u.Query()
	q.Set("v", "8")
	u.RawQuery = q.Encode()
	if u.Path == "" {
		u.Path = "/"
	}
	return u.String(), nil
}

// handshake runs Hello, Identify, Ready, IP discovery, Select Protocol and
// Session Description.
func (c *Conn) handshake(ctx context.Context) error {
	ws, _, err := c.dialer.DialContext(ctx, c.url, nil)
	if err != nil {
		return fmt.Errorf("%w: dial %s: %v", ErrHandshake, c.url, err)
	}
	c.wmu.Lock()
	c.ws = ws
	c.wmu.Unlock()
	c.wg.Add(2)
	go c.readLoop(ws)
	go c.timerLoop()

	if _, err := waitFor(ctx, c, c.helloCh, "hello"); err != nil {
		return err
	}
	if err := c.writeOp(voiceproto.OpIdentify, voiceproto.Identify{
		ServerID: voiceproto.ID(c.cfg.GuildID), UserID: voiceproto.ID(c.cfg.UserID), SessionID: voiceproto.ID(c.cfg.SessionID),
		Token: c.cfg.Token, MaxDaveProtocolVersion: c.daveMax(), Streams: c.cfg.VideoStreams,
	}); err != nil {
		return err
	}
	ready, err := waitFor(ctx, c, c.readyCh, "ready")
	if err != nil {
		return err
	}
	if ready.Port <= 0 || ready.Port > 65535 || ready.IP == "" {
		return fmt.Errorf("%w: ready without ip/port", ErrHandshake)
	}
	c.ssrc = ready.SSRC
	if len(ready.Streams) != len(c.cfg.VideoStreams) {
		return fmt.Errorf("%w: ready answered %d video streams, want %d", ErrHandshake, len(ready.Streams), len(c.cfg.VideoStreams))
	}
	c.videoStreams = ready.Streams
	if c.rtc != nil {
		return c.handshakeWebRTC(ctx)
	}
	mode, err := pickMode(ready.Modes, c.cfg.Mode)
	if err != nil {
		return err
	}
	if err := c.openUDP(ctx, ready); err != nil {
		return err
	}
	var sp voiceproto.SelectProtocol
	sp.Protocol = voiceproto.ProtocolUDP
	sp.Data.Address, sp.Data.Port, sp.Data.Mode = c.extIP, c.extPort, mode
	if c.cfg.ReportAddr != "" {
		host, port, _ := net.SplitHostPort(c.cfg.ReportAddr) // checked by Validate
		sp.Data.Address = host
		sp.Data.Port, _ = strconv.Atoi(port)
	}
	if err := c.writeOp(voiceproto.OpSelectProtocol, sp); err != nil {
		return err
	}
	sd, err := waitFor(ctx, c, c.sdCh, "session description")
	if err != nil {
		return err
	}
	if sd.Mode != mode {
		c.log.Warn("server chose another mode", "selected", mode, "got", sd.Mode)
	}
	ciph, err := voiceproto.NewCipher(sd.Mode, sd.SecretKey)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrHandshake, err)
	}
	c.mode = sd.Mode
	c.send.init(c)
	c.cipher.Store(ciph)
	return nil
}

// handshakeWebRTC is the webrtc dialect's Select Protocol and Session
// Description, and waits until ICE and DTLS are done.
func (c *Conn) handshakeWebRTC(ctx context.Context) error {
	sp, err := c.rtc.offer(ctx)
	if err != nil {
		return fmt.Errorf("%w: webrtc offer: %v", ErrHandshake, err)
	}
	if err := c.writeOp(voiceproto.OpSelectProtocol, sp); err != nil {
		return err
	}
	sd, err := waitFor(ctx, c, c.sdCh, "session description")
	if err != nil {
		return err
	}
	if sd.SDP == "" {
		return fmt.Errorf("%w: session description without an answer", ErrHandshake)
	}
	if err := c.rtc.accept(ctx, sd.SDP); err != nil {
		return err
	}
	c.mode = voiceproto.ProtocolWebRTC
	c.send.init(c)
	return nil
}

// waitFor waits for one handshake message, the connection's end or ctx.
func waitFor[T any](ctx context.Context, c *Conn, ch <-chan T, what string) (T, error) {
	var zero T
	select {
	case v := <-ch:
		return v, nil
	case <-c.closing:
		return zero, fmt.Errorf("%w: waiting for %s: %w", ErrHandshake, what, c.Err())
	case <-ctx.Done():
		return zero, fmt.Errorf("%w: waiting for %s: %w", ErrHandshake, what, ctx.Err())
	}
}

// writeOp sends one JSON message on the current WebSocket.
func (c *Conn) writeOp(op voiceproto.Op, d any) error {
	b, err := json.Marshal(voiceproto.Message{Op: op, D: d})
	if err != nil {
		return err
	}
	err = c.writeMessage(websocket.TextMessage, b)
	if err != nil && !errors.Is(err, ErrClosed) {
		return fmt.Errorf("voiceclient: write %v: %w", op, err)
	}
	return err
}

// SSRC returns the SSRC the server assigned in Ready.
func (c *Conn) SSRC() uint32 { return c.ssrc }

// Mode returns the negotiated transport-encryption mode.
func (c *Conn) Mode() string { return c.mode }

// UserID returns the user this connection joined as.
func (c *Conn) UserID() string { return c.cfg.UserID }

// Done is closed when the connection ends (Close, or a fatal server close).
func (c *Conn) Done() <-chan struct{} { return c.closing }

// Err returns why the connection ended, or nil while it is up.
func (c *Conn) Err() error {
	c.errMu.Lock()
	defer c.errMu.Unlock()
	return c.err
}

// UserForSSRC returns the user the server announced for ssrc.
func (c *Conn) UserForSSRC(ssrc uint32) (string, bool) {
	c.dmu.Lock()
	defer c.dmu.Unlock()
	u, ok := c.users[ssrc]
	return u, ok
}

// hasMembers reports whether the server reported anyone else in the
// channel.
func (c *Conn) hasMembers() bool {
	return c.nmembers.Load() > 0
}

// Members returns the other users the server reported in this channel.
func (c *Conn) Members() []string {
	c.dmu.Lock()
	defer c.dmu.Unlock()
	out := make([]string, 0, len(c.members))
	for u := range c.members {
		out = append(out, u)
	}
	return out
}

// Close leaves the session: it sends a WebSocket close frame with 1000 and
// waits (up to closeWait) for the server's close frame in answer before it
// closes the sockets, so that the server reads the close and ends the
// session at once instead of keeping it for a resume (RFC 6455 §7.1.1: the
// server closes the TCP connection first). It waits for the connection's
// goroutines and returns the error that ended the connection earlier, if
// the server did.
func (c *Conn) Close() error {
	c.errMu.Lock()
	prior := c.err
	c.errMu.Unlock()
	c.closeOnce.Do(func() { c.teardown(ErrClosed, true) })
	c.wg.Wait()
	if prior != nil && !errors.Is(prior, ErrClosed) {
		return prior
	}
	var ce *CloseError
	if errors.As(prior, &ce) {
		return prior
	}
	return nil
}

// closeWait bounds Close's wait for the server's close frame.
const closeWait = time.Second

// fail ends the connection with err (the first cause wins) without the
// closing handshake: the server closed, or the connection is broken.
func (c *Conn) fail(err error) {
	c.closeOnce.Do(func() { c.teardown(err, false) })
}

// teardown records why the connection ends, sends a close frame (1000),
// optionally waits for the reader to see the server's answer, and closes
// the sockets.
func (c *Conn) teardown(err error, handshake bool) {
	c.errMu.Lock()
	c.err = err
	c.errMu.Unlock()
	close(c.closing)
	c.wmu.Lock()
	sent := false
	if c.ws != nil {
		sent = c.ws.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(closeWait)) == nil
	}
	c.wmu.Unlock()
	if handshake && sent {
		t := time.NewTimer(closeWait)
		select {
		case <-c.readDone:
		case <-t.C:
			c.log.Debug("voice gateway did not answer the close frame", "wait", closeWait)
		}
		t.Stop()
	}
	c.wmu.Lock()
	if c.ws != nil {
		_ = c.ws.Close()
	}
	c.wmu.Unlock()
	if c.udp != nil {
		_ = c.udp.Close()
	}
	if c.rtc != nil {
		c.rtc.close()
	}
	if !errors.Is(err, ErrClosed) || isCloseError(err) {
		c.log.Warn("voice connection ended", "err", err)
	}
}

func isCloseError(err error) bool {
	var ce *CloseError
	return errors.As(err, &ce)
}
