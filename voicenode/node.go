package voicenode

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/parleyhq/parley/internal/connlimit"
	"github.com/parleyhq/parley/internal/voicectl"
	"github.com/parleyhq/parley/internal/voicetoken"
	"github.com/parleyhq/parley/sfu"
	"github.com/parleyhq/parley/signaling"
	"github.com/parleyhq/parley/voiceproto"
)

// Config configures a Server.
type Config struct {
	// GatewayAddr is the WSS listen address (default 127.0.0.1:0).
	GatewayAddr string
	// UDPAddr is the media listen address (default 127.0.0.1:0).
	UDPAddr string
	// PublicIP is announced to clients for UDP and WebRTC (default: the UDP
	// listen IP).
	PublicIP string
	// WebRTCAddr is the UDP address browsers' ICE, DTLS and SRTP share
	// ("": browsers are refused in Select Protocol with 4012).
	WebRTCAddr string
	// TLS is required: every client hard-codes wss://.
	TLS *tls.Config
	// TokenKey verifies voice tokens (the data dir's voice_token key).
	TokenKey []byte
	// TokenKeys, if set, verifies a fleet's Ed25519 tokens ("pv2.": the
	// control planes' keys as fleet.Follower follows them); nil refuses
	// them (4004).
	TokenKeys voicetoken.KeySource
	// LegacyModes offers xsalsa20_poly1305 and friends (discordgo v0.29.0).
	LegacyModes bool
	// Readers is the number of UDP reader goroutines (default GOMAXPROCS).
	Readers int
	// Conns caps the gateway's connections per client IP: open ones, and
	// ones that have not identified yet (connlimit.Default where zero; a
	// negative cap means none).
	Conns connlimit.Config
	// SFU tunes the media plane beyond the fields above (batch size,
	// trailing silence, room size); its UDPAddr, PublicIP, LegacyModes,
	// Readers, Logger and Metrics are set by New from this Config.
	SFU sfu.Config
	// Gateway tunes the voice gateway, including the DAVE end-to-end
	// encryption policy (Gateway.DAVE: preferred by default, required or
	// off); Media, Tokens, Logger and Metrics are filled in by New.
	Gateway signaling.Config
	Logger  *slog.Logger
	Metrics prometheus.Registerer
}

// withDefaults returns c with its defaults set.
func (c Config) withDefaults() Config {
	if c.GatewayAddr == "" {
		c.GatewayAddr = "127.0.0.1:0"
	}
	c.Conns = c.Conns.WithDefaults(connlimit.Default)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Validate reports what New cannot work with; it changes nothing.
func (c Config) Validate() error {
	if c.TLS == nil {
		return fmt.Errorf("%w: TLS config is required (clients only speak wss://)", ErrConfig)
	}
	return nil
}

// Node is a running voice node.
type Node struct {
	cfg  Config
	sfu  *sfu.Server
	gw   *signaling.Server
	ln   *connlimit.Listener
	http *http.Server
	// done is closed when the serve goroutine Start launched returns.
	done chan struct{}

	mu      sync.Mutex // guards started, closed and upgrading
	started bool       // Start launched the serve goroutine: done will close
	closed  bool
	// upgrading holds the sockets of the web origin's requests ServeHTTP
	// hijacked (hijack.go), until the request ends; Close closes them.
	upgrading map[net.Conn]struct{}
	// fronted counts the web origin's requests ServeHTTP runs (each one
	// connection's lifetime); Close waits for them.
	fronted sync.WaitGroup

	closeOnce sync.Once
	closeErr  error
}

// New builds the SFU and the gateway and binds both sockets.
func New(cfg Config) (*Node, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var opts []voicetoken.Option
	if cfg.TokenKeys != nil {
		opts = append(opts, voicetoken.WithKeys(cfg.TokenKeys))
	}
	signer, err := voicetoken.NewSigner(cfg.TokenKey, opts...)
	if err != nil {
		return nil, err
	}
	scfg := cfg.SFU
	scfg.UDPAddr, scfg.PublicIP, scfg.LegacyModes, scfg.Readers = cfg.UDPAddr, cfg.PublicIP, cfg.LegacyModes, cfg.Readers
	scfg.WebRTCAddr = cfg.WebRTCAddr
	scfg.Logger, scfg.Metrics = cfg.Logger.With("component", "sfu"), cfg.Metrics
	media, err := sfu.New(scfg)
	if err != nil {
		return nil, err
	}
	gcfg := cfg.Gateway
	gcfg.Media = mediaPlane{media}
	gcfg.Tokens = signer
	gcfg.Logger = cfg.Logger.With("component", "voice_gateway")
	gcfg.Metrics = cfg.Metrics
	gw, err := signaling.New(gcfg)
	if err != nil {
		_ = media.Close(context.Background())
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.GatewayAddr)
	if err != nil {
		_ = media.Close(context.Background())
		_ = gw.Close(context.Background())
		return nil, fmt.Errorf("voicenode: listen %s: %w", cfg.GatewayAddr, err)
	}
	limited := connlimit.Wrap(ln, cfg.Conns)
	s := &Node{cfg: cfg, sfu: media, gw: gw, ln: limited, done: make(chan struct{}), upgrading: map[net.Conn]struct{}{}}
	if cfg.Metrics != nil {
		cfg.Metrics.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: "parley", Subsystem: "voice_gateway", Name: "refused_connections_total",
			Help: "Connections closed at accept: over the per-IP cap.", ConstLabels: prometheus.Labels{"cap": "per_ip"},
		}, func() float64 { return float64(limited.Rejections().PerIP) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{
				Namespace: "parley", Subsystem: "voice_gateway", Name: "refused_connections_total",
				Help: "Connections closed at accept: over the per-IP cap.", ConstLabels: prometheus.Labels{"cap": "pending_per_ip"},
			}, func() float64 { return float64(limited.Rejections().Pending) }))
	}
	s.http = &http.Server{
		Handler:           gw,
		TLSConfig:         cfg.TLS,
		ReadHeaderTimeout: 10 * time.Second,
		// Until the WebSocket upgrade; the gateway sets its own deadlines
		// on upgraded connections (gorilla clears these at the upgrade).
		ReadTimeout:  10 * time.Second,
		WriteTimeout: 10 * time.Second,
		IdleTimeout:  30 * time.Second,
		ErrorLog:     slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelDebug),
	}
	return s, nil
}

