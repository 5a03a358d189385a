package httpserve

import (
	"encoding/json"
	"net"
	"net/http"
	"strconv"
)

// ErrorBody is Discord's error body, {"code":0,"message":msg}.
func ErrorBody(msg string) []byte {
	b, _ := json.Marshal(struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}{0, msg})
	return b
}

// WriteError answers status with ErrorBody(msg), never cached.
func WriteError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(ErrorBody(msg))
}

// WriteRawError answers status with ErrorBody(msg) on a hijacked
// connection (the caller has set its deadline) and asks the client to
// close it.
func WriteRawError(nc net.Conn, status int, msg string) {
	b := ErrorBody(msg)
	_, _ = nc.Write([]byte("HTTP/1.1 " + strconv.Itoa(status) + " " + http.StatusText(status) +
		"\r\nContent-Type: application/json\r\nCache-Control: no-store\r\nConnection: close\r\nContent-Length: " +
		strconv.Itoa(len(b)) + "\r\n\r\n" + string(b)))
}
