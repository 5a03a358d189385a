// Package interop holds Parley's end-to-end interoperability tests: real
// third-party Discord-protocol clients (@discordjs/voice driven from Node,
// disgo and discordgo in-process) and Parley's own voice client join a real
// Parley voice server over loopback and exchange Opus frames, which must
// arrive byte for byte and in order (shared/docs/voice-protocol.md §5).
// A real browser joins too: Debian's Chromium, headless, driven by chromedp,
// runs web/voice/voice.js on the page in interop/browser
// (voice_browser_test.go; shared/docs/webrtc.md §5), and holds voice.js's
// connect() to settling against a fake gateway that misbehaves
// (voice_browser_connect_test.go), and loads a page from the web origin
// that reaches chat's REST API and gateway on that same origin
// (web_origin_browser_test.go). The web client is proved whole as a
// newcomer gets it (web_client_test.go): the real `parley serve --dev`
// binary, two people in two Chromium browsers on its web origin, a
// discord.js bot and the Go voice client, through sign-up, chat, an
// image, voice, mute, a reload, sign-out and a dropped connection. The
// UDP block uses an nftables table of its own (root, as `make test` runs
// here).
//
// The package has no non-test code besides this comment. The tests run under
// `make test` with PARLEY_INTEROP=1, where a missing client (Node, the npm
// packages in interop/node, chromium) fails the test; without it they skip.
// PARLEY_TEST_DEBUG=1 logs the servers and the clients at debug level.
// PARLEY_TEST_ARTIFACTS=DIR keeps what a test leaves to look at, such as the
// browser test's screenshot of its page (browser-voice.png, taken while the
// others' tones play), which is otherwise in the test's temp dir and deleted
// with it. The web client test's screenshots of each state go to
// $PARLEY_ARTIFACTS/web-client (or $PARLEY_TEST_ARTIFACTS/web-client), else
// to a new temporary directory that is kept; the test logs where.
package interop
