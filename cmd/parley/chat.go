package main

import (
	"context"
	"flag"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/parleyhq/parley/chat"
	"github.com/parleyhq/parley/chat/gateway"
	"github.com/parleyhq/parley/chat/store"
	"github.com/parleyhq/parley/internal/cli"
	"github.com/parleyhq/parley/internal/voicetoken"
)

// chatAdminKey is the data-dir key that authorises local admin calls
// (`parley bot create`) against a running chat server.
const chatAdminKey = "chat_admin"

// chatFlags are the chat component's serve flags.
type chatFlags struct {
	apiAddr, gatewayAddr, publicHost, postgresDSN, sqliteSync, voiceRegion *string
	noAutoJoin                                                             *bool
}

var chatF chatFlags

func init() {
	registerComponent(&component{
		name:  "chat",
		order: 20,
		flags: func(fs *flag.FlagSet) {
			chatF.apiAddr = cli.String(fs, "chat-api-addr", "PARLEY_CHAT_API_ADDR", "127.0.0.1:4000", "chat REST API listen address")
			chatF.gatewayAddr = cli.String(fs, "chat-gateway-addr", "PARLEY_CHAT_GATEWAY_ADDR", "127.0.0.1:4001", "chat gateway (WebSocket) listen address")
			chatF.publicHost = cli.String(fs, "chat-public-host", "PARLEY_CHAT_PUBLIC_HOST", "", "host clients use to reach the gateway (default: the listen address)")
			chatF.postgresDSN = cli.String(fs, "chat-postgres-dsn", "PARLEY_CHAT_POSTGRES_DSN", "", "PostgreSQL DSN for chat data (default: SQLite in the data dir)")
			chatF.sqliteSync = cli.String(fs, "chat-sqlite-sync", "PARLEY_CHAT_SQLITE_SYNC", "NORMAL", "SQLite synchronous pragma: NORMAL or FULL")
			chatF.voiceRegion = cli.String(fs, "chat-voice-region", "PARLEY_CHAT_VOICE_REGION", "local", "region name of the local voice node")
			chatF.noAutoJoin = cli.Bool(fs, "chat-no-autojoin", "PARLEY_CHAT_NO_AUTOJOIN", false, "do not add new accounts to the default guild")
		},
		start: startChat,
	})
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
	cfg := chat.Config{
		Logger: env.log.With("component", "chat"), Store: chatStoreConfig(env),
		APIAddr: *chatF.apiAddr, GatewayAddr: *chatF.gatewayAddr, PublicHost: *chatF.publicHost,
		VoiceKey: voiceKey, AdminKey: adminKey, NoAutoJoin: *chatF.noAutoJoin, VoiceRegion: *chatF.voiceRegion,
	}
	// The voice component (order 10) sets these; with `--only chat` they
	// stay empty and op 4 answers without a voice server.
	if env.voice != nil {
		cfg.Voice = env.voice
	}
	cfg.VoiceEndpoint = env.voiceEndpoint
	if cfg.VoiceEndpoint == "" {
		env.log.Warn("chat: no voice server in this process; voice hand-off disabled")
	}
	srv, err := chat.New(cfg)
	if err != nil {
		return nil, err
	}
	if err := srv.Start(ctx); err != nil {
		_ = srv.Close(ctx)
		return nil, err
	}
	if env.metrics != nil {
		registerChatMetrics(env.metrics, srv)
	}
	env.admission.set(srv.Service)
	env.chatModeration = srv.Service.Moderation()
	return &running{
		addrs: map[string]string{"api": srv.APIAddr(), "gateway": srv.GatewayAddr()},
		stop:  srv.Close,
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
	)
}
