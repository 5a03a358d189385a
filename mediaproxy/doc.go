// Package mediaproxy resizes and converts attachments and embedded images on
// the fly with libvips behind fasthttp.
package mediaproxy
