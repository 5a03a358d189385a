package testkit

import (
	"crypto/tls"
	"testing"

	"github.com/parleyhq/parley/internal/datadir"
)

// TLS returns a server config with a fresh self-signed certificate
// (localhost, 127.0.0.1) from a throw-away data dir, and a client config
// that trusts it.
func TLS(t testing.TB) (server, client *tls.Config) {
	t.Helper()
	dir, err := datadir.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	server, err = dir.TLSConfig("", "")
	if err != nil {
		t.Fatal(err)
	}
	pool, err := dir.CertPool()
	if err != nil {
		t.Fatal(err)
	}
	return server, &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
}
