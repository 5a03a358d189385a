// Package testpg gives tests a PostgreSQL schema of their own on the
// throw-away cluster that `make test` starts (scripts/with-postgres.sh sets
// PARLEY_TEST_POSTGRES_DSN). Outside `make test` the PostgreSQL half of a
// suite is skipped; under PARLEY_INTEROP=1 a missing server fails the test.
package testpg

import (
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"os"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
)

// EnvDSN names the variable holding the cluster's DSN.
const EnvDSN = "PARLEY_TEST_POSTGRES_DSN"

// DSN creates a schema named prefix_<random> for the test, drops it when
// the test ends, and returns a DSN whose search_path selects it; "" when no
// server is configured outside `make test`.
func DSN(t testing.TB, prefix string) string {
	t.Helper()
	dsn := os.Getenv(EnvDSN)
	if dsn == "" {
		if os.Getenv("PARLEY_INTEROP") == "1" {
			t.Fatal(EnvDSN + " is not set (run through scripts/with-postgres.sh)")
		}
		t.Log(EnvDSN + " not set: PostgreSQL half skipped")
		return ""
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := prefix + "_" + hex.EncodeToString(b[:])
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if db, err := sql.Open("pgx", dsn); err == nil {
			_, _ = db.Exec("DROP SCHEMA " + schema + " CASCADE")
			db.Close()
		}
	})
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	return dsn + sep + "search_path=" + schema
}
