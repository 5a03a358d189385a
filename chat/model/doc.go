// Package model holds the Discord-shaped objects Parley's chat server stores
// and serves (users, guilds, channels, roles, members, messages, voice
// states), snowflake ids with Discord's epoch, and the gateway intent and
// permission bits. Everything here is plain data with JSON tags matching the
// Discord API v10 wire shapes (see shared/docs/chat-gateway.md §1.1).
package model
