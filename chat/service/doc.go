// Package service is the chat server's logic between the transports (REST
// in chat/rest, the gateway in chat/gateway) and the store: accounts and
// tokens, the guild graph (held in memory, written through to the store),
// messages (store only), permissions, dispatch of gateway events, and the
// voice control plane (voice state tracking, node choice through the
// registry, voice tokens, and moderation reaching the SFU through
// voicectl.Controller).
//
// Every mutation commits to the store before it is acknowledged or
// dispatched. Locks are never held while dispatching or calling the store.
package service
