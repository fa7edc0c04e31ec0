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
	seen := map[int]string{}
	for _, name := range sqlite {
		n, ok := migrationNumber(name)
		if !ok {
			t.Fatalf("migration %s is not named NNNN_what.sql", name)
		}
		if other, dup := seen[n]; dup {
			t.Errorf("migrations %s and %s share the number %04d: give the later one the next free number", other, name, n)
		}
		seen[n] = name
	}
	if !slices.Equal(sqlite, pg) {
		t.Fatalf("migrations differ:\n sqlite   %v\n postgres %v\nwrite storage/migrations/postgres/NNNN_*.sql beside each SQLite one", sqlite, pg)
	}
}
