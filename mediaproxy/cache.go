package mediaproxy

import (
	"container/list"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/parleyhq/parley/internal/datadir"
)

// Variant is a processed image ready to serve.
type Variant struct {
	Body   []byte
	Format Format
	ETag   string
}

// variantHeader is the first byte of a disk-cache file: the format.
func encodeVariant(v Variant) []byte {
	return append([]byte{byte(v.Format)}, v.Body...)
}

func decodeVariant(b []byte, etag string) (Variant, bool) {
	if len(b) < 2 || !Format(b[0]).Encodable() {
		return Variant{}, false
	}
	return Variant{Body: b[1:], Format: Format(b[0]), ETag: etag}, true
}

// memCache is a size-bounded LRU of variants.
type memCache struct {
	mu    sync.Mutex
	max   int64
	size  int64                    // guarded by mu
	ll    *list.List               // guarded by mu; front = most recent
	items map[string]*list.Element // guarded by mu
}

type memEntry struct {
	key string
	v   Variant
}

func newMemCache(max int64) *memCache {
	return &memCache{max: max, ll: list.New(), items: map[string]*list.Element{}}
}

func (c *memCache) get(key string) (Variant, bool) { return c.getBytes([]byte(key)) }

// getBytes looks key up without making a string of it.
func (c *memCache) getBytes(key []byte) (Variant, bool) {
	if c.max <= 0 {
		return Variant{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[string(key)]; ok {
		c.ll.MoveToFront(e)
		return e.Value.(*memEntry).v, true
	}
	return Variant{}, false
}

func (c *memCache) put(key string, v Variant) {
	n := int64(len(v.Body) + len(key) + 64)
	if c.max <= 0 || n > c.max/4 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[key]; ok {
		c.size -= int64(len(e.Value.(*memEntry).v.Body) + len(key) + 64)
		c.ll.Remove(e)
	}
	c.items[key] = c.ll.PushFront(&memEntry{key: key, v: v})
	c.size += n
	for c.size > c.max {
		e := c.ll.Back()
		me := e.Value.(*memEntry)
		c.ll.Remove(e)
		delete(c.items, me.key)
		c.size -= int64(len(me.v.Body) + len(me.key) + 64)
	}
}

func (c *memCache) bytes() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.size
}

// diskCache keeps processed variants under DIR/ab/abcd… (SHA-256 of the
// key), written atomically, trimmed oldest-first past max bytes.
type diskCache struct {
	dir string
	max int64

	mu   sync.Mutex
	size int64 // guarded by mu; approximate
}

func openDiskCache(dir string, max int64) (*diskCache, error) {
	if dir == "" || max <= 0 {
		return nil, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	d := &diskCache{dir: dir, max: max}
	_ = filepath.WalkDir(dir, func(_ string, e fs.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			if fi, err := e.Info(); err == nil {
				d.size += fi.Size()
			}
		}
		return nil
	})
	return d, nil
}

func (d *diskCache) path(key string) string {
	s := sha256.Sum256([]byte(key))
	h := hex.EncodeToString(s[:])
	return filepath.Join(d.dir, h[:2], h)
}

func (d *diskCache) get(key, etag string) (Variant, bool) {
	if d == nil {
		return Variant{}, false
	}
	b, err := os.ReadFile(d.path(key))
	if err != nil {
		return Variant{}, false
	}
	return decodeVariant(b, etag)
}

func (d *diskCache) put(key string, v Variant) error {
	if d == nil {
		return nil
	}
	b := encodeVariant(v)
	if err := datadir.WriteFileAtomic(d.path(key), b, 0o600); err != nil {
		return err
	}
	d.mu.Lock()
	d.size += int64(len(b))
	over := d.size > d.max
	d.mu.Unlock()
	if over {
		d.trim()
	}
	return nil
}

// trim removes the oldest files until the cache is at 90% of max.
func (d *diskCache) trim() {
	type f struct {
		p    string
		size int64
		mod  time.Time
	}
	var files []f
	var total int64
	_ = filepath.WalkDir(d.dir, func(p string, e fs.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			if fi, err := e.Info(); err == nil {
				files = append(files, f{p, fi.Size(), fi.ModTime()})
				total += fi.Size()
			}
		}
		return nil
	})
	sort.Slice(files, func(i, j int) bool { return files[i].mod.Before(files[j].mod) })
	for _, x := range files {
		if total <= d.max*9/10 {
			break
		}
		if err := os.Remove(x.p); err == nil || errors.Is(err, os.ErrNotExist) {
			total -= x.size
		}
	}
	d.mu.Lock()
	d.size = total
	d.mu.Unlock()
}
