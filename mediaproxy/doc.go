// Package mediaproxy serves Parley's attachments and embedded images the way
// Discord's media proxy does: originals come from a content-addressed
// attachment store in the data dir or from external URLs, and are detected,
// resized and converted on demand with libvips (through govips) behind
// fasthttp.
//
// The request path, in order:
//
//	Server (fasthttp front, front.go; the same Handle also runs on net/http
//	  through ServeHTTP, for comparison)
//	  → Handle: route, verify the signature (Signer), parse and canonicalise
//	    Options, answer If-None-Match from the variant key alone
//	  → Cache (memory LRU, then disk) → flight group (identical misses share
//	    one job; the waiter watches its client, waiters.go)
//	  → source: Fetcher for external URLs (SSRF-safe dialer, fetch pool)
//	  → Pool (bounded workers and queue; 503 when full)
//	  → source: Store for attachments, read only once the job has a worker
//	  → Pipeline: probe (header only, pure Go, no libvips) → limits → plan →
//	    thumbnail-on-load (orientation applied) → colour to sRGB → strip
//	    metadata → encode, with the request deadline checked between steps.
//
// Attachments are images or files (Kind). An image (JPEG, PNG, GIF, WebP,
// AVIF, and HEIC where libvips decodes it: HEICSupported) is probed and
// limited at upload (Store.PutFile) and only ever served through the
// pipeline, never as its bytes. Any other file is served as its bytes,
// streamed from the store (servefile.go), with its content type only when
// nothing in it can run in a browser, otherwise as an
// application/octet-stream download (filetype.go). Every response carries
// nosniff and a sandboxing Content-Security-Policy: the web app serves the
// proxy on its own origin.
//
// Memory is admitted before it is spent: every body held in memory (an
// upload, a fetched original, an attachment being processed) is reserved
// from a byte budget before it is read, and a request that does not fit
// gets 503 with Retry-After (budget.go). Uploads are streamed: the token,
// the path and the declared size are checked before the body is read.
//
// Lifecycle: New binds the listener, Start serves, Close stops. The Server
// owns every goroutine it starts (the accept loop, one per connection, the
// client watcher, one per job) and Close waits for all of them: gracefully
// while its context allows, then by cancelling waiters and jobs (libvips'
// kill flag ends a running resize) and closing the connections. A waiter
// whose client goes away is released at once (499); its job is cancelled
// when nobody else waits for it, unless it already holds a worker and its
// result is going to be cached (flight.go).
//
// Hostile input is refused before any pixel is decoded: the probe reads only
// headers (and walks GIF/PNG block structure without decompressing), limits
// apply to bytes, pixels per frame and frames × pixels (and HEIF grid tiles),
// SVG/PDF/other formats never reach libvips, and libvips runs with VIPS_BLOCK_UNTRUSTED,
// the operation cache off and concurrency 1 (parallelism comes from
// concurrent requests, as in imgproxy).
//
// Every error reaches the client as specific JSON with a status from the
// error's category (see errors.go).
package mediaproxy
