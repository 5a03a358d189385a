package mediaproxy

import (
	"mime"
	"net/http"
	"path/filepath"
	"strings"
)

// Kind says what an attachment is and so how it is served.
type Kind string

const (
	// KindImage is an image the proxy decodes (Format.Decodable). It is
	// only ever served through the pipeline, resized and re-encoded, never
	// as its original bytes.
	KindImage Kind = "image"
	// KindFile is any other file. It is served as its original bytes, as
	// a download unless its content type is passive (servedType).
	KindFile Kind = "file"
)

// extTypes maps file name extensions to content types. It is built in,
// not read from the system's mime.types, so the same file gets the same
// type on every machine.
var extTypes = map[string]string{
	".txt": "text/plain", ".log": "text/plain", ".md": "text/markdown",
	".csv": "text/csv", ".tsv": "text/tab-separated-values",
	".json": "application/json", ".xml": "application/xml",
	".html": "text/html", ".htm": "text/html", ".xhtml": "application/xhtml+xml",
	".css": "text/css", ".js": "text/javascript", ".mjs": "text/javascript",
	".svg": "image/svg+xml", ".pdf": "application/pdf",
	".zip": "application/zip", ".gz": "application/gzip", ".tar": "application/x-tar",
	".7z": "application/x-7z-compressed", ".rar": "application/vnd.rar",
	".bz2": "application/x-bzip2", ".xz": "application/x-xz", ".zst": "application/zstd",
	".mp3": "audio/mpeg", ".ogg": "audio/ogg", ".opus": "audio/ogg", ".oga": "audio/ogg",
	".wav": "audio/wav", ".flac": "audio/flac", ".m4a": "audio/mp4", ".aac": "audio/aac",
	".mp4": "video/mp4", ".m4v": "video/mp4", ".mov": "video/quicktime",
	".webm": "video/webm", ".mkv": "video/x-matroska", ".ogv": "video/ogg",
	".doc": "application/msword", ".xls": "application/vnd.ms-excel",
	".ppt":  "application/vnd.ms-powerpoint",
	".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
	".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
	".pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
	".odt":  "application/vnd.oasis.opendocument.text",
	".ods":  "application/vnd.oasis.opendocument.spreadsheet",
	".odp":  "application/vnd.oasis.opendocument.presentation",
	".epub": "application/epub+zip", ".jar": "application/java-archive",
	".apk": "application/vnd.android.package-archive",
	".bmp": "image/bmp", ".ico": "image/x-icon", ".tif": "image/tiff", ".tiff": "image/tiff",
	".heic": "image/heic", ".heif": "image/heif",
}

// zipFamily are formats that are ZIP archives inside, which
// http.DetectContentType calls application/zip.
var zipFamily = map[string]bool{
	"application/epub+zip": true, "application/java-archive": true,
	"application/vnd.android.package-archive": true,
}

// detectContentType decides a non-image file's content type from its
// bytes first (http.DetectContentType), refined by the extension where
// the bytes only say "some text" or "some ZIP", and from the extension
// and then the client's declared type only where the bytes say nothing.
// A declared type is never an image type (a file the proxy cannot decode
// must not look like one) and keeps no parameters.
func detectContentType(name, declared string, data []byte) string {
	const unknown = "application/octet-stream"
	ext := extTypes[strings.ToLower(filepath.Ext(name))]
	if len(data) == 0 {
		return firstNonEmpty(ext, safeDeclared(declared), unknown)
	}
	sniffed := http.DetectContentType(data)
	mt, params, err := mime.ParseMediaType(sniffed)
	if err != nil {
		return unknown
	}
	switch {
	case mt == unknown:
		return firstNonEmpty(ext, safeDeclared(declared), unknown)
	case (mt == "text/plain" || mt == "text/xml") && textual(ext):
		if cs := params["charset"]; cs != "" && strings.HasPrefix(ext, "text/") {
			return ext + "; charset=" + cs
		}
		return ext
	case mt == "application/zip" && (zipFamily[ext] || strings.HasPrefix(ext, "application/vnd.openxmlformats") || strings.HasPrefix(ext, "application/vnd.oasis")):
		return ext
	}
	return sniffed
}

// textual reports whether an extension's type is text of some kind, which
// bytes sniffed as plain text or XML may be.
func textual(t string) bool {
	return strings.HasPrefix(t, "text/") || strings.HasSuffix(t, "+xml") || strings.HasSuffix(t, "/xml") || strings.HasSuffix(t, "/json")
}

func safeDeclared(declared string) string {
	mt, _, err := mime.ParseMediaType(declared)
	if err != nil || strings.HasPrefix(mt, "image/") || !strings.Contains(mt, "/") {
		return ""
	}
	return mt
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// passiveTypes are the content types a file is served with as they are:
// nothing in them runs in a browser. Every other type (HTML, SVG, XML,
// JavaScript, CSS, PDF, ... and anything unknown) is served as
// application/octet-stream with Content-Disposition: attachment, because
// attachments are served on the web app's own origin.
var passiveTypes = map[string]bool{
	"text/plain": true, "text/csv": true, "text/markdown": true, "text/tab-separated-values": true,
	"image/png": true, "image/jpeg": true, "image/gif": true, "image/webp": true, "image/avif": true,
	"image/bmp": true, "image/x-icon": true, "image/vnd.microsoft.icon": true, "image/tiff": true,
	"image/heic": true, "image/heif": true,
	"application/json": true, "application/zip": true, "application/gzip": true,
	"application/x-gzip": true, "application/x-tar": true, "application/x-7z-compressed": true,
	"application/vnd.rar": true, "application/x-rar-compressed": true, "application/x-bzip2": true,
	"application/x-xz": true, "application/zstd": true, "application/msword": true,
	"application/vnd.ms-excel": true, "application/vnd.ms-powerpoint": true,
	"application/epub+zip": true, "application/java-archive": true,
	"application/vnd.android.package-archive": true, "application/ogg": true,
}

// servedType returns the Content-Type a file with record type ct is
// served with, and whether it is shown inline (else downloaded).
func servedType(ct string) (string, bool) {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return "application/octet-stream", false
	}
	major, _, _ := strings.Cut(mt, "/")
	passive := passiveTypes[mt] || major == "audio" || major == "video" ||
		strings.HasPrefix(mt, "application/vnd.openxmlformats-officedocument.") ||
		strings.HasPrefix(mt, "application/vnd.oasis.opendocument.")
	if !passive {
		return "application/octet-stream", false
	}
	return ct, major == "image" || major == "audio" || major == "video" || mt == "text/plain"
}

// contentDisposition is `inline` or `attachment` with the file name in
// RFC 6266/8187 form: filename*=UTF-8” and the name percent-encoded
// except for attr-chars.
func contentDisposition(inline bool, name string) string {
	var b strings.Builder
	if inline {
		b.WriteString("inline; filename*=UTF-8''")
	} else {
		b.WriteString("attachment; filename*=UTF-8''")
	}
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(name); i++ {
		c := name[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$&+-.^_`|~", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}
