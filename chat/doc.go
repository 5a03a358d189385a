// Package chat is Parley's lean chat server shaped like Discord's bot API,
// and the voice control plane. Existing bot libraries (discord.js,
// discordgo) connect to it by changing only their base URLs.
//
// Layout, along the request path (imports run down this list only:
// transports → service → store → model; internal/archtest's
// TestDependencyFences fences it):
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
//
// Limits, with their defaults (each a Config field; the per-IP ones and
// the attempt limits are also `parley serve` flags):
//
//   - connections per client IP: REST 128 open (rest.DefaultMaxConnsPerIP),
//     gateway 256 open and 16 not yet identified (connlimit.Default),
//     refused at accept; the gateway closes a connection that has not
//     identified within 10 s (4003), REST bounds a request's headers
//     (10 s), whole request (30 s), answer (60 s) and idle time (2 min);
//   - REST requests: 50 per second per user (or address), per-route
//     windows keyed on parsed canonical ids (a non-canonical id is 404),
//     10,000 invalid answers per address per 10 minutes, each limiter at
//     most 65,536 windows; IPv6 addresses count per /64;
//   - logins, registrations and password changes: 30 per address per 5
//     minutes, 10 failed password checks per account name per 15 minutes,
//     at most half the cores hashing passwords (the rest wait briefly or
//     get 503), the same work whether an account exists or not;
//   - tokens: a user token expires 30 days after its last use and 365
//     days after its login; logout, logout-all, a password change and a
//     bot token reset revoke tokens and close their gateway sessions (4004);
//   - what is fanned out: message content 2,000 characters, nonce 25,
//     embeds 6,000 bytes, activities 5 of 128 characters, names 32 or 100
//     visible characters; a session's dispatch list 1,000 dispatches and
//     2 MiB; 120 client frames (pings included) per connection per minute;
//   - message attachments: 10 files of 25 MiB each (MaxFiles,
//     MaxFileBytes; the attachment store may refuse more), a multipart
//     body refused by its declared length before it is read, read one
//     part at a time into the spool (SpoolDir) before any file is stored,
//     16 KiB of boundary and headers per part, 5 minutes to send it; file
//     names 255 bytes, descriptions 1,024 characters;
//   - the SQLite database and its companion files are owner-only (0600).
package chat
