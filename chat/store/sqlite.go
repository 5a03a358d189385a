package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"strings"

	"github.com/parleyhq/parley/internal/datadir"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// OpenSQLite opens (creating if needed) the embedded database at path in WAL
// mode. synchronous is NORMAL (default) or FULL. The database holds
// password hashes, token hashes and every message: its file is created
// readable by the owner only (0600), whatever the umask, and an existing
// one and its -wal, -shm and -journal files lose group and world access;
// SQLite gives the files it creates later the main file's mode.
func OpenSQLite(ctx context.Context, path, synchronous string) (*SQL, error) {
	if synchronous == "" {
		synchronous = "NORMAL"
	}
	if err := privateFiles(path); err != nil {
		return nil, fmt.Errorf("store: sqlite: %w", err)
	}
	q := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "synchronous(" + synchronous + ")", "busy_timeout(10000)", "foreign_keys(OFF)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("store: sqlite: %w", err)
	}
	// One writer at a time is SQLite's model; a few readers run alongside
	// in WAL mode.
	db.SetMaxOpenConns(8)
	db.SetMaxIdleConns(8)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: sqlite: %w", err)
	}
	r := strings.NewReplacer("{{B}}", "INTEGER", "{{X}}", "BLOB", "{{W}}", " WITHOUT ROWID")
	return newSQL(ctx, db, dialect{name: "sqlite", isUnique: sqliteUnique}, r.Replace(schemaTemplate))
}

func sqliteUnique(err error) bool {
	var e *sqlite.Error
	if errors.As(err, &e) {
		c := e.Code()
		return c == sqlite3.SQLITE_CONSTRAINT_UNIQUE || c == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}

// privateFiles creates the database file owner-only (or takes group and
// world access away from an existing one) and does the same for the
// companion files SQLite may have left beside it.
func privateFiles(path string) error {
	if err := datadir.CreatePrivate(path); err != nil {
		return err
	}
	for _, suffix := range []string{"-wal", "-shm", "-journal"} {
		fi, err := os.Stat(path + suffix)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		} else if err != nil {
			return err
		}
		if fi.Mode().Perm()&0o077 != 0 {
			if err := os.Chmod(path+suffix, fi.Mode().Perm()&0o700); err != nil {
				return err
			}
		}
	}
	return nil
}
