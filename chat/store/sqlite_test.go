package store_test

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/parleyhq/parley/chat/model"
	"github.com/parleyhq/parley/chat/store"
)

// TestSQLiteFilesPrivate (issue item 15): the database and the WAL and
// shared-memory files SQLite creates beside it are owner-only (0600) even
// under a permissive umask, and files left open to others by an older
// version are tightened when the database is opened.
func TestSQLiteFilesPrivate(t *testing.T) {
	old := syscall.Umask(0o002)
	defer syscall.Umask(old)
	ctx := context.Background()
	check := func(t *testing.T, path string) {
		t.Helper()
		for _, p := range []string{path, path + "-wal", path + "-shm"} {
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			if perm := fi.Mode().Perm(); perm != 0o600 {
				t.Errorf("%s is %v, want -rw-------", filepath.Base(p), perm)
			}
		}
	}
	t.Run("new", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "chat.db")
		s, err := store.OpenSQLite(ctx, path, "")
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if err := s.CreateUser(ctx, store.Account{User: model.NewUser(1, "alice", false), PasswordHash: "h"}); err != nil {
			t.Fatal(err)
		}
		check(t, path)
	})
	t.Run("existing", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "chat.db")
		s, err := store.OpenSQLite(ctx, path, "")
		if err != nil {
			t.Fatal(err)
		}
		if err := s.CreateUser(ctx, store.Account{User: model.NewUser(1, "alice", false), PasswordHash: "h"}); err != nil {
			t.Fatal(err)
		}
		// As an older version left them, while still open: readable by all.
		for _, p := range []string{path, path + "-wal", path + "-shm"} {
			if err := os.Chmod(p, 0o664); err != nil {
				t.Fatal(err)
			}
		}
		s2, err := store.OpenSQLite(ctx, path, "")
		if err != nil {
			t.Fatal(err)
		}
		defer s2.Close()
		s.Close()
		check(t, path)
	})
}
