// Package datadir owns Parley's on-disk state for one machine: signing keys,
// the self-signed TLS certificate, and the ready file that names every
// listener. Every component that needs a secret or a path gets it from here,
// so that `parley serve`, the CLI subcommands and tests agree on the layout:
//
//	DIR/keys/NAME.key     32 random bytes, created on first use (0600)
//	DIR/tls/cert.pem      self-signed certificate, SANs localhost and 127.0.0.1
//	DIR/tls/key.pem       its ECDSA P-256 private key
//	DIR/ready.json        written by `parley serve` once every listener is up
package datadir

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
)

// Sentinel errors.
var (
	// ErrNotReady means no server has written ready.json in the data dir.
	ErrNotReady = errors.New("datadir: no ready.json (is `parley serve` running on this data dir?)")
	// ErrNoListener means the running server's ready.json names no
	// listener of that name: it runs without that component (--only).
	ErrNoListener = errors.New("datadir: no such listener in ready.json")
	// ErrBadKeyName means a key name has characters other than [a-z0-9_-].
	ErrBadKeyName = errors.New("datadir: bad key name")
	// ErrOpenDir means the data dir exists with group or world access that
	// cannot be taken away.
	ErrOpenDir = errors.New("datadir: data dir open to other users")
	// ErrBadKey means a key file exists but does not hold 32 bytes.
	ErrBadKey = errors.New("datadir: key file is not 32 bytes")
)

// KeySize is the size of every signing key in bytes.
const KeySize = 32

var keyName = regexp.MustCompile(`^[a-z0-9_-]{1,64}$`)

// Dir is an opened data directory.
type Dir struct {
	path string
	// tightened is the mode the directory had when Open took group and
	// world access away from it (0 if it did not have to).
	tightened os.FileMode
}

// Open creates the directory if needed (0700) and returns a handle on it.
// The data dir holds keys, password hashes and every message, so a
// directory that already exists with group or world access is tightened
// to 0700 (Tightened reports it, for the operator's log); one Open cannot
// tighten (not the owner) is refused.
func Open(path string) (*Dir, error) {
	if path == "" {
		path = "./data"
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("datadir: %w", err)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("datadir: %w", err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("datadir: %w", err)
	}
	d := &Dir{path: abs}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		if err := os.Chmod(abs, 0o700); err != nil {
			return nil, fmt.Errorf("%w: %s is %v and cannot be tightened: %v", ErrOpenDir, abs, perm, err)
		}
		d.tightened = perm
	}
	return d, nil
}

// Tightened returns the permissions the directory had before Open took
// group and world access away, and whether it did.
func (d *Dir) Tightened() (os.FileMode, bool) { return d.tightened, d.tightened != 0 }

// CreatePrivate creates the file at path (if it does not exist) readable
// by the owner only, and takes group and world access away from one that
// exists: for files other code opens by name, such as a database.
func CreatePrivate(path string) error {
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("datadir: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("datadir: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		if err := f.Chmod(0o600); err != nil {
			return fmt.Errorf("datadir: %w", err)
		}
	}
	return nil
}

// Path returns the absolute path of the directory.
func (d *Dir) Path() string { return d.path }

// Join returns a path inside the directory.
func (d *Dir) Join(elem ...string) string {
	return filepath.Join(append([]string{d.path}, elem...)...)
}

// Key returns the named 32-byte key, creating it atomically on first use.
// Two processes racing to create the same key agree on one value: the loser
// of the link(2) race reads the winner's file.
func (d *Dir) Key(name string) ([]byte, error) {
	if !keyName.MatchString(name) {
		return nil, fmt.Errorf("%w: %q", ErrBadKeyName, name)
	}
	p := d.Join("keys", name+".key")
	if b, err := os.ReadFile(p); err == nil {
		if len(b) != KeySize {
			return nil, fmt.Errorf("%w: %s", ErrBadKey, p)
		}
		return b, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("datadir: %w", err)
	}
	k := make([]byte, KeySize)
	if _, err := rand.Read(k); err != nil {
		return nil, fmt.Errorf("datadir: %w", err)
	}
	if err := createOnce(p, k); err != nil {
		return nil, err
	}
	return d.Key(name)
}

// createOnce writes data to a temporary file and links it to path: link(2)
// fails if path exists, so racing creators keep the first one's bytes.
func createOnce(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("datadir: %w", err)
	}
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("datadir: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	_, werr := f.Write(data)
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		return fmt.Errorf("datadir: %w", err)
	}
	if err := os.Link(tmp, path); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("datadir: %w", err)
	}
	return nil
}

// WriteFileAtomic writes data to a temporary file in the same directory and
// renames it over path, so readers never see a partial file.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("datadir: %w", err)
	}
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("datadir: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after a successful rename
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("datadir: %w", err)
	}
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return fmt.Errorf("datadir: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("datadir: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("datadir: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("datadir: %w", err)
	}
	return nil
}

// ReadyPath is the path of ready.json.
func (d *Dir) ReadyPath() string { return d.Join("ready.json") }

// WriteReady writes v as ready.json.
func (d *Dir) WriteReady(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("datadir: %w", err)
	}
	return WriteFileAtomic(d.ReadyPath(), append(b, '\n'), 0o644)
}

// ReadReady reads ready.json into a map of listener name to address (plus
// the "ready" flag and any other fields the server wrote).
func (d *Dir) ReadReady() (map[string]any, error) {
	b, err := os.ReadFile(d.ReadyPath())
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrNotReady
	} else if err != nil {
		return nil, fmt.Errorf("datadir: %w", err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("datadir: ready.json: %w", err)
	}
	return m, nil
}

// ReadyAddr returns one listener address from ready.json: ErrNotReady
// when there is none, ErrNoListener when it does not name that listener.
func (d *Dir) ReadyAddr(name string) (string, error) {
	m, err := d.ReadReady()
	if err != nil {
		return "", err
	}
	s, _ := m[name].(string)
	if s == "" {
		return "", fmt.Errorf("%w: %q (the server runs without it: see its --only)", ErrNoListener, name)
	}
	return s, nil
}

// RemoveReady deletes ready.json (on shutdown).
func (d *Dir) RemoveReady() error {
	err := os.Remove(d.ReadyPath())
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}
