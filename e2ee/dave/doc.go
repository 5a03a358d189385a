// Package dave implements the media half of DAVE, Discord's audio/video
// end-to-end encryption protocol (shared/docs/dave.md; discord/dave-protocol
// protocol.md, "DAVE protocol whitepaper"), on top of the MLS exporter secret
// that the group (e2ee/mls) provides.
//
// Everything here is pure: no I/O, no goroutines, no time.Now in the state
// machines (clocks are injected). The pieces, in data-path order:
//
//   - Sender keys (dave.md §6): [SenderBaseSecret] derives the per-sender,
//     per-epoch base secret from an [Exporter]; [KeyRatchet] is the hash
//     ratchet that turns it into one AES-128 key per generation.
//   - Frame transform (dave.md §7): [Encryptor] turns a media frame into
//     "interleaved frame ‖ 8-byte tag ‖ ULEB128 nonce ‖ ULEB128 ranges ‖
//     supplemental size ‖ FA FA"; [Decryptor] reverses it, with the replay
//     window, generation wrap and previous-epoch key retention of libdave.
//     Both have a passthrough mode for rooms or transitions without DAVE.
//   - SFU checks: [CheckFrame], [IsProtocolFrame], [HasMarker] and
//     [IsOpusSilence] validate the frame layout without keys.
//   - Verification codes (dave.md §8): [VoicePrivacyCode],
//     [PairwiseFingerprint], [DisplayableCode].
//   - Voice-gateway opcodes 21-31 (dave.md §3): JSON payload structs and the
//     binary frame codecs, for the signaling package.
//   - The client participant, shared by voiceclient and the browser's
//     WebAssembly module: [Participant] (the MLS side, a pure state
//     machine the caller serialises) tells a [KeySink] its key changes;
//     [FrameSession] (the media side, its own small lock) encrypts and
//     decrypts frames with them, holding a frame no current key opens
//     until its sender's key is installed.
//
// Encryptor and Decryptor are not safe for concurrent use; each is owned by
// one goroutine (or guarded by its owner's lock). Their steady-state hot
// paths do not allocate.
package dave
