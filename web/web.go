// Package web is the web origin of `parley serve`: one HTTPS listener
// (Origin) that serves, on one origin, the browser client embedded in the
// binary (FS, served by Files), chat's REST API under /api/, chat's
// gateway at /gateway and the media proxy's public routes under /media/.
// It imports no component: the composition root (cmd/parley) hands it
// their handlers, which run in-process on the browser's own connection,
// so their per-address limits see the browser's address.
//
// The client is plain files (index.html, the app/ modules and the voice
// module, voice/voice.js) with no build step and nothing fetched at run
// time; the page loads only from its own origin, under a strict
// Content-Security-Policy (no inline script or style). The one built file
// is the DAVE module, dave/dave.wasm (with Go's dave/wasm_exec.js), which
// `make web` builds from web/davewasm; a build without it serves the page
// with end-to-end encryption unavailable.
package web

import (
	"embed"
	"io/fs"
)

//go:embed index.html app voice dave
var files embed.FS

// FS is the embedded client: index.html, app/, voice/ and dave/.
var FS fs.FS = files
