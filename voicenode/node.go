// Package voiceserver wires one voice server together: the sfu node (UDP
// media) and the signaling gateway (WSS) on a TLS listener. `parley serve`,
// the interop tests and the bench all start voice through it.
package voiceserver

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

	"github.com/parleyhq/parley/internal/voicectl"
	"github.com/parleyhq/parley/internal/voicetoken"
	"github.com/parleyhq/parley/sfu"
	"github.com/parleyhq/parley/signaling"
	"github.com/prometheus/client_golang/prometheus"
)

// Config configures a Server.
type Config struct {
	// GatewayAddr is the WSS listen address (default 127.0.0.1:0).
	GatewayAddr string
	// UDPAddr is the media listen address (default 127.0.0.1:0).
	UDPAddr string
	// PublicIP is announced to clients for UDP (default: the UDP listen IP).
	PublicIP string
	// TLS is required: every client hard-codes wss://.
	TLS *tls.Config
	// TokenKey verifies voice tokens (the data dir's voice_token key).
	TokenKey []byte
	// LegacyModes offers xsalsa20_poly1305 and friends (discordgo v0.29.0).
	LegacyModes bool
	// Readers is the number of UDP reader goroutines (default GOMAXPROCS).
	Readers int
	// Gateway tunes the voice gateway, including the DAVE end-to-end
	// encryption policy (Gateway.DAVE: preferred by default, required or
	// off); Media, Tokens, Logger and Metrics are filled in by New.
	Gateway signaling.Config
	Logger  *slog.Logger
	Metrics prometheus.Registerer
}

// Validate checks the config and fills defaults.
func (c *Config) Validate() error {
	if c.GatewayAddr == "" {
		c.GatewayAddr = "127.0.0.1:0"
	}
	if c.TLS == nil {
		return errors.New("voiceserver: TLS config is required (clients only speak wss://)")
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Server is a running voice server.
type Server struct {
	cfg  Config
	node *sfu.Node
	gw   *signaling.Server
	ln   net.Listener
	http *http.Server
	done chan struct{}

	closeOnce sync.Once
	closeErr  error
}

// New builds the node and the gateway and binds both sockets.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	signer, err := voicetoken.NewSigner(cfg.TokenKey)
	if err != nil {
		return nil, err
	}
	node, err := sfu.NewNode(sfu.Config{
		UDPAddr: cfg.UDPAddr, PublicIP: cfg.PublicIP, LegacyModes: cfg.LegacyModes,
		Readers: cfg.Readers, Logger: cfg.Logger.With("component", "sfu"), Metrics: cfg.Metrics,
	})
	if err != nil {
		return nil, err
	}
	gcfg := cfg.Gateway
	gcfg.Media = media{node}
	gcfg.Tokens = signer
	gcfg.Logger = cfg.Logger.With("component", "voice_gateway")
	gcfg.Metrics = cfg.Metrics
	gw, err := signaling.New(gcfg)
	if err != nil {
		_ = node.Close(context.Background())
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.GatewayAddr)
	if err != nil {
		_ = node.Close(context.Background())
		return nil, fmt.Errorf("voiceserver: listen %s: %w", cfg.GatewayAddr, err)
	}
	s := &Server{cfg: cfg, node: node, gw: gw, ln: ln, done: make(chan struct{})}
	s.http = &http.Server{
		Handler:           gw,
		TLSConfig:         cfg.TLS,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelDebug),
	}
	return s, nil
}

// Start serves until Close; it returns at once.
func (s *Server) Start(context.Context) error {
	s.node.Start()
	go func() {
		defer close(s.done)
		err := s.http.Serve(tls.NewListener(s.ln, s.cfg.TLS))
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.cfg.Logger.Error("voice gateway serve", "err", err)
		}
	}()
	return nil
}

// GatewayAddr is the host:port clients put after wss://.
func (s *Server) GatewayAddr() string { return s.ln.Addr().String() }

// UDPAddr is the media socket's address.
func (s *Server) UDPAddr() string { return s.node.LocalAddr().String() }

// Controller is the control-plane interface (mute, deafen, disconnect).
func (s *Server) Controller() voicectl.Controller { return s.gw.Controller() }

// Participants lists connected users.
func (s *Server) Participants() []voicectl.Participant { return s.gw.Participants() }

// Gateway exposes the voice gateway (DAVE state for tests and the admin
// API).
func (s *Server) Gateway() *signaling.Server { return s.gw }

// DAVEState is the DAVE state of a voice channel (signaling.Server.DAVEState).
func (s *Server) DAVEState(guild, channel string) (signaling.DAVERoomState, bool) {
	return s.gw.DAVEState(guild, channel)
}

// Node exposes the SFU (stats for the bench and tests).
func (s *Server) Node() *sfu.Node { return s.node }

// Close sends every client a close frame (1001), stops the listeners and
// the SFU.
func (s *Server) Close(ctx context.Context) error {
	s.closeOnce.Do(func() {
		gwErr := s.gw.Close(ctx)
		httpErr := s.http.Shutdown(ctx)
		<-s.done
		nodeErr := s.node.Close(ctx)
		s.closeErr = errors.Join(gwErr, httpErr, nodeErr)
	})
	return s.closeErr
}

// media adapts the sfu node to the gateway's Media interface.
type media struct{ n *sfu.Node }

func (m media) Join(room, user string) (signaling.Participant, error) {
	p, err := m.n.Join(room, user)
	if err != nil {
		return nil, err
	}
	return p, nil
}

func (m media) Modes() []string                    { return m.n.Modes() }
func (m media) UDPEndpoint() (ip string, port int) { return m.n.UDPEndpoint() }
