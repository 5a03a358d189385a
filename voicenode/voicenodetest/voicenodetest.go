// Package voicenodetest starts a real voice node for tests: TLS from a
// throw-away data dir, a token key, loopback listeners, and Close when the
// test ends. It hands out credentials and a WebSocket dialer that trusts
// the node, so a test can join with any client: the Go client, a raw
// gateway connection, or a Node.js one (NODE_EXTRA_CA_CERTS=CertPath).
//
// It is imported by tests only, and imports no client, so the client's
// own tests can use it.
package voicenodetest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/parleyhq/parley/internal/datadir"
	"github.com/parleyhq/parley/internal/voicetoken"
	"github.com/parleyhq/parley/voicenode"
)

// Node is a started voice node and what a test needs to reach it.
type Node struct {
	*voicenode.Node
	// Dir is the node's data dir: its TLS certificate (Dir.CertPath())
	// and token key.
	Dir     *datadir.Dir
	Signer  *voicetoken.Signer
	RootCAs *x509.CertPool
}

// Start builds and starts a node from cfg, filling TLS, TokenKey and the
// listen addresses (loopback, port 0) where they are zero, and closes it
// (5 s) when the test ends. A close error fails the test.
func Start(t testing.TB, cfg voicenode.Config) *Node {
	t.Helper()
	dir, err := datadir.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if cfg.TLS == nil {
		if cfg.TLS, err = dir.TLSConfig("", ""); err != nil {
			t.Fatal(err)
		}
	}
	if cfg.TokenKey == nil {
		if cfg.TokenKey, err = dir.Key(voicetoken.KeyName); err != nil {
			t.Fatal(err)
		}
	}
	if cfg.UDPAddr == "" {
		cfg.UDPAddr = "127.0.0.1:0"
	}
	pool, err := dir.CertPool()
	if err != nil {
		t.Fatal(err)
	}
	signer, err := voicetoken.NewSigner(cfg.TokenKey)
	if err != nil {
		t.Fatal(err)
	}
	n, err := voicenode.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { // registered before Start: a failed Start is closed too
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := n.Close(ctx); err != nil {
			t.Errorf("voice node close: %v", err)
		}
	})
	if err := n.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return &Node{Node: n, Dir: dir, Signer: signer, RootCAs: pool}
}

// Creds issues credentials (valid for an hour) for user in guild's
// channel on this node.
func (n *Node) Creds(user, guild, channel string) voicetoken.Credentials {
	return n.Signer.Credentials(n.GatewayAddr(), user, guild, channel, time.Hour, time.Now())
}

// Dialer is a WebSocket dialer that trusts the node's certificate.
func (n *Node) Dialer() *websocket.Dialer {
	return &websocket.Dialer{
		TLSClientConfig:  &tls.Config{RootCAs: n.RootCAs, MinVersion: tls.VersionTLS12},
		HandshakeTimeout: 5 * time.Second,
	}
}
