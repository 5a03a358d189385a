package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/parleyhq/parley/chat"
	"github.com/parleyhq/parley/chat/gateway"
	"github.com/parleyhq/parley/chat/rest"
	"github.com/parleyhq/parley/chat/store"
	"github.com/parleyhq/parley/internal/cli"
	"github.com/parleyhq/parley/internal/connlimit"
	"github.com/parleyhq/parley/internal/voicetoken"
)

// chatAdminKey is the data-dir key that authorises local admin calls
// (`parley bot create`) against a running chat server.
const chatAdminKey = "chat_admin"

// chatFlags are the chat component's serve flags.
type chatFlags struct {
	apiAddr, gatewayAddr, publicHost, postgresDSN, sqliteSync, voiceRegion *string
	noAutoJoin                                                             *bool
	// Per-IP caps and attempt limits (negative: none).
	apiConns, gatewayConns, gatewayPending               *int
	requestsPerSecond, invalidPerIP, authPerIP, failures *int
	identifyTimeout                                      *time.Duration
	// Message attachments: files per message (0: none) and bytes per file.
	maxFiles, maxFileBytes *int
}

var chatF chatFlags

func init() {
	registerComponent(&component{
		name:  "chat",
		order: 20,
		flags: func(fs *flag.FlagSet) {
			chatF.apiAddr = cli.String(fs, "chat-api-addr", "PARLEY_CHAT_API_ADDR", "127.0.0.1:4000", "chat REST API listen address")
			chatF.gatewayAddr = cli.String(fs, "chat-gateway-addr", "PARLEY_CHAT_GATEWAY_ADDR", "127.0.0.1:4001", "chat gateway (WebSocket) listen address")
			chatF.publicHost = cli.String(fs, "chat-public-host", "PARLEY_CHAT_PUBLIC_HOST", "", "host clients use to reach the gateway (default: the listen address; --public-host when the gateway listens beyond loopback)")
			chatF.postgresDSN = cli.String(fs, "chat-postgres-dsn", "PARLEY_CHAT_POSTGRES_DSN", "", "PostgreSQL DSN for chat data (default: SQLite in the data dir)")
			chatF.sqliteSync = cli.String(fs, "chat-sqlite-sync", "PARLEY_CHAT_SQLITE_SYNC", "NORMAL", "SQLite synchronous pragma: NORMAL or FULL")
			chatF.voiceRegion = cli.String(fs, "chat-voice-region", "PARLEY_CHAT_VOICE_REGION", "local", "region name of the local voice node")
			chatF.noAutoJoin = cli.Bool(fs, "chat-no-autojoin", "PARLEY_CHAT_NO_AUTOJOIN", false, "do not add new accounts to the default guild")
			chatF.apiConns = cli.Int(fs, "chat-api-max-conns-per-ip", "PARLEY_CHAT_API_MAX_CONNS_PER_IP", rest.DefaultMaxConnsPerIP,
				"REST API connections one client IP may hold open (-1: no cap)")
			chatF.gatewayConns = cli.Int(fs, "chat-gateway-max-conns-per-ip", "PARLEY_CHAT_GATEWAY_MAX_CONNS_PER_IP", connlimit.Default.PerIP,
				"chat gateway connections one client IP may hold open (-1: no cap)")
			chatF.gatewayPending = cli.Int(fs, "chat-gateway-max-pending-per-ip", "PARLEY_CHAT_GATEWAY_MAX_PENDING_PER_IP", connlimit.Default.PendingPerIP,
				"chat gateway connections one client IP may hold before they identify (-1: no cap)")
			chatF.identifyTimeout = cli.Duration(fs, "chat-identify-timeout", "PARLEY_CHAT_IDENTIFY_TIMEOUT", 10*time.Second,
				"close chat gateway connections that have not identified this long after connecting (4003)")
			chatF.requestsPerSecond = cli.Int(fs, "chat-requests-per-second", "PARLEY_CHAT_REQUESTS_PER_SECOND", rest.DefaultGlobal.Requests,
				"REST requests per second per user, or per client IP before authentication (-1: no limit)")
			chatF.invalidPerIP = cli.Int(fs, "chat-invalid-per-ip", "PARLEY_CHAT_INVALID_PER_IP", rest.DefaultInvalid.Requests,
				"REST answers 401/403/429 and failed logins per client IP per 10 minutes before every request from it gets 429 (-1: no limit)")
			chatF.authPerIP = cli.Int(fs, "chat-auth-attempts-per-ip", "PARLEY_CHAT_AUTH_ATTEMPTS_PER_IP", rest.DefaultAuthPerIP.Requests,
				"logins, registrations and password changes per client IP per 5 minutes (-1: no limit)")
			chatF.failures = cli.Int(fs, "chat-login-failures-per-account", "PARLEY_CHAT_LOGIN_FAILURES_PER_ACCOUNT", rest.DefaultLoginFailures.Requests,
				"failed password checks per account name per 15 minutes, from any IP, before its logins get 429 (-1: no limit)")
			chatF.maxFiles = cli.Int(fs, "chat-max-files", "PARLEY_CHAT_MAX_FILES", rest.DefaultMaxFiles,
				"files one chat message may carry (0: messages carry no files)")
			chatF.maxFileBytes = cli.Int(fs, "chat-max-file-bytes", "PARLEY_CHAT_MAX_FILE_BYTES", rest.DefaultMaxFileBytes,
				"largest file attached to a chat message in bytes; above --media-max-bytes it is clamped to that (logged at start-up)")
		},
		start: startChat,
	})
}

