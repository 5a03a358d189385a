// Package model holds the Discord-shaped objects Parley's chat server stores
// and serves (users, guilds, channels, roles, members, messages and their
// attachments, voice states), snowflake ids with Discord's epoch, the gateway intent and
// permission bits, and what the chat service and the gateway exchange: the
// dispatched Event, SessionRef, Auth (a token's user, id and expiry) and
// the bodies of ops 3, 4 and 8.
// Everything here is plain data with JSON tags matching the Discord API
// v10 wire shapes (see shared/docs/chat-gateway.md §1.1).
package model
