// Package mediaproxy serves Parley's attachments and embedded images the way
// Discord's media proxy does: originals come from a content-addressed
// attachment store in the data dir or from external URLs, and are detected,
// resized and converted on demand with libvips (through govips) behind
// fasthttp.
//
// The request path, in order:
//
//	Server (fasthttp; the same Handler also runs on net/http for comparison)
//	  → Handler: route, verify the signature (Signer), parse and canonicalise
//	    Options, answer If-None-Match from the variant key alone
//	  → Cache (memory LRU, then disk) → flight group (identical misses share
//	    one job) → Pool (bounded workers and queue; 503 when full)
//	  → source: Store (attachments) or Fetcher (external; SSRF-safe dialer)
//	  → Pipeline: probe (header only, pure Go, no libvips) → limits → plan →
//	    thumbnail-on-load → colour to sRGB → strip metadata → encode, with the
//	    request deadline checked between steps.
//
// Hostile input is refused before any pixel is decoded: the probe reads only
// headers (and walks GIF/PNG block structure without decompressing), limits
// apply to bytes, pixels per frame and frames × pixels, SVG/PDF/other
// formats never reach libvips, and libvips runs with VIPS_BLOCK_UNTRUSTED,
// the operation cache off and concurrency 1 (parallelism comes from
// concurrent requests, as in imgproxy).
//
// Every error reaches the client as specific JSON with a status from the
// error's category (see errors.go).
package mediaproxy
