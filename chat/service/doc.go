// Package service is the chat server's logic between the transports (REST
// in chat/rest, the gateway in chat/gateway) and the store: accounts and
// tokens, the guild graph (held in memory, written through to the store),
// messages (store only), permissions, dispatch of gateway events, and the
// voice control plane (voice state tracking, node choice through the
// registry, voice tokens, and moderation reaching the SFU through
// voicectl.Controller).
//
// It imports neither transport: events are model.Event values handed to a
// Dispatcher (the gateway), and the service satisfies the gateway's
// Backend interface with model types.
//
// Files: service.go (the Service facade and its parts), config.go (Config),
// errors.go (the sentinel errors), accounts.go (users, registration and
// login), password.go (password hashes), hasher.go (the bounded password
// hashing), names.go (what names may hold), tokens.go (token lifetimes,
// expiry and revocation), guildgraph.go (the in-memory guild graph),
// permissions.go (the permission rules), guilds.go, members.go,
// channels.go, messages.go, voice.go and presence.go (the operations;
// presence.go also tracks who is online), attachments.go (files on
// messages, kept through the Attachments interface), deleter.go (their
// deletion in the background: Start, Close), readstates.go
// (unread marks: acks and READY's read_state), dispatch.go (the
// Dispatcher), seed.go (first start and loading).
//
// Every mutation commits to the store before it is acknowledged or
// dispatched. Locks are never held while dispatching or calling the store,
// and no path holds two locks (see Service).
package service
