// Package connlimit caps, per client IP address, how many connections a
// listener keeps open and how many of them have not yet authenticated.
// The caps are checked at Accept, before any TLS handshake or read, so a
// client over its cap costs one accept and one close.
//
// A server marks a connection authenticated with [Admit] (for example
// after a gateway's Identify); until then it counts against the pending
// cap as well as the total one. Every limit is a Config field; zero means
// no cap. Rejections are counted by reason.
package connlimit
