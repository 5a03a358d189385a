package chat

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"

	"github.com/parleyhq/parley/chat/gateway"
	"github.com/parleyhq/parley/chat/registry"
	"github.com/parleyhq/parley/chat/rest"
	"github.com/parleyhq/parley/chat/service"
	"github.com/parleyhq/parley/chat/store"
	"github.com/parleyhq/parley/internal/voicectl"
	"github.com/parleyhq/parley/internal/voicetoken"
)

// The service is the gateway's backend and the gateway its dispatcher;
// each side defines the interface it needs.
var (
	_ gateway.Backend    = (*service.Service)(nil)
	_ service.Dispatcher = (*gateway.Server)(nil)
)

// Server is the chat server: the composition of store, service, gateway
// and REST API. New builds and binds it, Start starts the gateway and the
// API, Close stops them and closes the store.
type Server struct {
	Service *service.Service
	Gateway *gateway.Server
	API     *rest.Server
	// Registry places voice channels: Config.Registry, else the embedded
	// registry of the local voice node.
	Registry voicectl.Registry

	cfg Config
	st  *store.SQL

	closeOnce sync.Once
	closeErr  error
}

// New applies the defaults to cfg and validates it, opens the store and
// loads its state (bounded by cfg.OpenTimeout), builds the service, binds
// the gateway and API listeners and connects the service to the gateway.
// Nothing is served until Start.
func New(cfg Config) (*Server, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.OpenTimeout)
	defer cancel()
	st, err := store.Open(ctx, cfg.Store)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, st: st, Registry: cfg.Registry}
	fail := func(err error) (*Server, error) {
		_ = s.Close(context.Background()) // nothing started yet: releases at once
		return nil, err
	}
	var signer *voicetoken.Signer
	if s.Registry == nil && cfg.VoiceEndpoint != "" {
		e := registry.NewEmbedded()
		var load registry.LoadFunc
		if l, ok := cfg.Voice.(voicectl.Lister); ok {
			load = func() voicectl.Load { return voicectl.Load{Participants: len(l.Participants())} }
		}
		e.Upsert(registry.Node{ID: "local", Region: cfg.VoiceRegion, Endpoint: cfg.VoiceEndpoint}, load)
		s.Registry = e
	}
	if s.Registry != nil {
		var opts []voicetoken.Option
		if cfg.VoiceIssuer != nil {
			opts = append(opts, voicetoken.WithIssuer(cfg.VoiceIssuer))
		}
		if signer, err = voicetoken.NewSigner(cfg.VoiceKey, opts...); err != nil {
			return fail(err)
		}
	}
	if s.Service, err = service.New(ctx, service.Config{
		Store: st, Logger: cfg.Logger, Registry: s.Registry, VoiceRegion: cfg.VoiceRegion, Voice: cfg.Voice, VoiceSigner: signer,
		VoiceMoveTimeout: cfg.VoiceMoveTimeout, VoiceTokenTTL: cfg.VoiceTokenTTL,
		NoAutoJoin: cfg.NoAutoJoin, PasswordIterations: cfg.PasswordIterations, Attachments: cfg.Attachments,
	}); err != nil {
		return fail(err)
	}
	// The gateway's listener is bound here: the gateway URL (resume URL and
	// GET /gateway) carries its port.
	gwLn, err := net.Listen("tcp", cfg.GatewayAddr)
	if err != nil {
		return fail(fmt.Errorf("chat: gateway listen: %w", err))
	}
	gwURL := "ws://" + hostPort(cfg.PublicHost, gwLn.Addr())
	gcfg := cfg.Gateway
	gcfg.Backend, gcfg.Logger, gcfg.ResumeURL, gcfg.Listener = s.Service, cfg.Logger, gwURL, gwLn
	if s.Gateway, err = gateway.New(gcfg); err != nil {
		return fail(err)
	}
	s.Service.SetDispatcher(s.Gateway)
	rcfg := cfg.REST
	rcfg.Service, rcfg.Logger, rcfg.GatewayURL, rcfg.AdminKey, rcfg.Addr = s.Service, cfg.Logger, gwURL, cfg.AdminKey, cfg.APIAddr
	rcfg.MaxFiles, rcfg.MaxFileBytes, rcfg.SpoolDir = cfg.MaxFiles, cfg.MaxFileBytes, cfg.SpoolDir
	if s.API, err = rest.New(rcfg); err != nil {
		return fail(err)
	}
	return s, nil
}

func hostPort(host string, a net.Addr) string {
	if host == "" {
		return a.String()
	}
	_, port, _ := net.SplitHostPort(a.String())
	return net.JoinHostPort(host, port)
}

// Start starts the service's attachment deleter, the gateway and the
// REST API and returns at once. If it fails, Close still releases
// everything.
func (s *Server) Start(ctx context.Context) error {
	if err := s.Service.Start(ctx); err != nil {
		return err
	}
	if err := s.Gateway.Start(ctx); err != nil {
		return err
	}
	if err := s.API.Start(ctx); err != nil {
		return err
	}
	s.cfg.Logger.Info("chat started", "api", s.APIAddr(), "gateway", s.GatewayAddr(), "store", s.st.Engine(), "voice_endpoint", s.cfg.VoiceEndpoint)
	return nil
}

// APIAddr is the REST listener's address.
func (s *Server) APIAddr() string { return s.API.Addr() }

// GatewayAddr is the gateway listener's address.
func (s *Server) GatewayAddr() string { return s.Gateway.Addr() }

// Close shuts down REST, then the gateway (op 7 to every client), then
// the service (the attachment deletions queued), then closes the store;
// ctx bounds the graceful parts, and every goroutine any of them started
// has ended when Close returns. It is idempotent.
func (s *Server) Close(ctx context.Context) error {
	s.closeOnce.Do(func() {
		var errs []error
		if s.API != nil {
			errs = append(errs, s.API.Close(ctx))
		}
		if s.Gateway != nil {
			errs = append(errs, s.Gateway.Close(ctx))
		}
		if s.Service != nil {
			errs = append(errs, s.Service.Close(ctx))
		}
		errs = append(errs, s.st.Close())
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}
