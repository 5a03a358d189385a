package main

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/png"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/parleyhq/parley/mediaproxy"
)

// TestMediaServeAndShutdown runs the media component under `parley serve`:
// a stored attachment is served resized through the proxy's address from
// the ready line, and SIGTERM ends the process cleanly.
func TestMediaServeAndShutdown(t *testing.T) {
	dir := t.TempDir()
	cmd, ready := startServe(t, dir, "--only", "media")
	addr, _ := ready["media"].(string)
	if addr == "" {
		t.Fatalf("ready line without media: %v", ready)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewGray(image.Rect(0, 0, 64, 48))); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "pic.png")
	if err := os.WriteFile(file, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := parleyCmd(context.Background(), "media", "put", file, "--channel", "7", "--data-dir", dir).Output()
	if err != nil {
		t.Fatalf("media put: %v", err)
	}
	var put mediaproxy.UploadResult
	if err := json.Unmarshal(out, &put); err != nil || put.URL == "" {
		t.Fatalf("media put printed %s (%v)", out, err)
	}
	resp, err := http.Get(put.URL + "&width=32&format=png")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != 200 || mediaproxy.Sniff(body) != mediaproxy.FormatPNG {
		t.Fatalf("GET %s: %d %q", put.URL, resp.StatusCode, body[:min(len(body), 64)])
	}
	http.DefaultClient.CloseIdleConnections()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("serve exit: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not exit within 20 s of SIGTERM")
	}
}
