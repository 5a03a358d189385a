// Package sfu is Parley's selective forwarding unit for voice: rooms of
// participants, per-receiver RTP munging and batched fan-out, and two
// transports behind one seam (transport.go): native clients' UDP (IP
// discovery, AEAD transport encryption) and browsers' WebRTC (ICE-lite and
// DTLS through pion, SRTP sealed and opened by Parley's own readers;
// rtc*.go). It knows nothing of the voice gateway (signaling) or chat.
package sfu
