//go:build js && wasm

package main

import (
	"encoding/base64"
	"strconv"
)

// jsonw writes the little JSON the module answers with (results, state,
// counters) by hand: encoding/json, with the reflection it needs, would
// be a tenth of the module.
type jsonw struct {
	b        []byte
	n        []int // values written, per open object or array
	afterKey bool  // the next value is a member's (key wrote its comma)
}

// pre writes the separator before a value.
func (w *jsonw) pre() {
	if w.afterKey {
		w.afterKey = false
		return
	}
	if len(w.n) > 0 {
		if w.n[len(w.n)-1] > 0 {
			w.b = append(w.b, ',')
		}
		w.n[len(w.n)-1]++
	}
}

// key starts a member of the open object; a value call follows.
func (w *jsonw) key(k string) {
	w.pre()
	w.b = append(appendString(w.b, k), ':')
	w.afterKey = true
}

func (w *jsonw) obj()       { w.pre(); w.b = append(w.b, '{'); w.n = append(w.n, 0) }
func (w *jsonw) arr()       { w.pre(); w.b = append(w.b, '['); w.n = append(w.n, 0) }
func (w *jsonw) end(c byte) { w.b = append(w.b, c); w.n = w.n[:len(w.n)-1] }

func (w *jsonw) str(s string)  { w.pre(); w.b = appendString(w.b, s) }
func (w *jsonw) uint(u uint64) { w.pre(); w.b = strconv.AppendUint(w.b, u, 10) }
func (w *jsonw) bool(v bool)   { w.pre(); w.b = strconv.AppendBool(w.b, v) }

// raw writes a value that is JSON already.
func (w *jsonw) raw(v []byte) { w.pre(); w.b = append(w.b, v...) }

// bytes writes p as a base64 string.
func (w *jsonw) bytes(p []byte) {
	w.pre()
	w.b = append(w.b, '"')
	w.b = base64.StdEncoding.AppendEncode(w.b, p)
	w.b = append(w.b, '"')
}

// counts writes an object of the non-zero counters in order (names and
// values pair up).
func (w *jsonw) counts(names []string, values ...uint64) {
	w.obj()
	for i, v := range values {
		if v != 0 {
			w.key(names[i])
			w.uint(v)
		}
	}
	w.end('}')
}

// appendString appends s as a JSON string.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			b = append(b, c) // UTF-8 passes as is
		}
	}
	return append(b, '"')
}
