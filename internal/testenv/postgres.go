package testenv

import (
	"context"
	"testing"

	"siteinspect/internal/pgtest"
	"siteinspect/storage"
)

// The environment of the PostgreSQL tests (see package pgtest).
const (
	EnvPostgresURL = pgtest.EnvURL
	EnvDB          = pgtest.EnvDB
)

// OnPostgres reports whether NewDB opens PostgreSQL in this run
// (SITEINSPECT_TEST_DB=postgres).
func OnPostgres() bool { return pgtest.Selected() }

// PostgresURL makes a fresh, empty database on the test server
// (SITEINSPECT_TEST_PG_URL) and returns its URL; the database is dropped
// when the test ends. The test fails, never skips, without a server.
func PostgresURL(tb testing.TB) string {
	tb.Helper()
	return pgtest.URL(tb)
}

// NewPostgresDB opens a fresh PostgreSQL database on the test server
// (SITEINSPECT_TEST_PG_URL), migrated and seeded like NewDB's.
func NewPostgresDB(tb testing.TB) *storage.DB {
	tb.Helper()
	return openSeeded(tb, PostgresURL(tb))
}

// OpenDBAt opens another handle on the database dsn names (a second
// replica, say), closed when the test ends.
func OpenDBAt(tb testing.TB, dsn string) *storage.DB {
	tb.Helper()
	db, err := storage.OpenDB(context.Background(), dsn)
	if err != nil {
		tb.Fatalf("open database: %v", err)
	}
	tb.Cleanup(func() { db.Close() })
	db.SetPasswordCost(4) // bcrypt's minimum: tests make many users
	return db
}

func openSeeded(tb testing.TB, dsn string) *storage.DB {
	tb.Helper()
	db := OpenDBAt(tb, dsn)
	if err := db.SeedPermitTypes(context.Background()); err != nil {
		tb.Fatal(err)
	}
	return db
}
