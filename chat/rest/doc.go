// Package rest serves the Discord-shaped HTTP API (base /api/v10, /api/v9 as
// an alias): Discord JSON objects and errors ({code, message, errors}),
// per-route and global rate limits with the X-RateLimit-* headers and 429
// bodies that discord.js and discordgo understand
// (shared/docs/chat-gateway.md §2), messages with files as multipart
// bodies (multipart.go), read states (POST
// /channels/{c}/messages/{m}/ack), accounts (register, login, POST
// /auth/logout as Discord's, POST /auth/logout-all, a password change
// through PATCH /users/@me that revokes every token and returns a new one),
// and local admin routes used by `parley bot create` and `parley bot
// reset`.
package rest
