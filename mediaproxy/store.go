package mediaproxy

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parleyhq/parley/internal/datadir"
)

// Attachment is the record of one uploaded file.
type Attachment struct {
	ID        string    `json:"id"`
	ChannelID string    `json:"channel_id"`
	Filename  string    `json:"filename"`
	SHA256    string    `json:"sha256"`
	Size      int64     `json:"size"`
	Format    string    `json:"format"`
	Width     int       `json:"width"`
	Height    int       `json:"height"`
	Frames    int       `json:"frames"`
	Created   time.Time `json:"created"`
}

// Store is an embedded, content-addressed attachment store:
//
//	ROOT/blobs/ab/ab12…   file bytes, named by SHA-256 (deduplicated)
//	ROOT/attachments/CHANNEL/ID.json   the Attachment record
//
// Every file is written to a temporary name and renamed, so readers never
// see a partial blob or record. Records never change once written, so Get
// keeps recently read ones in memory (bounded) and a cache hit costs no
// file system access.
type Store struct {
	root string
	seq  atomic.Uint32

	mu   sync.RWMutex
	recs map[recKey]Attachment // guarded by mu; at most maxCachedRecords
}

type recKey struct{ channel, id string }

// maxCachedRecords bounds Store's record cache (a few hundred bytes each;
// a record not cached costs one small file read).
const maxCachedRecords = 1 << 14

var idPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// OpenStore opens (creating if needed) a store rooted at root.
func OpenStore(root string) (*Store, error) {
	for _, d := range []string{"blobs", "attachments"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o700); err != nil {
			return nil, fmt.Errorf("mediaproxy: store: %w", err)
		}
	}
	s := &Store{root: root, recs: map[recKey]Attachment{}}
	var b [4]byte
	_, _ = rand.Read(b[:])
	s.seq.Store(binary.LittleEndian.Uint32(b[:]))
	return s, nil
}

// Root returns the store's directory.
func (s *Store) Root() string { return s.root }

// discordEpoch is 2015-01-01T00:00:00Z in milliseconds, as in snowflakes.
const discordEpoch = 1420070400000

func (s *Store) newID(now time.Time) string {
	ms := uint64(now.UnixMilli() - discordEpoch)
	return strconv.FormatUint(ms<<22|uint64(s.seq.Add(1)&(1<<22-1)), 10)
}

// cleanFilename keeps the base name, refuses empties and path tricks.
func cleanFilename(name string) (string, error) {
	name = filepath.Base(strings.ReplaceAll(name, "\\", "/"))
	if name == "." || name == "/" || name == ".." || name == "" || len(name) > 255 || strings.ContainsAny(name, "\x00\r\n") {
		return "", fmt.Errorf("%w: bad filename", ErrBadRequest)
	}
	return name, nil
}

// Put stores data as a new attachment in channel. Only images the proxy
// can serve are accepted: the content is sniffed and its header probed
// (no decode), so a bomb is refused at upload with the same error it would
// get when served.
func (s *Store) Put(channel, filename string, data []byte, lim Limits, now time.Time) (Attachment, error) {
	if !idPattern.MatchString(channel) {
		return Attachment{}, fmt.Errorf("%w: bad channel id", ErrBadRequest)
	}
	name, err := cleanFilename(filename)
	if err != nil {
		return Attachment{}, err
	}
	p, err := lim.Check(data)
	if err != nil {
		return Attachment{}, err
	}
	return s.PutRaw(channel, name, data, p, now)
}

