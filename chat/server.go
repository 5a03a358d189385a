package chat

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"

	"github.com/parleyhq/parley/chat/gateway"
	"github.com/parleyhq/parley/chat/registry"
	"github.com/parleyhq/parley/chat/rest"
	"github.com/parleyhq/parley/chat/service"
	"github.com/parleyhq/parley/chat/store"
	"github.com/parleyhq/parley/internal/voicectl"
	"github.com/parleyhq/parley/internal/voicetoken"
)

// ErrConfig means the server configuration is invalid.
var ErrConfig = errors.New("chat: invalid configuration")

// Config configures a chat Server.
type Config struct {
	Log   *slog.Logger
	Store store.Config
	// APIAddr and GatewayAddr are listen addresses (port 0 works).
	APIAddr, GatewayAddr string
	// PublicHost overrides the host in the gateway URL (default: the
	// listener's address).
	PublicHost string
	// Voice is the SFU's control interface (nil: no moderation reaches it).
	Voice voicectl.Controller
	// VoiceEndpoint is the voice gateway host:port; empty disables hand-off.
	VoiceEndpoint string
	// VoiceRegion names the embedded node's region (default "local").
	VoiceRegion string
	// VoiceKey is the voice token HMAC key (datadir key voicetoken.KeyName).
	VoiceKey []byte
	// AdminKey authorises local admin routes (`parley bot create`).
	AdminKey []byte
	// NoAutoJoin keeps new accounts out of the default guild.
	NoAutoJoin bool
	// Gateway and REST tuning (zero values take their defaults).
	Gateway gateway.Config
	REST    rest.Config
	// PasswordIterations is the PBKDF2 cost (tests lower it).
	PasswordIterations int
}

// Validate checks the configuration.
func (c Config) Validate() error {
	if c.Log == nil {
		return fmt.Errorf("%w: no logger", ErrConfig)
	}
	if c.VoiceEndpoint != "" && len(c.VoiceKey) < 32 {
		return fmt.Errorf("%w: voice endpoint without a 32-byte voice key", ErrConfig)
	}
	return c.Store.Validate()
}

// Server is the running chat server.
type Server struct {
	Service  *service.Service
	Gateway  *gateway.Server
	Registry *registry.Embedded

	st    store.Store
	apiLn net.Listener
	gwLn  net.Listener
	api   *rest.Server
	log   *slog.Logger
}

// Start opens the store, loads state and starts both listeners.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	st, err := store.Open(ctx, cfg.Store)
	if err != nil {
		return nil, err
	}
	s := &Server{st: st, log: cfg.Log}
	fail := func(err error) (*Server, error) {
		s.closeListeners()
		st.Close()
		return nil, err
	}
	var signer *voicetoken.Signer
	s.Registry = registry.NewEmbedded()
	if cfg.VoiceEndpoint != "" {
		if signer, err = voicetoken.NewSigner(cfg.VoiceKey); err != nil {
			return fail(err)
		}
		region := cfg.VoiceRegion
		if region == "" {
			region = "local"
		}
		var load registry.LoadFunc
		if l, ok := cfg.Voice.(voicectl.Lister); ok {
			load = func() float64 { return float64(len(l.Participants())) }
		}
		s.Registry.Upsert(registry.Node{ID: "local", Region: region, Endpoint: cfg.VoiceEndpoint, Healthy: true}, load)
	}
	svc, err := service.New(ctx, service.Config{
		Store: st, Log: cfg.Log, Registry: s.Registry, Voice: cfg.Voice, VoiceSigner: signer,
		NoAutoJoin: cfg.NoAutoJoin, PasswordIterations: cfg.PasswordIterations,
	})
	if err != nil {
		return fail(err)
	}
	s.Service = svc
	if s.gwLn, err = net.Listen("tcp", cfg.GatewayAddr); err != nil {
		return fail(fmt.Errorf("chat: gateway listen: %w", err))
	}
	if s.apiLn, err = net.Listen("tcp", cfg.APIAddr); err != nil {
		return fail(fmt.Errorf("chat: api listen: %w", err))
	}
	gwURL := "ws://" + hostPort(cfg.PublicHost, s.gwLn.Addr())
	gcfg := cfg.Gateway
	gcfg.Backend, gcfg.Logger, gcfg.ResumeURL, gcfg.Listener = svc.GatewayBackend(), cfg.Log, gwURL, s.gwLn
	if s.Gateway, err = gateway.New(gcfg); err != nil {
		return fail(err)
	}
	svc.SetDispatcher(s.Gateway)
	rcfg := cfg.REST
	rcfg.Service, rcfg.Logger, rcfg.GatewayURL, rcfg.AdminKey, rcfg.Listener = svc, cfg.Log, gwURL, cfg.AdminKey, s.apiLn
	if rcfg.MaxConcurrency == 0 {
		rcfg.MaxConcurrency = gcfg.IdentifyBurst
		if rcfg.MaxConcurrency == 0 {
			rcfg.MaxConcurrency = 16
		}
	}
	if s.api, err = rest.New(rcfg); err != nil {
		_ = s.Gateway.Close(ctx)
		return fail(err)
	}
	if err := s.Gateway.Start(ctx); err != nil {
		return fail(err)
	}
	if err := s.api.Start(ctx); err != nil {
		return fail(err)
	}
	cfg.Log.Info("chat started", "api", s.APIAddr(), "gateway", s.GatewayAddr(), "store", st.Engine(), "voice_endpoint", cfg.VoiceEndpoint)
	return s, nil
}

func hostPort(host string, a net.Addr) string {
	if host == "" {
		return a.String()
	}
	_, port, _ := net.SplitHostPort(a.String())
	return net.JoinHostPort(host, port)
}

// APIAddr is the REST listener's address.
func (s *Server) APIAddr() string { return s.apiLn.Addr().String() }

// GatewayAddr is the gateway listener's address.
func (s *Server) GatewayAddr() string { return s.gwLn.Addr().String() }

func (s *Server) closeListeners() {
	if s.apiLn != nil {
		s.apiLn.Close()
	}
	if s.gwLn != nil {
		s.gwLn.Close()
	}
}

// Stop shuts down REST, then the gateway (op 7 to every client), then the
// store.
func (s *Server) Stop(ctx context.Context) error {
	err := s.api.Close(ctx)
	_ = s.Gateway.Close(ctx)
	return errors.Join(err, s.st.Close())
}
