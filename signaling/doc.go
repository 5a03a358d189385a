// Package signaling is the voice gateway: Discord's JSON voice protocol over
// WSS (opcodes 0-13, the v8/v4-7/legacy dialects, resume) that admits a
// client with a voice token and binds it to an sfu participant.
package signaling