// Start serves until Close; it returns at once. It fails after Close
// (ErrClosed) and when called twice (ErrStarted).
func (s *Node) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return ErrClosed
	case s.started:
		return ErrStarted
	}
	if err := s.sfu.Start(ctx); err != nil {
		return err
	}
	s.started = true
	go func() { // owned by Close, which waits on done
		defer close(s.done)
		err := s.http.Serve(tls.NewListener(s.ln, s.cfg.TLS))
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.cfg.Logger.Error("voice gateway serve", "err", err)
		}
	}()
	return nil
}

// GatewayAddr is the host:port clients put after wss://.
func (s *Node) GatewayAddr() string { return s.ln.Addr().String() }

// UDPAddr is the media socket's address.
func (s *Node) UDPAddr() string { return s.sfu.LocalAddr().String() }

// WebRTCAddr is the browsers' UDP address ("" without WebRTC).
func (s *Node) WebRTCAddr() string {
	if a := s.sfu.WebRTCAddr(); a != nil {
		return a.String()
	}
	return ""
}

// Controller is the control-plane interface (mute, deafen, disconnect).
func (s *Node) Controller() voicectl.Controller { return s.gw.Controller() }

// SetServing starts (true) or stops (false) admitting voice sessions;
// stopping ends every live one with 4022 and refuses new ones with 4011,
// so a node out of its fleet serves nothing (signaling.Server.SetServing).
// The fleet member calls it when it gains or loses its registry session.
func (s *Node) SetServing(serving bool) { s.gw.SetServing(serving) }

// Serving reports whether the node admits sessions.
func (s *Node) Serving() bool { return s.gw.Serving() }

// Participants lists connected users.
func (s *Node) Participants() []voicectl.Participant { return s.gw.Participants() }

// DAVEState is the DAVE state of a voice channel (signaling.Server.DAVEState).
func (s *Node) DAVEState(guild, channel string) (signaling.DAVERoomState, bool) {
	return s.gw.DAVEState(guild, channel)
}

// SFU exposes the media plane (stats for the bench and tests).
func (s *Node) SFU() *sfu.Server { return s.sfu }

// Close sends every client a close frame (1001), stops the listeners and
// the SFU, and waits for the goroutines Start launched and the web
// origin's connections ServeHTTP runs (ctx bounds the waits). It may be called without or after a failed Start, and more than
// once: later calls return the first one's error.
func (s *Node) Close(ctx context.Context) error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		started := s.started
		s.mu.Unlock()
		gwErr := s.gw.Close(ctx)
		var httpErr error
		if started {
			httpErr = s.http.Shutdown(ctx) // closes the listener, so Serve returns
			select {
			case <-s.done:
			case <-ctx.Done():
				httpErr = errors.Join(httpErr, fmt.Errorf("voicenode: waiting for the gateway listener: %w", ctx.Err()))
			}
		} else {
			_ = s.ln.Close() // never served: nobody else closes it
		}
		frontErr := s.closeFronted(ctx)
		sfuErr := s.sfu.Close(ctx)
		s.closeErr = errors.Join(gwErr, httpErr, frontErr, sfuErr)
	})
	return s.closeErr
}

// mediaPlane adapts the SFU to the gateway's Media interface (the gateway
// defines what it needs; sfu does not know the gateway).
type mediaPlane struct{ s *sfu.Server }

func (m mediaPlane) Join(room, user string) (signaling.Participant, error) {
	p, err := m.s.Join(room, user)
	if err != nil {
		return nil, err
	}
	return participant{p}, nil
}

// participant adapts an SFU participant to the gateway's: it maps the
// SFU's errors to the sentinels the gateway knows.
type participant struct{ *sfu.Participant }

func (p participant) SetWebRTCTransport(fragment string, codecs []voiceproto.Codec) (string, error) {
	answer, err := p.Participant.SetWebRTCTransport(fragment, codecs)
	if errors.Is(err, sfu.ErrWebRTCOff) {
		return "", fmt.Errorf("%w: %w", signaling.ErrWebRTCOff, err)
	}
	return answer, err
}

func (m mediaPlane) Modes() []string                    { return m.s.Modes() }
func (m mediaPlane) UDPEndpoint() (ip string, port int) { return m.s.UDPEndpoint() }
