// Package chat is Parley's lean chat server shaped like Discord's bot API,
// and the voice control plane. Existing bot libraries (discord.js,
// discordgo) connect to it by changing only their base URLs.
//
// Layout, along the request path (imports run down this list only:
// transports → service → store → model; TestLayers fences it):
//
//	rest        HTTP API (/api/v10, /api/v9 alias), rate limits, errors
//	gateway     WebSocket gateway: sessions, resume, fan-out (epoll, gobwas/ws)
//	service     accounts, guild graph, messages, permissions, voice hand-off
//	voicestate  who is in which voice channel (pure state machine)
//	registry    voice node choice (embedded single-node; interface for regions)
//	store       persistence: SQLite (default) or PostgreSQL
//	model       Discord-shaped objects, snowflakes, intents, permissions,
//	            and the events and op bodies service and gateway exchange
//
// The gateway defines the Backend it needs and the service the Dispatcher
// it needs; Server (New, Start, Close) composes store, service, gateway and
// REST for `parley serve` and connects the two sides.
package chat
