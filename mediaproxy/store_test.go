package mediaproxy

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// TestStoreDelete: a deleted record is gone at once; its blob goes with
// the last record that refers to it, never before; a blob stored before
// counts were kept stays; deleting twice, or what never was, is no error.
func TestStoreDelete(t *testing.T) {
	data := []byte("the same bytes, twice")
	cases := []struct {
		name string
		// run stores and deletes; it returns the records that must remain
		// and whether the blob must.
		run func(t *testing.T, st *Store) (kept []Attachment, blob bool)
	}{
		{"one record", func(t *testing.T, st *Store) ([]Attachment, bool) {
			a := mustPut(t, st, "1", data)
			mustDelete(t, st, a)
			return nil, false
		}},
		{"shared blob, first deleted", func(t *testing.T, st *Store) ([]Attachment, bool) {
			a, b := mustPut(t, st, "1", data), mustPut(t, st, "2", data)
			mustDelete(t, st, a)
			return []Attachment{b}, true
		}},
		{"shared blob, both deleted", func(t *testing.T, st *Store) ([]Attachment, bool) {
			a, b, c := mustPut(t, st, "1", data), mustPut(t, st, "1", data), mustPut(t, st, "2", data)
			mustDelete(t, st, b)
			mustDelete(t, st, a)
			mustDelete(t, st, c)
			return nil, false
		}},
		{"deleted twice", func(t *testing.T, st *Store) ([]Attachment, bool) {
			a, b := mustPut(t, st, "1", data), mustPut(t, st, "1", data)
			mustDelete(t, st, a)
			mustDelete(t, st, a)
			return []Attachment{b}, true
		}},
		{"stored again after the last delete", func(t *testing.T, st *Store) ([]Attachment, bool) {
			mustDelete(t, st, mustPut(t, st, "1", data))
			return []Attachment{mustPut(t, st, "1", data)}, true
		}},
		{"blob from before counts", func(t *testing.T, st *Store) ([]Attachment, bool) {
			a := mustPut(t, st, "1", data)
			if err := os.Remove(st.refsPath(a.SHA256)); err != nil {
				t.Fatal(err)
			}
			b := mustPut(t, st, "1", data) // refers to it: still uncounted
			mustDelete(t, st, a)
			mustDelete(t, st, b)
			return nil, true
		}},
		{"never stored", func(t *testing.T, st *Store) ([]Attachment, bool) {
			for _, k := range [][2]string{{"1", "123"}, {"../x", "1"}, {"1", "../../blobs"}} {
				if err := st.Delete(k[0], k[1]); err != nil {
					t.Fatalf("Delete(%q, %q): %v", k[0], k[1], err)
				}
			}
			return nil, false
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st, err := OpenStore(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			kept, blob := c.run(t, st)
			for _, a := range kept {
				if _, err := st.Get(a.ChannelID, a.ID); err != nil {
					t.Fatalf("kept record %s: %v", a.ID, err)
				}
				if got, err := st.Open(a, 1<<20); err != nil || string(got) != string(data) {
					t.Fatalf("kept record's blob: %q %v", got, err)
				}
			}
			blobs := 0
			_ = filepath.WalkDir(filepath.Join(st.Root(), "blobs"), func(p string, d os.DirEntry, err error) error {
				if err == nil && !d.IsDir() && filepath.Ext(p) == "" {
					blobs++
				}
				return nil
			})
			if blob != (blobs == 1) || blobs > 1 {
				t.Fatalf("%d blobs, want the blob kept: %v", blobs, blob)
			}
		})
	}
}

func mustPut(t *testing.T, st *Store, channel string, data []byte) Attachment {
	t.Helper()
	a, err := st.PutFile(channel, "f.bin", "", data, DefaultLimits(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func mustDelete(t *testing.T, st *Store, a Attachment) {
	t.Helper()
	if err := st.Delete(a.ChannelID, a.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Get(a.ChannelID, a.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get after Delete: %v", err)
	}
}

// TestStoreDeleteChannel deletes a channel's records and no other's.
func TestStoreDeleteChannel(t *testing.T) {
	st, err := OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	a, b := mustPut(t, st, "1", []byte("a")), mustPut(t, st, "1", []byte("b"))
	other := mustPut(t, st, "2", []byte("a"))
	if n, err := st.DeleteChannel("1"); n != 2 || err != nil {
		t.Fatalf("DeleteChannel: %d, %v", n, err)
	}
	for _, x := range []Attachment{a, b} {
		if _, err := st.Get(x.ChannelID, x.ID); !errors.Is(err, ErrNotFound) {
			t.Fatalf("record %s of the deleted channel: %v", x.ID, err)
		}
	}
	if got, err := st.Open(other, 10); err != nil || string(got) != "a" {
		t.Fatalf("other channel's record: %q %v", got, err)
	}
	if n, err := st.DeleteChannel("1"); n != 0 || err != nil {
		t.Fatalf("DeleteChannel again: %d, %v", n, err)
	}
}

// TestStoreGetRacesDelete: a Get that read a record from disk while it
// was deleted does not cache it (Get would then find it for good).
func TestStoreGetRacesDelete(t *testing.T) {
	st, err := OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for range 50 {
		a := mustPut(t, st, "1", []byte("x"))
		st.mu.Lock()
		clear(st.recs) // Get reads the disk
		st.mu.Unlock()
		var wg sync.WaitGroup
		wg.Go(func() { _, _ = st.Get(a.ChannelID, a.ID) })
		wg.Go(func() { _ = st.Delete(a.ChannelID, a.ID) })
		wg.Wait()
		if _, err := st.Get(a.ChannelID, a.ID); !errors.Is(err, ErrNotFound) {
			t.Fatalf("deleted record found: %v", err)
		}
	}
}

// TestDeletedAttachment404: once deleted, an attachment's signed URLs
// answer 404, although its variant and its file are in the proxy's
// caches (which are consulted only after the record).
func TestDeletedAttachment404(t *testing.T) {
	e := newTestServer(t, nil)
	img, imgPath := e.putFile(t, "a.png", "", sourceOf(t, FormatPNG, 40, 30))
	file, filePath := e.putFile(t, "a.txt", "text/plain", []byte("hello"))
	cases := []struct{ path string }{{withQuery(imgPath, "width=20")}, {imgPath}, {filePath}}
	etags := make([]string, len(cases))
	for i, c := range cases {
		resp, _ := e.get(t, c.path)
		if resp.StatusCode != 200 || resp.Header.Get("Etag") == "" {
			t.Fatalf("%s before delete: %d %v", c.path, resp.StatusCode, resp.Header)
		}
		etags[i] = resp.Header.Get("Etag")
	}
	for _, a := range []Attachment{img, file} {
		if err := e.store.Delete(a.ChannelID, a.ID); err != nil {
			t.Fatal(err)
		}
	}
	for i, c := range cases {
		resp, body := e.get(t, c.path)
		wantError(t, resp, body, 404, "not_found")
		if resp2, _ := e.get(t, c.path, "If-None-Match", etags[i]); resp2.StatusCode != 404 {
			t.Fatalf("%s with an ETag after delete: %d", c.path, resp2.StatusCode)
		}
	}
}