// uploadSpool is the data dir's directory where chat receives the files
// of a message before it stores them, emptied at start (what a crash left
// there belongs to no request).
func uploadSpool(env *serveEnv) (string, error) {
	dir := env.dir.Join("upload-spool")
	if err := os.RemoveAll(dir); err != nil {
		return "", err
	}
	return dir, os.MkdirAll(dir, 0o700)
}

func chatStoreConfig(env *serveEnv) store.Config {
	return store.Config{PostgresDSN: *chatF.postgresDSN, SQLitePath: env.dir.Join("chat.db"), Synchronous: *chatF.sqliteSync}
}

func startChat(ctx context.Context, env *serveEnv) (*running, error) {
	voiceKey, err := env.dir.Key(voicetoken.KeyName)
	if err != nil {
		return nil, err
	}
	adminKey, err := env.dir.Key(chatAdminKey)
	if err != nil {
		return nil, err
	}
	if *chatF.maxFiles < 0 || *chatF.maxFileBytes < 1 {
		return nil, cli.Usagef("--chat-max-files must be at least 0 and --chat-max-file-bytes at least 1")
	}
	cfg := chat.Config{
		Logger: env.log.With("component", "chat"), Store: chatStoreConfig(env),
		APIAddr: *chatF.apiAddr, GatewayAddr: *chatF.gatewayAddr, PublicHost: cmp.Or(*chatF.publicHost, env.public.gatewayHost(*chatF.gatewayAddr)),
		VoiceKey: voiceKey, AdminKey: adminKey, NoAutoJoin: *chatF.noAutoJoin, VoiceRegion: *chatF.voiceRegion,
		Gateway: gateway.Config{
			Conns:           connlimit.Config{PerIP: *chatF.gatewayConns, PendingPerIP: *chatF.gatewayPending},
			IdentifyTimeout: *chatF.identifyTimeout,
		},
		REST: rest.Config{
			MaxConnsPerIP: *chatF.apiConns,
			Global:        rest.Limit{Requests: *chatF.requestsPerSecond, Window: rest.DefaultGlobal.Window},
			Invalid:       rest.Limit{Requests: *chatF.invalidPerIP, Window: rest.DefaultInvalid.Window},
			AuthPerIP:     rest.Limit{Requests: *chatF.authPerIP, Window: rest.DefaultAuthPerIP.Window},
			LoginFailures: rest.Limit{Requests: *chatF.failures, Window: rest.DefaultLoginFailures.Window},
		},
	}
	// Attachments need the media proxy in this process: it serves their
	// URLs (the web origin's /media passes them to it). Without it
	// (--only chat) a message with files is refused (400, "attachments
	// are not enabled on this server") rather than kept unservable.
	switch {
	case *chatF.maxFiles > 0 && !env.runs("media"):
		env.log.Info("chat: attachments off: the media proxy does not run in this process (--only)")
	case *chatF.maxFiles > 0:
		files, maxBytes, err := chatAttachmentsFor(env, int64(*chatF.maxFileBytes))
		if err != nil {
			return nil, err
		}
		spool, err := uploadSpool(env)
		if err != nil {
			return nil, err
		}
		cfg.Attachments, cfg.MaxFiles, cfg.MaxFileBytes, cfg.SpoolDir = files, *chatF.maxFiles, maxBytes, spool
	}
	// The voice component (order 10) sets these; with `--only chat` they
	// stay empty and op 4 answers without a voice server, unless
	// --registry places voice channels on the fleet's nodes.
	if env.voice != nil {
		cfg.Voice = env.voice
	}
	cfg.VoiceEndpoint = env.voiceEndpoint
	cfg.VoiceRegion = fleetRegion()
	cfg.VoiceMoveTimeout = *fleetF.moveTimeout
	if *fleetF.tokenTTL < time.Second {
		return nil, cli.Usagef("--voice-token-ttl must be at least 1s")
	}
	cfg.VoiceTokenTTL = *fleetF.tokenTTL
	// With --registry chat signs voice tokens with its own rotating
	// Ed25519 key, which every voice node of the fleet verifies.
	ring, stopRing, err := fleetKeyRing(ctx, env)
	if err != nil {
		return nil, err
	}
	if ring != nil {
		cfg.VoiceIssuer = ring.Current
	}
	reg, err := fleetRegistry(ctx, env)
	if err != nil {
		_ = stopRing(ctx)
		return nil, err
	}
	// With --registry, moderation reaches every voice node of the fleet
	// (the one in this process too) through etcd.
	bus, err := fleetBus(ctx, env)
	if err != nil {
		if reg != nil {
			_ = reg.Close(ctx)
		}
		_ = stopRing(ctx)
		return nil, err
	}
	closeReg := func(ctx context.Context) error {
		if reg == nil {
			return stopRing(ctx)
		}
		return errors.Join(reg.Close(ctx), bus.Close(ctx), stopRing(ctx))
	}
	if reg != nil {
		cfg.Registry, cfg.Voice = reg, bus
	} else if cfg.VoiceEndpoint == "" {
		env.log.Warn("chat: no voice server in this process and no --registry; voice hand-off disabled")
	}
	srv, err := chat.New(cfg)
	if err != nil {
		_ = closeReg(ctx)
		return nil, err
	}
	if err := srv.Start(ctx); err != nil {
		_ = srv.Close(ctx)
		_ = closeReg(ctx)
		return nil, err
	}
	if env.metrics != nil {
		registerChatMetrics(env.metrics, srv)
	}
	env.admission.set(srv.Service)
	env.chat = srv
	env.chatModeration = srv.Service.Moderation()
	return &running{
		addrs: map[string]string{"api": srv.APIAddr(), "gateway": srv.GatewayAddr()},
		stop: func(ctx context.Context) error {
			return errors.Join(srv.Close(ctx), closeReg(ctx))
		},
	}, nil
}

