// Package httpserve runs a net/http server on a bound listener with the
// lifecycle every Parley HTTP server shares: Start serves in a goroutine
// the Server owns; net/http's connection goroutines are counted
// (ConnState, new → closed or hijacked); Close shuts down gracefully
// within its context, then closes what is left, and waits for the serving
// goroutine and every connection's. A hijacked connection (a WebSocket) is
// its new owner's to close and wait for.
package httpserve
