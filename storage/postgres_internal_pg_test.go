package storage

import (
	"context"
	"io/fs"
	"path/filepath"
	"slices"
	"testing"

	"siteinspect/internal/pgtest"
)

// openTestDB opens a fresh database for a test inside the package: a
// SQLite file, or a PostgreSQL database when the run selects it
// (SITEINSPECT_TEST_DB=postgres, inside scripts/with-postgres.sh).
func openTestDB(tb testing.TB) (*DB, error) {
	tb.Helper()
	dsn := filepath.Join(tb.TempDir(), "test.db")
	if pgtest.Selected() {
		dsn = pgtest.URL(tb)
	}
	return OpenDB(context.Background(), dsn)
}

func TestRebind(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{`SELECT 1`, `SELECT 1`},
		{`SELECT a FROM t WHERE b = ? AND c IN (?, ?) LIMIT ?`, `SELECT a FROM t WHERE b = $1 AND c IN ($2, $3) LIMIT $4`},
		{`UPDATE t SET a = '?' WHERE b = ?`, `UPDATE t SET a = '?' WHERE b = $1`},
		{`SELECT 'it''s ?', "odd?""name" FROM t WHERE x = ?`, `SELECT 'it''s ?', "odd?""name" FROM t WHERE x = $1`},
		{"SELECT ? -- why?\n, ?", "SELECT $1 -- why?\n, $2"},
		{`SELECT /* ? */ ?`, `SELECT /* ? */ $1`},
		{`CREATE FUNCTION f() RETURNS int AS $$ SELECT '?' $$; SELECT ?`, `CREATE FUNCTION f() RETURNS int AS $$ SELECT '?' $$; SELECT $1`},
		{`SELECT $body$ ? $body$, ?`, `SELECT $body$ ? $body$, $1`},
		{`SELECT 'unterminated ?`, `SELECT 'unterminated ?`},
	} {
		if got := rebind(tt.in); got != tt.want {
			t.Errorf("rebind(%q):\n got %q\nwant %q", tt.in, got, tt.want)
		}
	}
}

// Every SQLite migration has its PostgreSQL translation under the same
// name, and the other way round: a schema change made for one database
// only would leave the other behind, unnoticed until a deployment on it.
func TestMigrationsPerDialect(t *testing.T) {
	names := func(dialect string) []string {
		entries, err := fs.ReadDir(migrations, "migrations/"+dialect)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range entries {
			out = append(out, e.Name())
		}
		return out
	}
	sqlite, pg := names("sqlite"), names("postgres")
	if len(sqlite) < 9 {
		t.Fatalf("got %d SQLite migrations, want at least 9", len(sqlite))
	}
	if !slices.Equal(sqlite, pg) {
		t.Fatalf("migrations differ:\n sqlite   %v\n postgres %v\nwrite storage/migrations/postgres/NNNN_*.sql beside each SQLite one", sqlite, pg)
	}
}
