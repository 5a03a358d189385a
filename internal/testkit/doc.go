// Package testkit holds the helpers every Parley test shares: bounded
// polling of a condition instead of sleeps ([Eventually]), a goroutine-leak
// check for servers' Close ([NoLeaks], on go.uber.org/goleak), a TLS
// pair from a throw-away data dir ([TLS]), a dialer from a chosen
// source address, to be many clients at once ([DialerFrom]), a TCP
// relay a test can drop, cut, stall and heal ([TCPProxy]), and a UDP
// relay with a rate cap and random loss ([UDPShaper]).
//
// It is imported by tests only.
package testkit
