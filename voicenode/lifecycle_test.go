package voicenode_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/parleyhq/parley/internal/testkit"
	"github.com/parleyhq/parley/voicenode"
)

// TestCloseLifecycle: Close returns whether or not Start ran (it used to
// wait forever for a serve goroutine that was never started), releases the
// gateway listener, and is idempotent; Start fails after Close and when
// called twice.
func TestCloseLifecycle(t *testing.T) {
	testkit.NoLeaks(t)
	tests := []struct {
		name  string
		start bool
	}{
		{"never started", false},
		{"started", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tlsCfg, _ := testkit.TLS(t)
			n, err := voicenode.New(voicenode.Config{TLS: tlsCfg, TokenKey: make([]byte, 32),
				UDPAddr: "127.0.0.1:0", WebRTCAddr: "127.0.0.1:0", Readers: 1})
			if err != nil {
				t.Fatal(err)
			}
			if tc.start {
				if err := n.Start(context.Background()); err != nil {
					t.Fatal(err)
				}
				if err := n.Start(context.Background()); !errors.Is(err, voicenode.ErrStarted) {
					t.Fatalf("second Start: %v, want ErrStarted", err)
				}
			}
			addr := n.GatewayAddr()
			closed := make(chan error, 1)
			go func() { // ends with Close, which the test waits for
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				defer cancel()
				closed <- n.Close(ctx)
			}()
			select {
			case err := <-closed:
				if err != nil {
					t.Fatalf("Close: %v", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Close did not return within 5 s")
			}
			if err := n.Close(context.Background()); err != nil {
				t.Fatalf("second Close: %v", err)
			}
			if err := n.Start(context.Background()); !errors.Is(err, voicenode.ErrClosed) {
				t.Fatalf("Start after Close: %v, want ErrClosed", err)
			}
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				t.Fatalf("the gateway address is still held after Close: %v", err)
			}
			_ = ln.Close()
		})
	}
}
