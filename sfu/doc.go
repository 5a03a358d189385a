// Package sfu is Parley's selective forwarding unit for voice: the UDP
// transport (IP discovery, AEAD transport encryption), rooms of
// participants, per-receiver RTP munging and batched fan-out. It knows
// nothing of the voice gateway (signaling) or chat.
package sfu
