// Package voicenode runs one voice node: the media plane (package sfu, UDP)
// and the voice gateway (package signaling, WSS) on one TLS listener,
// joined through the gateway's consumer-defined Media interface. It is
// the composition root of the voice server: `parley serve`, the interop
// tests and the bench start voice through it, and it is the unit a fleet
// places and drains.
//
// Arrows point down: voicenode imports sfu and signaling, which import
// voiceproto (the wire protocol) and e2ee; nothing below imports voicenode.
package voicenode
