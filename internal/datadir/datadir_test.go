package datadir

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func TestKey(t *testing.T) {
	d, err := Open(filepath.Join(t.TempDir(), "nested", "dir"))
	if err != nil {
		t.Fatal(err)
	}
	// Concurrent first use agrees on one key.
	keys := make([][]byte, 8)
	var wg sync.WaitGroup
	for i := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k, err := d.Key("voice_token")
			if err != nil {
				t.Error(err)
			}
			keys[i] = k
		}()
	}
	wg.Wait()
	again, _ := d.Key("voice_token")
	for _, k := range keys {
		if len(k) != KeySize || string(k) != string(again) {
			t.Fatalf("keys differ or wrong size: %x vs %x", k, again)
		}
	}
	if fi, err := os.Stat(d.Join("keys", "voice_token.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode: %v %v", fi, err)
	}
	for _, bad := range []string{"", "../x", "A", "a/b"} {
		if _, err := d.Key(bad); !errors.Is(err, ErrBadKeyName) {
			t.Errorf("Key(%q) err = %v", bad, err)
		}
	}
	if err := os.WriteFile(d.Join("keys", "short.key"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Key("short"); !errors.Is(err, ErrBadKey) {
		t.Fatalf("short key err = %v", err)
	}
}

func TestSelfSignedCertificate(t *testing.T) {
	d, _ := Open(t.TempDir())
	if _, err := d.TLSConfig("", ""); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(d.CertPath())
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if err := cert.VerifyHostname("127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	if err := cert.VerifyHostname("localhost"); err != nil {
		t.Fatal(err)
	}
	if !cert.IPAddresses[0].Equal(net.IPv4(127, 0, 0, 1)) {
		t.Fatalf("IP SANs %v", cert.IPAddresses)
	}
	// A second call reuses the same certificate.
	if _, err := d.TLSConfig("", ""); err != nil {
		t.Fatal(err)
	}
	b2, _ := os.ReadFile(d.CertPath())
	if string(b) != string(b2) {
		t.Fatal("certificate regenerated")
	}
	if _, err := d.TLSConfig(d.CertPath(), ""); err == nil {
		t.Fatal("cert without key accepted")
	}
}

func TestReady(t *testing.T) {
	d, _ := Open(t.TempDir())
	if _, err := d.ReadyAddr("voice_gateway"); !errors.Is(err, ErrNotReady) {
		t.Fatalf("err = %v", err)
	}
	if err := d.WriteReady(map[string]any{"ready": true, "voice_gateway": "127.0.0.1:1"}); err != nil {
		t.Fatal(err)
	}
	if a, err := d.ReadyAddr("voice_gateway"); err != nil || a != "127.0.0.1:1" {
		t.Fatalf("%q %v", a, err)
	}
	if _, err := d.ReadyAddr("media"); !errors.Is(err, ErrNoListener) || errors.Is(err, ErrNotReady) {
		t.Fatalf("missing listener err = %v", err)
	}
	if err := d.RemoveReady(); err != nil {
		t.Fatal(err)
	}
	if err := d.RemoveReady(); err != nil {
		t.Fatal(err)
	}
}

// TestOpenTightensAnOpenDir: a data dir that exists with group or world
// access (a mkdir under umask 022) is tightened to 0700 and reported; a
// new one is created 0700.
func TestOpenTightensAnOpenDir(t *testing.T) {
	base := t.TempDir()
	open := filepath.Join(base, "open")
	if err := os.Mkdir(open, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(open, 0o755); err != nil {
		t.Fatal(err)
	}
	d, err := Open(open)
	if err != nil {
		t.Fatal(err)
	}
	if was, ok := d.Tightened(); !ok || was != 0o755 {
		t.Fatalf("Tightened() = %v, %v; want 0755, true", was, ok)
	}
	for _, p := range []string{open, filepath.Join(base, "fresh")} {
		d, err := Open(p)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := d.Tightened(); ok && p != open {
			t.Fatalf("%s: a fresh dir reported as tightened", p)
		}
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if perm := fi.Mode().Perm(); perm != 0o700 {
			t.Fatalf("%s is %v, want 0700", p, perm)
		}
	}
}

func TestCreatePrivate(t *testing.T) {
	dir := t.TempDir()
	fresh, loose := filepath.Join(dir, "fresh.db"), filepath.Join(dir, "loose.db")
	if err := os.WriteFile(loose, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{fresh, loose} {
		if err := CreatePrivate(p); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if perm := fi.Mode().Perm(); perm != 0o600 {
			t.Fatalf("%s is %v, want 0600", p, perm)
		}
	}
	if b, _ := os.ReadFile(loose); string(b) != "x" {
		t.Fatal("CreatePrivate changed an existing file's content")
	}
}

// TestSelfSignedHosts: hosts (--public-host) are added to the self-signed
// certificate, which is issued again with the same key and its earlier
// names kept, and only when a host is missing; a certificate given by
// the user is used as it is.
func TestSelfSignedHosts(t *testing.T) {
	d, _ := Open(t.TempDir())
	if _, err := d.TLSConfig("", ""); err != nil {
		t.Fatal(err)
	}
	key0, _ := os.ReadFile(d.KeyPath())
	leaf := func(cfg *tls.Config) *x509.Certificate { return cfg.Certificates[0].Leaf }

	cfg, err := d.TLSConfig("", "", "Parley.Example", "192.0.2.10")
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"parley.example", "192.0.2.10", "localhost", "127.0.0.1", "::1"} {
		if err := leaf(cfg).VerifyHostname(h); err != nil {
			t.Fatalf("%s: %v", h, err)
		}
	}
	cert1, _ := os.ReadFile(d.CertPath())
	if key1, _ := os.ReadFile(d.KeyPath()); string(key1) != string(key0) {
		t.Fatal("the key changed")
	}
	// Covered already: the same certificate.
	if _, err := d.TLSConfig("", "", "parley.example"); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(d.CertPath()); string(b) != string(cert1) {
		t.Fatal("certificate issued again for a host it names")
	}
	// Another host: added, the earlier ones kept.
	cfg, err = d.TLSConfig("", "", "[2001:db8::1]")
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"parley.example", "192.0.2.10", "2001:db8::1"} {
		if err := leaf(cfg).VerifyHostname(h); err != nil {
			t.Fatalf("%s: %v", h, err)
		}
	}
	// A user's certificate is not touched, whatever the hosts.
	user, _ := Open(t.TempDir())
	if _, err := user.TLSConfig("", ""); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(user.CertPath())
	if _, err := d.TLSConfig(user.CertPath(), user.KeyPath(), "elsewhere.example"); err != nil {
		t.Fatal(err)
	}
	if after, _ := os.ReadFile(user.CertPath()); string(after) != string(before) {
		t.Fatal("a user's certificate was rewritten")
	}
}
