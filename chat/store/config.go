package store

import (
	"context"
	"fmt"
)

// Config selects and configures an engine.
type Config struct {
	// PostgresDSN, when set, selects PostgreSQL.
	PostgresDSN string
	// SQLitePath is the database file for the embedded engine.
	SQLitePath string
	// Synchronous is SQLite's synchronous pragma: NORMAL (default) or FULL.
	Synchronous string
}

// Validate checks that exactly one engine is configured.
func (c Config) Validate() error {
	if c.PostgresDSN == "" && c.SQLitePath == "" {
		return fmt.Errorf("%w: neither a PostgreSQL DSN nor a SQLite path", ErrConfig)
	}
	switch c.Synchronous {
	case "", "NORMAL", "FULL":
	default:
		return fmt.Errorf("%w: synchronous %q", ErrConfig, c.Synchronous)
	}
	return nil
}

// Open opens the configured engine and creates the schema.
func Open(ctx context.Context, c Config) (*SQL, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if c.PostgresDSN != "" {
		return OpenPostgres(ctx, c.PostgresDSN)
	}
	return OpenSQLite(ctx, c.SQLitePath, c.Synchronous)
}
