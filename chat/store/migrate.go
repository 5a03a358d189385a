package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"

	"github.com/parleyhq/parley/chat/model"
)

// migration brings the schema from one version to the next, inside the
// transaction migrate opens; it must work on both engines.
type migration struct {
	name string
	run  func(ctx context.Context, s *SQL, tx *sql.Tx) error
}

// metaSchemaVersion is the meta key holding the schema version. A database
// without it is at version 1 (schemaTemplate, as first shipped).
const metaSchemaVersion = "schema_version"

// migrations[i] takes the schema from version i+1 to i+2.
var migrations = []migration{
	{"token lifetimes", func(ctx context.Context, s *SQL, tx *sql.Tx) error {
		return execAll(ctx, tx,
			`ALTER TABLE tokens ADD COLUMN issued_at BIGINT NOT NULL DEFAULT 0`,
			`ALTER TABLE tokens ADD COLUMN expires_at BIGINT NOT NULL DEFAULT 0`,
			`CREATE INDEX IF NOT EXISTS tokens_user ON tokens (user_id)`,
			`CREATE INDEX IF NOT EXISTS tokens_expiry ON tokens (expires_at)`)
	}},
	{"username keys", migrateUsernameKeys},
	{"attachments and read states", func(ctx context.Context, s *SQL, tx *sql.Tx) error {
		suffix := ""
		if s.d.name == "sqlite" {
			suffix = " WITHOUT ROWID"
		}
		return execAll(ctx, tx,
			`ALTER TABLE messages ADD COLUMN attachments TEXT NOT NULL DEFAULT '[]'`,
			`CREATE TABLE IF NOT EXISTS read_states (
				user_id BIGINT NOT NULL,
				channel_id BIGINT NOT NULL,
				last_message_id BIGINT NOT NULL,
				PRIMARY KEY (user_id, channel_id)
			)`+suffix)
	}},
}

// migrateUsernameKeys adds users.name_key (model.UsernameKey of the
// username) with a unique index. Users whose names already collide
// case-insensitively keep their rows: the oldest gets the key, each later
// one the key "<key>#<id>", which no username can have ('#' is refused),
// so it can still log in by its exact name but blocks no one.
func migrateUsernameKeys(ctx context.Context, s *SQL, tx *sql.Tx) error {
	if _, err := tx.ExecContext(ctx, `ALTER TABLE users ADD COLUMN name_key TEXT NOT NULL DEFAULT ''`); err != nil {
		return err
	}
	rows, err := tx.QueryContext(ctx, `SELECT id, username FROM users ORDER BY id`)
	if err != nil {
		return err
	}
	type row struct {
		id  int64
		key string
	}
	var all []row
	taken := map[string]bool{}
	for rows.Next() {
		var r row
		var name string
		if err := rows.Scan(&r.id, &name); err != nil {
			rows.Close()
			return err
		}
		r.key = model.UsernameKey(name)
		if taken[r.key] {
			r.key += "#" + strconv.FormatInt(r.id, 10)
		}
		taken[r.key] = true
		all = append(all, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, r := range all {
		if _, err := tx.ExecContext(ctx, s.rebind(`UPDATE users SET name_key = ? WHERE id = ?`), r.key, r.id); err != nil {
			return err
		}
	}
	_, err = tx.ExecContext(ctx, `CREATE UNIQUE INDEX IF NOT EXISTS users_name_key ON users (name_key)`)
	return err
}

// SchemaVersion is the version migrate brings a database to.
func SchemaVersion() int { return len(migrations) + 1 }

func execAll(ctx context.Context, tx *sql.Tx, stmts ...string) error {
	for _, q := range stmts {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	return nil
}

// migrate applies the migrations the database lacks, each in its own
// transaction with the version bump, so an interrupted upgrade resumes
// where it stopped. A database newer than this binary is refused.
func (s *SQL) migrate(ctx context.Context) error {
	for {
		done, err := s.migrateOne(ctx)
		if err != nil || done {
			return err
		}
	}
}

// migrateOne applies the next migration; done reports there was none.
func (s *SQL) migrateOne(ctx context.Context) (done bool, err error) {
	err = s.tx(ctx, func(tx *sql.Tx) error {
		if s.d.dollar {
			// One migrator at a time on PostgreSQL (SQLite's immediate
			// transactions already serialise writers).
			if _, err := tx.ExecContext(ctx, `LOCK TABLE meta IN EXCLUSIVE MODE`); err != nil {
				return err
			}
		}
		v := 1
		var text string
		switch err := tx.QueryRowContext(ctx, s.rebind(`SELECT v FROM meta WHERE k = ?`), metaSchemaVersion).Scan(&text); {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return err
		default:
			if v, err = strconv.Atoi(text); err != nil || v < 1 {
				return fmt.Errorf("%w: schema version %q", ErrSchema, text)
			}
		}
		switch {
		case v > SchemaVersion():
			return fmt.Errorf("%w: the database is at version %d, this binary knows %d", ErrSchema, v, SchemaVersion())
		case v == SchemaVersion():
			done = true
			return nil
		}
		m := migrations[v-1]
		if err := m.run(ctx, s, tx); err != nil {
			return fmt.Errorf("migration %d (%s): %w", v+1, m.name, err)
		}
		_, err := tx.ExecContext(ctx, s.rebind(`INSERT INTO meta (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v`),
			metaSchemaVersion, strconv.Itoa(v+1))
		return err
	})
	return done, err
}
