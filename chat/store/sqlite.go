package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// OpenSQLite opens (creating if needed) the embedded database at path in WAL
// mode. synchronous is NORMAL (default) or FULL.
func OpenSQLite(ctx context.Context, path, synchronous string) (*SQL, error) {
	if synchronous == "" {
		synchronous = "NORMAL"
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