// registerChatMetrics exports the gateway counters.
func registerChatMetrics(reg *prometheus.Registry, srv *chat.Server) {
	stat := func(f func(st gateway.Stats) int64) func() float64 {
		return func() float64 { return float64(f(srv.Gateway.Stats())) }
	}
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "parley_chat_gateway_connections", Help: "Open gateway connections."},
			stat(func(s gateway.Stats) int64 { return s.Connections })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "parley_chat_gateway_sessions", Help: "Live gateway sessions (attached or resumable)."},
			stat(func(s gateway.Stats) int64 { return s.Sessions })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "parley_chat_gateway_dispatches_total", Help: "Dispatches enqueued to sessions (deliveries)."},
			stat(func(s gateway.Stats) int64 { return s.Dispatches })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "parley_chat_gateway_writes_total", Help: "Socket writes (each coalesces pending frames)."},
			stat(func(s gateway.Stats) int64 { return s.Writes })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "parley_chat_gateway_bytes_out_total", Help: "Bytes written to gateway sockets."},
			stat(func(s gateway.Stats) int64 { return s.BytesOut })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "parley_chat_gateway_slow_drops_total", Help: "Connections closed for falling behind their dispatch limit."},
			stat(func(s gateway.Stats) int64 { return s.Dropped })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "parley_chat_gateway_replay_bytes", Help: "Bytes held in the sessions' dispatch lists."},
			stat(func(s gateway.Stats) int64 { return s.ReplayBytes })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "parley_chat_refused_connections_total", Help: "Connections closed at accept: over a per-IP cap.",
			ConstLabels: prometheus.Labels{"listener": "gateway", "cap": "per_ip"}},
			stat(func(s gateway.Stats) int64 { return int64(s.RefusedPerIP) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "parley_chat_refused_connections_total", Help: "Connections closed at accept: over a per-IP cap.",
			ConstLabels: prometheus.Labels{"listener": "gateway", "cap": "pending_per_ip"}},
			stat(func(s gateway.Stats) int64 { return int64(s.RefusedPending) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "parley_chat_refused_connections_total", Help: "Connections closed at accept: over a per-IP cap.",
			ConstLabels: prometheus.Labels{"listener": "api", "cap": "per_ip"}},
			func() float64 { return float64(srv.API.Stats().RefusedConns) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "parley_chat_api_limiter_keys", Help: "Rate-limit windows held by the REST API."},
			func() float64 { return float64(srv.API.Stats().LimiterKeys) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "parley_chat_uploads_refused_total", Help: "Messages with files refused (a limit, a malformed body, a file the store would not keep)."},
			func() float64 { return float64(srv.API.Stats().UploadsRefused) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "parley_chat_files_discarded_total", Help: "Files stored for messages that then failed, and deleted again."},
			func() float64 { return float64(srv.API.Stats().FilesDiscarded) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "parley_chat_attachment_delete_failures_total", Help: "Attachment deletions (a message's, a channel's) that failed or were dropped at shutdown: files left in the store."},
			func() float64 { return float64(srv.Service.AttachmentDeleteFailures()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "parley_chat_voice_moved_channels_total", Help: "Voice channels moved off a draining or lost voice node."},
			func() float64 { c, _, _ := srv.Service.VoiceMoves(); return float64(c) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "parley_chat_voice_moved_members_total", Help: "Members of moved voice channels sent VOICE_SERVER_UPDATE for their new node."},
			func() float64 { _, m, _ := srv.Service.VoiceMoves(); return float64(m) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "parley_chat_voice_move_removed_total", Help: "Members of moved voice calls removed from voice for not reaching their new node in time."},
			func() float64 { _, _, r := srv.Service.VoiceMoves(); return float64(r) }),
	)
}
