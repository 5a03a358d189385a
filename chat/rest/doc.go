// Package rest serves the Discord-shaped HTTP API (base /api/v10, /api/v9 as
// an alias): Discord JSON objects and errors ({code, message, errors}),
// per-route and global rate limits with the X-RateLimit-* headers and 429
// bodies that discord.js and discordgo understand
// (shared/docs/chat-gateway.md §2), account registration and login, and a
// local admin route used by `parley bot create`.
package rest
