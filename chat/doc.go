// Package chat is Parley's lean chat server shaped like Discord's bot API,
// and the voice control plane. Existing bot libraries (discord.js,
// discordgo) connect to it by changing only their base URLs.
//
// Layout, along the request path:
//
//	rest        HTTP API (/api/v10, /api/v9 alias), rate limits, errors
//	gateway     WebSocket gateway: sessions, resume, fan-out (epoll, gobwas/ws)
//	service     accounts, guild graph, messages, permissions, voice hand-off
//	voicestate  who is in which voice channel (pure state machine)
//	registry    voice node choice (embedded single-node; interface for regions)
//	store       persistence: SQLite (default) or PostgreSQL
//	model       Discord-shaped objects, snowflakes, intents, permissions
//
// Server wires them together for `parley serve`.
package chat
