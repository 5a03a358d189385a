package httpserve

import "strings"

// ETagMatch reports whether an If-None-Match header lists etag (a quoted
// entity tag), by the weak comparison GET and HEAD use (RFC 9110
// §13.1.2): a W/ prefix is ignored, and "*" matches any tag.
func ETagMatch(header, etag string) bool {
	for t := range strings.SplitSeq(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == etag || t == "*" {
			return true
		}
	}
	return false
}
