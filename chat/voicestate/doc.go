// Package voicestate tracks who is in which voice channel of each guild: a
// pure state machine (no I/O, no clock) that the chat service drives from
// gateway op 4, member moderation and channel deletion, and that tells the
// caller whether a change needs a new voice server hand-off (join or move,
// each with a new token) or only a VOICE_STATE_UPDATE (self mute/deaf).
package voicestate
