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

// Attachment is the record of one uploaded file. Records written before
// Kind and ContentType existed are images; Get fills both in.
type Attachment struct {
	ID        string `json:"id"`
	ChannelID string `json:"channel_id"`
	Filename  string `json:"filename"`
	SHA256    string `json:"sha256"`
	Size      int64  `json:"size"`
	// Kind is image (served only through the pipeline) or file (served
	// as its bytes).
	Kind Kind `json:"kind"`
	// ContentType is decided by the store from the bytes, never taken
	// from the client as it is: an image's format, or detectContentType's
	// answer for a file. It is what the file is, not what it is served as
	// (servedType).
	ContentType string `json:"content_type"`
	// Format, Width, Height and Frames describe an image (empty for a
	// file); Width and Height are the displayed size, EXIF or irot
	// rotation applied, which is what the proxy's full-size output
	// measures.
	Format  string    `json:"format"`
	Width   int       `json:"width"`
	Height  int       `json:"height"`
	Frames  int       `json:"frames"`
	Created time.Time `json:"created"`
}

// upgrade fills in what records from before files were stored lack.
func (a *Attachment) upgrade() {
	if a.Kind == "" {
		a.Kind = KindImage
	}
	if a.ContentType == "" && a.Kind == KindImage {
		a.ContentType = formatNamed(a.Format).ContentType()
	}
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

// PutFile stores data, whatever it is, as a new attachment in channel.
//
// An image the proxy decodes (sniffed from the bytes: JPEG, PNG, GIF,
// WebP, AVIF, HEIC) is probed and checked against lim without decoding,
// so a bomb, a corrupt image or a HEIC this server cannot decode is
// refused here with the error it would get when served (StatusOf gives
// the HTTP status); it is stored as KindImage with its format's content
// type and its displayed size. Anything else is stored as KindFile with
// the content type detectContentType derives from the bytes, the
// filename's extension and, last, the declared contentType. Every kind is
// capped at lim.MaxBytes (ErrTooLarge); empty files are files.
func (s *Store) PutFile(channel, filename, contentType string, data []byte, lim Limits, now time.Time) (Attachment, error) {
	return s.put(channel, filename, contentType, data, lim, now, false)
}

// Put is PutFile for images only: anything else is refused with
// ErrUnsupported.
func (s *Store) Put(channel, filename string, data []byte, lim Limits, now time.Time) (Attachment, error) {
	return s.put(channel, filename, "", data, lim, now, true)
}

func (s *Store) put(channel, filename, declared string, data []byte, lim Limits, now time.Time, imagesOnly bool) (Attachment, error) {
	if !idPattern.MatchString(channel) {
		return Attachment{}, fmt.Errorf("%w: bad channel id", ErrBadRequest)
	}
	name, err := cleanFilename(filename)
	if err != nil {
		return Attachment{}, err
	}
	if int64(len(data)) > lim.MaxBytes {
		return Attachment{}, fmt.Errorf("%w: %d bytes > %d", ErrTooLarge, len(data), lim.MaxBytes)
	}
	f := Sniff(data)
	if !f.Decodable() {
		if imagesOnly {
			return Attachment{}, fmt.Errorf("%w: %s content", ErrUnsupported, f)
		}
		return s.store(data, Attachment{ChannelID: channel, Filename: name, Kind: KindFile,
			ContentType: detectContentType(name, declared, data)}, now)
	}
	p, err := lim.Check(data)
	if err != nil {
		return Attachment{}, err
	}
	return s.store(data, imageRecord(channel, name, p), now)
}

// imageRecord is the record of an image probed as p.
func imageRecord(channel, name string, p Probe) Attachment {
	w, h := p.Displayed()
	return Attachment{ChannelID: channel, Filename: name, Kind: KindImage, ContentType: p.Format.ContentType(),
		Format: p.Format.String(), Width: w, Height: h, Frames: p.Frames}
}

// PutRaw stores data as an image without checking it (tests use it to
// plant hostile files; the serving path still probes everything it reads).
func (s *Store) PutRaw(channel, filename string, data []byte, p Probe, now time.Time) (Attachment, error) {
	if !idPattern.MatchString(channel) {
		return Attachment{}, fmt.Errorf("%w: bad channel id", ErrBadRequest)
	}
	name, err := cleanFilename(filename)
	if err != nil {
		return Attachment{}, err
	}
	return s.store(data, imageRecord(channel, name, p), now)
}

// store writes data's blob (unless already there) and a's record, with
// the fields store owns (ID, SHA256, Size, Created) filled in.
func (s *Store) store(data []byte, a Attachment, now time.Time) (Attachment, error) {
	sum := sha256.Sum256(data)
	h := hex.EncodeToString(sum[:])
	bp := s.blobPath(h)
	if _, err := os.Stat(bp); errors.Is(err, os.ErrNotExist) {
		if err := datadir.WriteFileAtomic(bp, data, 0o600); err != nil {
			return Attachment{}, fmt.Errorf("mediaproxy: store: %w", err)
		}
	}
	a.ID, a.SHA256, a.Size, a.Created = s.newID(now), h, int64(len(data)), now.UTC()
	rec, _ := json.Marshal(a)
	if err := datadir.WriteFileAtomic(filepath.Join(s.root, "attachments", a.ChannelID, a.ID+".json"), rec, 0o600); err != nil {
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
	rec.upgrade()
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

// OpenBlob opens an attachment's blob for reading and checks that it is
// the record's size; the caller closes it.
func (s *Store) OpenBlob(a Attachment) (*os.File, error) {
	if len(a.SHA256) != 64 {
		return nil, fmt.Errorf("mediaproxy: store: corrupt record %s", a.ID)
	}
	f, err := os.Open(s.blobPath(a.SHA256))
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("mediaproxy: store: %w", err)
	}
	if fi, err := f.Stat(); err != nil || fi.Size() != a.Size {
		_ = f.Close()
		return nil, fmt.Errorf("mediaproxy: store: blob %s is not %d bytes", a.SHA256, a.Size)
	}
	return f, nil
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
