package mediaproxy

import (
	"net/url"
	"strings"
)

// param is one query parameter's first value.
type param struct {
	v  string
	ok bool
}

// params are the query parameters the handler reads, parsed once from the
// raw query. Values are substrings of the raw query unless they had to be
// unescaped, so parsing a typical request allocates nothing. Semantics
// follow url.ParseQuery then url.Values.Get: pairs split on '&', a pair
// containing ';' or an invalid escape is dropped, '+' is a space, and the
// first occurrence of a name wins.
type params struct {
	ex, is, hm                                              param // attachment signature
	width, height, size, format, quality, animated, upscale param // options
	filename                                                param // upload
}

// imageOptions reports whether any processing option is given.
func (p *params) imageOptions() bool {
	for _, o := range [...]param{p.width, p.height, p.size, p.format, p.quality, p.animated, p.upscale} {
		if o.ok {
			return true
		}
	}
	return false
}

// field returns the slot for a known name, nil for others.
func (p *params) field(name string) *param {
	switch name {
	case "ex":
		return &p.ex
	case "is":
		return &p.is
	case "hm":
		return &p.hm
	case "width":
		return &p.width
	case "height":
		return &p.height
	case "size":
		return &p.size
	case "format":
		return &p.format
	case "quality":
		return &p.quality
	case "animated":
		return &p.animated
	case "upscale":
		return &p.upscale
	case "filename":
		return &p.filename
	}
	return nil
}

// parseParams parses a raw (still escaped) query string.
func parseParams(raw string) params {
	var p params
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		if pair == "" || strings.IndexByte(pair, ';') >= 0 {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		k, ok := queryUnescape(k)
		if !ok {
			continue
		}
		f := p.field(k)
		if f == nil || f.ok {
			continue
		}
		if v, ok = queryUnescape(v); ok {
			*f = param{v: v, ok: true}
		}
	}
	return p
}

// paramsOf reads the option names from any query (url.Values in tests and
// ParseOptions' callers).
func paramsOf(q query) params {
	var p params
	for _, name := range [...]string{"width", "height", "size", "format", "quality", "animated", "upscale"} {
		if q.Has(name) {
			*p.field(name) = param{v: q.Get(name), ok: true}
		}
	}
	return p
}

// queryUnescape is url.QueryUnescape without allocating when there is
// nothing to unescape.
func queryUnescape(s string) (string, bool) {
	if strings.IndexByte(s, '%') < 0 && strings.IndexByte(s, '+') < 0 {
		return s, true
	}
	u, err := url.QueryUnescape(s)
	return u, err == nil
}
