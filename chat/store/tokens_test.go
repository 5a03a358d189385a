package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/parleyhq/parley/chat/model"
	"github.com/parleyhq/parley/chat/store"
	"github.com/parleyhq/parley/internal/testpg"
)

// TestTokenLifetimes: tokens keep their issue and expiry times, can be
// revoked one by one, per user, or all replaced (with the password) in one
// transaction, and expired ones are purged.
func TestTokenLifetimes(t *testing.T) {
	ctx := context.Background()
	eachEngine(t, func(t *testing.T, s store.Store) {
		for _, u := range []model.User{model.NewUser(1, "alice", false), model.NewUser(2, "bob", false)} {
			if err := s.CreateUser(ctx, store.Account{User: u, PasswordHash: "old"}); err != nil {
				t.Fatal(err)
			}
		}
		now := time.UnixMilli(1_800_000_000_000).UTC()
		toks := []store.Token{
			{Hash: []byte("a1"), UserID: 1, IssuedAt: now, ExpiresAt: now.Add(time.Hour)},
			{Hash: []byte("a2"), UserID: 1, IssuedAt: now, ExpiresAt: now.Add(-time.Minute)},
			{Hash: []byte("a3"), UserID: 1},
			{Hash: []byte("b1"), UserID: 2, IssuedAt: now, ExpiresAt: now.Add(time.Hour)},
		}
		for _, tk := range toks {
			if err := s.PutToken(ctx, tk); err != nil {
				t.Fatal(err)
			}
		}
		if got, err := s.GetToken(ctx, []byte("a1")); err != nil || !got.IssuedAt.Equal(now) || !got.ExpiresAt.Equal(now.Add(time.Hour)) {
			t.Fatalf("GetToken = %+v, %v", got, err)
		}
		later := now.Add(48 * time.Hour)
		if err := s.SetTokenLifetime(ctx, []byte("a1"), now, later); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.GetToken(ctx, []byte("a1")); !got.ExpiresAt.Equal(later) {
			t.Fatalf("expiry not updated: %+v", got)
		}
		if n, err := s.DeleteExpiredTokens(ctx, now); err != nil || n != 1 {
			t.Fatalf("DeleteExpiredTokens = %d, %v (want a2 only)", n, err)
		}
		if _, err := s.GetToken(ctx, []byte("a3")); err != nil {
			t.Fatalf("a token without expiry was purged: %v", err)
		}
		if err := s.DeleteToken(ctx, []byte("a3")); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteToken(ctx, []byte("a3")); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("second delete: %v", err)
		}
		if err := s.SetTokenLifetime(ctx, []byte("a3"), now, later); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("lifetime of a revoked token: %v", err)
		}
		pw := "new"
		if err := s.ReplaceTokens(ctx, &pw, store.Token{Hash: []byte("a4"), UserID: 1, IssuedAt: now, ExpiresAt: later}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetToken(ctx, []byte("a1")); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("old token after replace: %v", err)
		}
		if a, _ := s.AccountByName(ctx, "alice"); a.PasswordHash != "new" {
			t.Fatalf("password after replace: %q", a.PasswordHash)
		}
		if err := s.ReplaceTokens(ctx, &pw, store.Token{Hash: []byte("x"), UserID: 99}); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("replace for a missing user: %v", err)
		}
		if err := s.DeleteUserTokens(ctx, 1); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetToken(ctx, []byte("a4")); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("a4 after revoke-all: %v", err)
		}
		if _, err := s.GetToken(ctx, []byte("b1")); err != nil {
			t.Fatalf("another user's token went too: %v", err)
		}
	})
}

