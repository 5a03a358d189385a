// Package archtest holds repository-wide tests of the house rules, run
// over the whole module: every package has one doc comment, and the
// dependency fences between the layers hold. Arrows point down:
//
//	cmd, bench                      the binary and the load harness
//	voicenode                       composes sfu + signaling (a voice node)
//	sfu, signaling, voiceclient     media plane, voice gateway, Go client
//	voiceproto                      Discord's voice protocol on the wire
//	e2ee                            MLS and DAVE
//	web                             the web origin: serves the handlers cmd gives it
//	chat, mediaproxy                stand alone (chat reaches voice through internal/voicectl)
//	fleet                           the voice fleet's registry on etcd (voicectl.Registry)
//	internal                        leaf helpers
//
// Inside chat: transports (gateway, rest) → service → store → model, and
// only the composition root (package chat) sees them all. pion is
// imported only by sfu, voiceclient and bench; cgo (libvips) only by
// mediaproxy; internal/testkit only by tests (and test-support packages,
// which import testing themselves).
package archtest
