// Package voiceclient is a Discord-protocol voice client that joins a Parley
// (or Discord) voice server exactly as a desktop or bot client does
// (shared/docs/voice-protocol.md): wss:// gateway with ?v=8, Hello, Identify,
// Ready, 74-byte UDP IP discovery, Select Protocol with the best offered
// transport mode (aead_aes256_gcm_rtpsize first), Session Description,
// v8 heartbeats {t, seq_ack}, resume after a resumable close, op 5 Speaking,
// and op 11/13 membership tracking. Remote audio is mapped from SSRC to user
// through the server's op 5.
//
// It is the reference client for `parley voice join`, the interop tests and
// the load generator. It speaks DAVE v1 end-to-end encryption by default
// (dave.go; shared/docs/dave.md) as an MLS group member: ops 21-31, Opus
// encrypted with its sender key and decrypted per sender, the epoch, voice
// privacy code and pairwise codes in Conn.DAVE and Conn.PairwiseCode.
// Config.DisableDAVE identifies with max_dave_protocol_version 0. It never
// sends media that no receiver can use: at DAVE version 1 without a sender
// key for the room's group (joining, re-creating or recovering a group, or
// between its op 23 and op 22), Dial and SendOpus wait for the key (up to
// 5 s, then ErrDAVENotReady) unless no one else is in the room.
//
// With Config.WebRTC it joins as a browser does instead (the webrtc
// dialect, shared/docs/webrtc.md §1; webrtc.go): no IP discovery; Select
// Protocol carries the offer fragment of a pion PeerConnection, Session
// Description the server's answer fragment, and media goes over ICE and
// DTLS-SRTP. Remote SSRCs announced in op 5 get receive transceivers,
// negotiated locally. DAVE works the same over either transport.
//
// # Concurrency
//
// A Conn owns these goroutines, starts them and waits for them in Close:
// the WebSocket reader (which also performs resumes) and a timer goroutine
// for heartbeats and UDP keepalives; over native UDP, the UDP reader; with
// Config.WebRTC, no UDP reader but one reader per remote track, besides
// pion's own goroutines, which the peer connection's Close stops. No
// goroutine is started per packet. Config.OnFrame and Config.OnEvent are
// called from the readers; OnFrame calls are serialized and in arrival
// order.
package voiceclient