// version1 is the schema as first shipped (users, tokens and meta; the
// other tables did not change): what an existing database looks like.
var version1 = map[string][]string{
	"sqlite": {
		`CREATE TABLE meta (k TEXT PRIMARY KEY, v TEXT NOT NULL)`,
		`CREATE TABLE users (id BIGINT PRIMARY KEY, username TEXT NOT NULL UNIQUE, bot INTEGER NOT NULL, password_hash TEXT NOT NULL)`,
		`CREATE TABLE tokens (hash BLOB PRIMARY KEY, user_id BIGINT NOT NULL) WITHOUT ROWID`,
	},
	"postgres": {
		`CREATE TABLE meta (k TEXT PRIMARY KEY, v TEXT NOT NULL)`,
		`CREATE TABLE users (id BIGINT PRIMARY KEY, username TEXT NOT NULL UNIQUE, bot BOOLEAN NOT NULL, password_hash TEXT NOT NULL)`,
		`CREATE TABLE tokens (hash BYTEA PRIMARY KEY, user_id BIGINT NOT NULL)`,
	},
}

// TestMigrateExisting: a database created by the first schema, with
// rows, opens: its tokens keep working (lifetimes unset, for the service
// to date), the version is recorded, and opening again changes nothing.
func TestMigrateExisting(t *testing.T) {
	ctx := context.Background()
	type engine struct {
		name, driver, dsn string
		open              func() (*store.SQL, error)
	}
	path := filepath.Join(t.TempDir(), "old.db")
	engines := []engine{{"sqlite", "sqlite", "file:" + path, func() (*store.SQL, error) { return store.OpenSQLite(ctx, path, "") }}}
	if dsn := testpg.DSN(t, "migrate"); dsn != "" {
		engines = append(engines, engine{"postgres", "pgx", dsn, func() (*store.SQL, error) { return store.OpenPostgres(ctx, dsn) }})
	}
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			db, err := sql.Open(e.driver, e.dsn)
			if err != nil {
				t.Fatal(err)
			}
			for _, q := range version1[e.name] {
				if _, err := db.Exec(q); err != nil {
					t.Fatal(err)
				}
			}
			ins := `INSERT INTO tokens VALUES (?, 10)`
			if e.name == "postgres" {
				ins = `INSERT INTO tokens VALUES ($1, 10)`
			}
			// Two users whose names collide case-insensitively, as the
			// first schema allowed.
			if _, err := db.Exec(`INSERT INTO users VALUES (10, 'alice', false, 'h'), (11, 'Bob', false, 'h'), (12, 'bob', false, 'h')`); err != nil {
				t.Fatal(err)
			}
			if _, err := db.Exec(ins, []byte("tok")); err != nil {
				t.Fatal(err)
			}
			db.Close()
			for range 2 {
				s, err := e.open()
				if err != nil {
					t.Fatalf("open an existing database: %v", err)
				}
				tok, err := s.GetToken(ctx, []byte("tok"))
				if err != nil || tok.UserID != 10 || !tok.IssuedAt.IsZero() || !tok.ExpiresAt.IsZero() {
					t.Fatalf("old token: %+v, %v", tok, err)
				}
				if v, err := s.GetMeta(ctx, "schema_version"); err != nil || v != fmt.Sprint(store.SchemaVersion()) {
					t.Fatalf("schema version %q, %v", v, err)
				}
				// Each colliding user logs in by its exact name; other
				// spellings reach the oldest; the name is taken in every case.
				for name, id := range map[string]model.Snowflake{"bob": 12, "Bob": 11, "BOB": 11, "ALICE": 10} {
					if a, err := s.AccountByName(ctx, name); err != nil || a.User.ID != id {
						t.Fatalf("AccountByName(%q) = %d, %v; want %d", name, a.User.ID, err, id)
					}
				}
				if err := s.CreateUser(ctx, store.Account{User: model.NewUser(13, "bOB", false)}); !errors.Is(err, store.ErrConflict) {
					t.Fatalf("a case variant of migrated names: %v", err)
				}
				s.Close()
			}
		})
	}
}

// TestNewerSchemaRefused: a database from a newer binary is not touched.
func TestNewerSchemaRefused(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "new.db")
	s, err := store.OpenSQLite(ctx, path, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetMeta(ctx, "schema_version", fmt.Sprint(store.SchemaVersion()+1)); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := store.OpenSQLite(ctx, path, ""); !errors.Is(err, store.ErrSchema) {
		t.Fatalf("open a newer database: %v", err)
	}
}
