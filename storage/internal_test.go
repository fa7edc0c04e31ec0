package storage

import (
	"context"
	"errors"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"siteinspect/domain"
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
	d, err := OpenDB(context.Background(), dsn)
	if err == nil {
		// bcrypt's minimum, as testenv.OpenDBAt sets: at cost 11 one
		// hash took over a second under the race detector, and the stats
		// tests make a dozen users each.
		d.SetPasswordCost(4)
	}
	return d, err
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

// A page of one item's annotations names its case too (server: the list
// of an item), and SQLite serves it from the covering index of a case's
// pages, the index that migration 0026 left as the only one leading with
// the annotation's place.
func TestItemPageUsesCaseIndex(t *testing.T) {
	// SQLite's plan, in every pass (PostgreSQL plans an empty table by
	// cost, not by index).
	db, err := OpenDB(context.Background(), filepath.Join(t.TempDir(), "test.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	from := int64(5000)
	q, args := annotationPageQuery(domain.AnnotationFilter{CaseID: "c", EvidenceID: "e", FromPosition: &from, Limit: 100})
	rows, err := db.sql.Query(`EXPLAIN QUERY PLAN `+q, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if len(plan) != 1 || !strings.Contains(plan[0], "COVERING INDEX annotations_order (case_id=? AND evidence_id=? AND position>?)") {
		t.Fatalf("plan of an item's page: got %q, want one search of the covering index annotations_order by case, item and position", plan)
	}
}

// TestUnknownUserCostsAsMuch: a login with an unknown username is checked
// against a stand-in hash at the DB's password cost, so it takes as long
// as a wrong password for a real user, whatever the cost is set to.
func TestUnknownUserCostsAsMuch(t *testing.T) {
	ctx := context.Background()
	d, err := openTestDB(t)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for _, cost := range []int{4, 6} {
		d.SetPasswordCost(cost)
		if _, err := d.Authenticate(ctx, "nobody", "any password at all"); !errors.Is(err, domain.ErrNotFound) {
			t.Fatalf("unknown user: got %v, want ErrNotFound", err)
		}
		h := d.dummy.Load()
		if h == nil {
			t.Fatal("no stand-in hash after an unknown user's login")
		}
		if got, err := bcrypt.Cost(*h); err != nil || got != cost {
			t.Errorf("stand-in hash at cost %d (%v), want %d", got, err, cost)
		}
	}
}
