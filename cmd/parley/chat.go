package main

import (
	"context"
	"flag"

	"github.com/parleyhq/parley/chat"
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
		Log: env.log.With("component", "chat"), Store: chatStoreConfig(env),
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
	srv, err := chat.Start(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return &running{
		addrs: map[string]string{"api": srv.APIAddr(), "gateway": srv.GatewayAddr()},
		stop:  srv.Stop,
	}, nil
}
