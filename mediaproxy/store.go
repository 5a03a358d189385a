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
//	ROOT/blobs/ab/ab12…        file bytes, named by SHA-256 (deduplicated)
//	ROOT/blobs/ab/ab12….refs   how many records refer to the blob
//	ROOT/attachments/CHANNEL/ID.json   the Attachment record
//
// Every file is written to a temporary name and renamed, so readers never
// see a partial blob or record. Records never change once written, so Get
// keeps recently read ones in memory (bounded) and a cache hit costs no
// file system access; Delete removes a record (and forgets it) and the
// blob with its last record. A blob without a .refs file was stored
// before references were counted: some records unknown may refer to it,
// so it is never removed. The counts are kept under refMu: one process
// writes a store at a time (`parley media put` beside a running server
// may miscount, which only ever keeps a blob too long).
type Store struct {
	root string
	seq  atomic.Uint32

	// refMu orders the writes of blobs, their counts and records (store,
	// Delete), so that a blob is never removed while a record refers to it.
	refMu sync.Mutex

	mu   sync.RWMutex
	recs map[recKey]Attachment // guarded by mu; at most maxCachedRecords
	// gen counts the deletions (guarded by mu): Get caches a record it
	// read from disk only if no Delete ran meanwhile, so a deleted record
	// is never cached again.
	gen uint64
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
// A new blob is counted before its record is written, and a deleted
// record uncounted after it is removed, so a crash between the two keeps
// a blob too long, never removes one too soon.
func (s *Store) store(data []byte, a Attachment, now time.Time) (Attachment, error) {
	sum := sha256.Sum256(data)
	h := hex.EncodeToString(sum[:])
	bp := s.blobPath(h)
	s.refMu.Lock()
	defer s.refMu.Unlock()
	if _, err := os.Stat(bp); errors.Is(err, os.ErrNotExist) {
		if err := datadir.WriteFileAtomic(bp, data, 0o600); err != nil {
			return Attachment{}, fmt.Errorf("mediaproxy: store: %w", err)
		}
		if err := s.writeRefs(h, 1); err != nil {
			return Attachment{}, err
		}
	} else if n, ok, err := s.refs(h); err != nil {
		return Attachment{}, err
	} else if ok { // else a blob from before counts: kept for good
		if err := s.writeRefs(h, n+1); err != nil {
			return Attachment{}, err
		}
	}
	a.ID, a.SHA256, a.Size, a.Created = s.newID(now), h, int64(len(data)), now.UTC()
	rec, _ := json.Marshal(a)
	if err := datadir.WriteFileAtomic(s.recordPath(a.ChannelID, a.ID), rec, 0o600); err != nil {
		return Attachment{}, fmt.Errorf("mediaproxy: store: %w", err)
	}
	s.remember(a)
	return a, nil
}

func (s *Store) recordPath(channel, id string) string {
	return filepath.Join(s.root, "attachments", channel, id+".json")
}

func (s *Store) refsPath(h string) string { return s.blobPath(h) + ".refs" }

// refs reads blob h's reference count; ok is false when it has none (a
// blob stored before counts were kept). refMu is held.
func (s *Store) refs(h string) (n int64, ok bool, err error) {
	b, err := os.ReadFile(s.refsPath(h))
	if errors.Is(err, os.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("mediaproxy: store: %w", err)
	}
	n, err = strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || n < 0 {
		return 0, false, fmt.Errorf("mediaproxy: store: corrupt reference count of blob %s", h)
	}
	return n, true, nil
}

// writeRefs records blob h's reference count. refMu is held.
func (s *Store) writeRefs(h string, n int64) error {
	if err := datadir.WriteFileAtomic(s.refsPath(h), strconv.AppendInt(nil, n, 10), 0o600); err != nil {
		return fmt.Errorf("mediaproxy: store: %w", err)
	}
	return nil
}

// Delete removes attachment id of channel: its record at once (Get then
// says ErrNotFound, so every URL of it answers 404, whatever the proxy's
// caches hold: they are consulted only once the record was found), and
// its blob with the last record that refers to it. A record already gone
// is no error.
func (s *Store) Delete(channel, id string) error {
	if !validID(channel) || !validID(id) {
		return nil // no such record can exist
	}
	s.refMu.Lock()
	defer s.refMu.Unlock()
	a, err := s.load(channel, id)
	if errors.Is(err, ErrNotFound) {
		s.forget(channel, id)
		return nil
	}
	if err != nil {
		return err
	}
	if err := os.Remove(s.recordPath(channel, id)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("mediaproxy: store: %w", err)
	}
	s.forget(channel, id)
	if len(a.SHA256) != 64 || !validID(a.SHA256) {
		return nil // a corrupt record names no blob
	}
	n, ok, err := s.refs(a.SHA256)
	if err != nil || !ok {
		return err
	}
	if n > 1 {
		return s.writeRefs(a.SHA256, n-1)
	}
	for _, p := range []string{s.blobPath(a.SHA256), s.refsPath(a.SHA256)} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("mediaproxy: store: %w", err)
		}
	}
	return nil
}

// DeleteChannel deletes every attachment of channel (Delete, one by one)
// and reports how many records it removed.
func (s *Store) DeleteChannel(channel string) (int, error) {
	if !validID(channel) {
		return 0, nil
	}
	dir := filepath.Join(s.root, "attachments", channel)
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("mediaproxy: store: %w", err)
	}
	n := 0
	var errs []error
	for _, e := range entries {
		id, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || e.IsDir() || !validID(id) {
			continue
		}
		if err := s.Delete(channel, id); err != nil {
			errs = append(errs, err)
			continue
		}
		n++
	}
	_ = os.Remove(dir) // when empty (a temporary file of a put may be there)
	return n, errors.Join(errs...)
}

// forget drops a deleted record from the cache and counts the deletion.
func (s *Store) forget(channel, id string) {
	s.mu.Lock()
	delete(s.recs, recKey{channel, id})
	s.gen++
	s.mu.Unlock()
}

// remember caches a record; past the bound the cache starts over, which
// costs one file read per record still in use.
func (s *Store) remember(a Attachment) {
	s.mu.Lock()
	s.rememberLocked(a)
	s.mu.Unlock()
}

func (s *Store) rememberLocked(a Attachment) {
	if len(s.recs) >= maxCachedRecords {
		clear(s.recs)
	}
	s.recs[recKey{a.ChannelID, a.ID}] = a
}

func (s *Store) blobPath(h string) string { return filepath.Join(s.root, "blobs", h[:2], h) }

// Get returns the record of attachment id in channel.
func (s *Store) Get(channel, id string) (Attachment, error) {
	s.mu.RLock()
	a, ok := s.recs[recKey{channel, id}]
	gen := s.gen
	s.mu.RUnlock()
	if ok {
		return a, nil
	}
	rec, err := s.load(channel, id)
	if err != nil {
		return rec, err
	}
	if rec.ChannelID == channel && rec.ID == id {
		s.mu.Lock()
		if s.gen == gen { // else a Delete ran meanwhile: this may be its record
			s.rememberLocked(rec)
		}
		s.mu.Unlock()
	}
	return rec, nil
}

// load reads a record from disk.
func (s *Store) load(channel, id string) (Attachment, error) {
	if !validID(channel) || !validID(id) {
		return Attachment{}, ErrNotFound
	}
	b, err := os.ReadFile(s.recordPath(channel, id))
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
