// Package httpserve holds what Parley's HTTP servers share.
//
// [Server] runs a net/http server on a bound listener with the lifecycle
// every one of them has: Start serves in a goroutine the Server owns;
// net/http's connection goroutines are counted (ConnState, new → closed
// or hijacked); Close shuts down gracefully within its context, then
// closes what is left, and waits for the serving goroutine and every
// connection's. A hijacked connection (a WebSocket) is its new owner's to
// close and wait for. [ETagMatch] is the If-None-Match check of the web
// origin's files and the media proxy (which serves through fasthttp).
// [WriteError] and [WriteRawError] give Discord's error body, on a
// response or on a connection already hijacked for a WebSocket.
package httpserve