// PutRaw stores data without checking it (tests use it to plant hostile
// files; the serving path still probes everything it reads).
func (s *Store) PutRaw(channel, filename string, data []byte, p Probe, now time.Time) (Attachment, error) {
	if !idPattern.MatchString(channel) {
		return Attachment{}, fmt.Errorf("%w: bad channel id", ErrBadRequest)
	}
	name, err := cleanFilename(filename)
	if err != nil {
		return Attachment{}, err
	}
	sum := sha256.Sum256(data)
	h := hex.EncodeToString(sum[:])
	bp := s.blobPath(h)
	if _, err := os.Stat(bp); errors.Is(err, os.ErrNotExist) {
		if err := datadir.WriteFileAtomic(bp, data, 0o600); err != nil {
			return Attachment{}, fmt.Errorf("mediaproxy: store: %w", err)
		}
	}
	a := Attachment{ID: s.newID(now), ChannelID: channel, Filename: name, SHA256: h, Size: int64(len(data)),
		Format: p.Format.String(), Width: p.Width, Height: p.Height, Frames: p.Frames, Created: now.UTC()}
	rec, _ := json.Marshal(a)
	if err := datadir.WriteFileAtomic(filepath.Join(s.root, "attachments", channel, a.ID+".json"), rec, 0o600); err != nil {
		return Attachment{}, fmt.Errorf("mediaproxy: store: %w", err)
	}
	s.remember(a)
	return a, nil
}

// remember caches a record; past the bound the cache starts over, which
// costs one file read per record still in use.
func (s *Store) remember(a Attachment) {
	s.mu.Lock()
	if len(s.recs) >= maxCachedRecords {
		clear(s.recs)
	}
	s.recs[recKey{a.ChannelID, a.ID}] = a
	s.mu.Unlock()
}

func (s *Store) blobPath(h string) string { return filepath.Join(s.root, "blobs", h[:2], h) }

// Get returns the record of attachment id in channel.
func (s *Store) Get(channel, id string) (Attachment, error) {
	s.mu.RLock()
	a, ok := s.recs[recKey{channel, id}]
	s.mu.RUnlock()
	if ok {
		return a, nil
	}
	if !validID(channel) || !validID(id) {
		return Attachment{}, ErrNotFound
	}
	b, err := os.ReadFile(filepath.Join(s.root, "attachments", channel, id+".json"))
	if errors.Is(err, os.ErrNotExist) {
		return Attachment{}, ErrNotFound
	}
	if err != nil {
		return Attachment{}, fmt.Errorf("mediaproxy: store: %w", err)
	}
	var rec Attachment
	if err := json.Unmarshal(b, &rec); err != nil {
		return Attachment{}, fmt.Errorf("mediaproxy: store: corrupt record %s/%s: %w", channel, id, err)
	}
	if rec.ChannelID == channel && rec.ID == id {
		s.remember(rec)
	}
	return rec, nil
}

// validID is idPattern without the regexp: 1–64 of [A-Za-z0-9_-].
func validID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// Open reads an attachment's bytes, refusing blobs over maxBytes.
func (s *Store) Open(a Attachment, maxBytes int64) ([]byte, error) {
	return s.ReadInto(a, maxBytes, nil)
}

// ReadInto is Open reading into buf's storage when it is large enough
// (the proxy reuses source buffers across jobs), else into a new slice.
func (s *Store) ReadInto(a Attachment, maxBytes int64, buf []byte) ([]byte, error) {
	if len(a.SHA256) != 64 {
		return nil, fmt.Errorf("mediaproxy: store: corrupt record %s", a.ID)
	}
	if a.Size > maxBytes {
		return nil, fmt.Errorf("%w: %d bytes", ErrTooLarge, a.Size)
	}
	f, err := os.Open(s.blobPath(a.SHA256))
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("mediaproxy: store: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("mediaproxy: store: %w", err)
	}
	if fi.Size() > maxBytes {
		return nil, fmt.Errorf("%w: %d bytes", ErrTooLarge, fi.Size())
	}
	// One byte more than the size, to notice a blob that grew.
	n := int(fi.Size())
	if cap(buf) < n+1 {
		buf = make([]byte, n+1)
	}
	buf = buf[:n+1]
	got, err := io.ReadFull(f, buf)
	switch {
	case err == nil || got > n:
		return nil, fmt.Errorf("mediaproxy: store: blob %s changed while read", a.SHA256)
	case !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF):
		return nil, fmt.Errorf("mediaproxy: store: %w", err)
	}
	return buf[:got], nil
}
