// Package e2ee is the root of Parley's end-to-end encryption: MLS (RFC 9420)
// in e2ee/mls and the DAVE protocol in e2ee/dave.
package e2ee
