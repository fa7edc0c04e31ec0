package jobs_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"

	"siteinspect/domain"
	"siteinspect/internal/pgtest"
	"siteinspect/storage"
)

// What adopting River would rest on: a River job inserted in a transaction
// of storage's own pool (a *sql.Tx, which is what storage's write
// transactions are, on both databases) commits and rolls back together with
// our rows. On PostgreSQL through riverdatabasesql (River's database/sql
// driver; riverpgxv5 would need a pgx.Tx, which storage does not have), on
// SQLite through riversqlite; River's tables migrated by rivermigrate into
// our database, through our pool.
func TestRiverInsertInOurTransaction(t *testing.T) {
	for _, dialect := range []string{"sqlite", "postgres"} {
		t.Run(dialect, func(t *testing.T) {
			ctx := context.Background()
			dsn := filepath.Join(t.TempDir(), "test.db")
			if dialect == "postgres" {
				dsn = pgtest.URL(t)
			}
			db, err := storage.OpenDB(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			if got := db.Dialect(); got != dialect {
				t.Fatalf("Dialect() = %q, want %q", got, dialect)
			}
			if dialect == "postgres" {
				insertInOurTx(t, db, riverdatabasesql.New(db.SQL()))
			} else {
				insertInOurTx(t, db, riversqlite.New(db.SQL()))
			}
		})
	}
}

func insertInOurTx(t *testing.T, db *storage.DB, drv riverdriver.Driver[*sql.Tx]) {
	ctx := context.Background()
	m, err := rivermigrate.New(drv, &rivermigrate.Config{Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		t.Fatalf("river migrate through our pool: %v", err)
	}
	client, err := river.NewClient(drv, &river.Config{Logger: quiet()}) // insert only
	if err != nil {
		t.Fatal(err)
	}
	db.SetPasswordCost(4)
	if err := db.SeedPermitTypes(ctx); err != nil {
		t.Fatal(err)
	}
	applicant, err := db.CreateUser(ctx, "applicant", "correct horse battery", domain.RoleApplicant, "", "Acme")
	if err != nil {
		t.Fatal(err)
	}
	cs, err := db.CreateCase(ctx, applicant, "binhai", "BH", time.UTC, domain.NewCase{PermitType: "hotel", SiteName: "s", SiteAddress: "a"})
	if err != nil {
		t.Fatal(err)
	}
	// Our row and River's job in one transaction: rolled back, then
	// committed.
	both := func(i int, commit bool) string {
		tx, err := db.SQL().BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		id, err := insertEvidence(ctx, tx, cs.ID, applicant.ID, i)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := client.InsertTx(ctx, tx, noop{I: i}, nil); err != nil {
			t.Fatalf("river insert in our transaction: %v", err)
		}
		if commit {
			if err := tx.Commit(); err != nil {
				t.Fatalf("commit: %v", err)
			}
		}
		return id
	}
	gone, kept := both(1, false), both(2, true)
	var n int
	if err := db.SQL().QueryRowContext(ctx, `SELECT COUNT(*) FROM evidence WHERE id = ?`, gone).Scan(&n); err != nil || n != 0 {
		t.Fatalf("evidence of the rolled-back transaction: got %d rows, %v; want 0", n, err)
	}
	if err := db.SQL().QueryRowContext(ctx, `SELECT COUNT(*) FROM evidence WHERE id = ?`, kept).Scan(&n); err != nil || n != 1 {
		t.Fatalf("evidence of the committed transaction: got %d rows, %v; want 1", n, err)
	}
	var args []byte
	q := `SELECT args FROM river_job`
	if db.Dialect() == "sqlite" {
		q = `SELECT json(args) FROM river_job` // riversqlite stores SQLite's binary JSONB
	}
	rows, err := db.SQL().QueryContext(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []int
	for rows.Next() {
		if err := rows.Scan(&args); err != nil {
			t.Fatal(err)
		}
		var a noop
		if err := json.Unmarshal(args, &a); err != nil {
			t.Fatalf("job args %q: %v", args, err)
		}
		got = append(got, a.I)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0] != 2 {
		t.Fatalf("River jobs after one rolled-back and one committed transaction: got %v, want [2]", got)
	}
}
