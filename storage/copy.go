package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"slices"
	"strings"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver, for SchemaVersions
)

// The records of one database copied into another, empty one (`siteinspect
// copy-db`): the way an office moves from the embedded SQLite file to
// PostgreSQL.

// CopyProgress is told, after each batch CopyRecords writes and once more
// when a table is finished, how far the table is (done of want rows) and
// the whole copy (allDone of allWant rows).
type CopyProgress func(table string, done, want, allDone, allWant int64, finished bool)

// CopiedTable is one table CopyRecords moves, with the columns of its primary
// key (the order rows are read and written in).
type CopiedTable struct {
	Name string
	Key  string
}

// copyTables are the tables of storage/migrations in an order that puts
// every row after the rows its foreign keys point at. schema_migrations is
// not copied: the target's own migrations write it. A table that the
// migrations add and this list lacks makes copy-db refuse to run
// (CheckCopiedTables), so a new table cannot be left behind silently.
var copyTables = []CopiedTable{
	{"units", "id"},
	{"users", "id"},
	{"office_settings", "office"},
	{"sessions", "token_hash"},
	{"permit_types", "code"},
	{"permit_type_versions", "code, version"},
	{"case_counters", "prefix, year"},
	{"cases", "id"},
	{"notifications", "id"}, // before jobs: a job may deliver one
	{"evidence", "id"},
	{"uploads", "id"},
	{"upload_parts", "upload_id, number"},
	{"timestamps", "id"},
	{"jobs", "id"},
	{"audit_events", "seq"},
	{"annotations", "id"},
	{"annotation_versions", "annotation_id, version"},
	{"annotation_replies", "id"},
	{"findings", "case_id, checklist_item"},
	{"decisions", "id"},
	{"owed_items", "id"},
	{"ratings", "id"},
	{"followups", "id"},
	{"commitments", "case_id"},
	{"live_sessions", "id"},
	{"live_segments", "session_id, object_key"},
	// No primary key: ordered by every column, so a dump compares.
	{"live_positions", "session_id, at, lat, lon"},
	{"live_annotations", "id"},
	{"login_attempts", "scope, username, address"},
}

// notCopied are tables the target makes for itself: the replicas'
// membership (each replica writes its own row while it runs) and SQLite's
// full-text index of cases (cases_search and the tables FTS5 keeps for it),
// which the target's triggers fill as the cases go in; and the supervision
// figures' kept days (stats_days), counted again from the copied audit
// chain when first asked for.
func notCopied(name string) bool {
	return name == "schema_migrations" || name == "replicas" || name == "stats_days" || name == "cases_search" || strings.HasPrefix(name, "cases_search_")
}

// CopiedTables are the tables CopyRecords moves, in the order it moves
// them.
func CopiedTables() []CopiedTable { return slices.Clone(copyTables) }

// copyBatchRows bounds the rows of one INSERT; copyBatchParams keeps a
// batch under SQLite's 32,766 and PostgreSQL's 65,535 parameters.
const (
	copyBatchRows   = 500
	copyBatchParams = 30000
)

// CopyRecords copies every table of copyTables from src to dst (the
// records of `siteinspect copy-db`): src read
// in one transaction (a snapshot), dst written in one (on PostgreSQL it
// locks every table it writes in EXCLUSIVE mode first, so no replica
// writes meanwhile; reads go on). It
// refuses a target that holds any user, case or audit event, and checks
// every table's row count before committing. It returns the rows copied
// per table.
func CopyRecords(ctx context.Context, src, dst *DB, progress CopyProgress) (map[string]int64, error) {
	ropts := &sql.TxOptions{ReadOnly: true}
	if src.Dialect() == "postgres" {
		ropts.Isolation = sql.LevelRepeatableRead
	}
	rtx, err := src.SQL().BeginTx(ctx, ropts)
	if err != nil {
		return nil, fmt.Errorf("read source: %w", err)
	}
	defer rtx.Rollback()
	wtx, err := dst.SQL().BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("write target: %w", err)
	}
	defer wtx.Rollback()
	if dst.Dialect() == "postgres" {
		names := make([]string, len(copyTables))
		for i, t := range copyTables {
			names[i] = t.Name
		}
		if _, err := wtx.ExecContext(ctx, `LOCK TABLE `+strings.Join(names, ", ")+` IN EXCLUSIVE MODE`); err != nil {
			return nil, fmt.Errorf("lock the target's tables: %w", err)
		}
	}

	for _, t := range []string{"users", "cases", "audit_events"} {
		var n int64
		if err := wtx.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+t).Scan(&n); err != nil {
			return nil, fmt.Errorf("count target %s: %w", t, err)
		}
		if n > 0 {
			return nil, fmt.Errorf("target is not empty: it holds %d %s; copy-db fills only an empty database", n, strings.ReplaceAll(t, "_", " "))
		}
	}
	// With no user, case or audit event, the target can hold only rows that
	// need none of them: the permit catalogue a server seeds, case counters,
	// login counters. The source's replace them.
	for i := len(copyTables) - 1; i >= 0; i-- {
		if _, err := wtx.ExecContext(ctx, `DELETE FROM `+copyTables[i].Name); err != nil {
			return nil, fmt.Errorf("clear target %s: %w", copyTables[i].Name, err)
		}
	}

	want := map[string]int64{}
	var total int64
	for _, t := range copyTables {
		var n int64
		if err := rtx.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+t.Name).Scan(&n); err != nil {
			return nil, fmt.Errorf("count source %s: %w", t.Name, err)
		}
		want[t.Name] = n
		total += n
	}
	var allDone int64
	for _, t := range copyTables {
		batch := func(rows, done int64) {
			allDone += rows
			progress(t.Name, done, want[t.Name], allDone, total, false)
		}
		if err := copyTableRows(ctx, rtx, wtx, t, want[t.Name], batch); err != nil {
			return nil, err
		}
		progress(t.Name, want[t.Name], want[t.Name], allDone, total, true)
	}
	// A reply's insert counts itself into its annotation (a trigger), but the
	// annotation arrived with the source's count already: take the copies off.
	if _, err := wtx.ExecContext(ctx, `UPDATE annotations SET reply_count = reply_count - (SELECT COUNT(*) FROM annotation_replies r WHERE r.annotation_id = annotations.id)`); err != nil {
		return nil, fmt.Errorf("restore reply counts: %w", err)
	}
	for _, t := range copyTables {
		var n int64
		if err := wtx.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+t.Name).Scan(&n); err != nil {
			return nil, fmt.Errorf("count target %s: %w", t.Name, err)
		}
		if n != want[t.Name] {
			return nil, fmt.Errorf("target %s: got %d rows after the copy, want %d", t.Name, n, want[t.Name])
		}
	}
	if err := wtx.Commit(); err != nil {
		return nil, fmt.Errorf("commit target: %w", err)
	}
	return want, nil
}

// copyTableRows streams one table from rtx into wtx in primary-key order,
// in multi-row INSERTs of up to copyBatchRows rows, telling batch after
// each how many rows it held and how many of the table's are written.
func copyTableRows(ctx context.Context, rtx, wtx *sql.Tx, t CopiedTable, want int64, batch func(rows, done int64)) error {
	rows, err := rtx.QueryContext(ctx, `SELECT * FROM `+t.Name+` ORDER BY `+t.Key)
	if err != nil {
		return fmt.Errorf("read source %s: %w", t.Name, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return fmt.Errorf("read source %s: %w", t.Name, err)
	}
	per := max(1, min(copyBatchRows, copyBatchParams/len(cols)))
	row := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(cols)), ", ") + ")"
	head := `INSERT INTO ` + t.Name + ` (` + strings.Join(cols, ", ") + `) VALUES `
	var args []any
	var done int64
	flush := func() error {
		if len(args) == 0 {
			return nil
		}
		k := len(args) / len(cols)
		q := head + strings.TrimSuffix(strings.Repeat(row+", ", k), ", ")
		if _, err := wtx.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("write target %s (rows %d to %d): %w", t.Name, done+1, done+int64(k), err)
		}
		done += int64(k)
		batch(int64(k), done)
		args = args[:0]
		return nil
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return fmt.Errorf("read source %s: %w", t.Name, err)
		}
		args = append(args, vals...)
		if len(args)/len(cols) >= per {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read source %s: %w", t.Name, err)
	}
	if err := flush(); err != nil {
		return err
	}
	return nil
}

// CheckCopiedTables fails when d has a table that CopyRecords does not
// know (one a newer migration added without a line in copyTables).
func (d *DB) CheckCopiedTables(ctx context.Context) error {
	q := `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`
	if d.Dialect() == "postgres" {
		q = `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'`
	}
	rows, err := d.SQL().QueryContext(ctx, q)
	if err != nil {
		return fmt.Errorf("list tables: %w", err)
	}
	defer rows.Close()
	var unknown []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return fmt.Errorf("list tables: %w", err)
		}
		if !notCopied(name) && !slices.ContainsFunc(copyTables, func(t CopiedTable) bool { return t.Name == name }) {
			unknown = append(unknown, name)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("list tables: %w", err)
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return fmt.Errorf("tables copy-db does not know: %s (add them to copyTables)", strings.Join(unknown, ", "))
	}
	return nil
}

// SchemaVersions reads the migrations a database has applied, sorted,
// without migrating it: none for a database never opened by siteinspect
// (or a SQLite file that does not exist, an error if mustExist).
func SchemaVersions(ctx context.Context, dsn string, mustExist bool) ([]string, error) {
	var db *sql.DB
	var err error
	exists := `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'`
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		db, err = sql.Open("pgx", dsn)
		exists = `SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = 'schema_migrations'`
	} else {
		if _, err := os.Stat(dsn); errors.Is(err, fs.ErrNotExist) && !mustExist {
			return nil, nil
		} else if err != nil {
			return nil, fmt.Errorf("open %s: %w", dsn, err)
		}
		db, err = sql.Open("sqlite", "file:"+dsn+"?mode=ro")
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", RedactDSN(dsn), err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRowContext(ctx, exists).Scan(&n); err != nil {
		return nil, fmt.Errorf("open %s: %w", RedactDSN(dsn), err)
	}
	if n == 0 {
		return nil, nil
	}
	rows, err := db.QueryContext(ctx, `SELECT version FROM schema_migrations`)
	if err != nil {
		return nil, fmt.Errorf("read schema version of %s: %w", RedactDSN(dsn), err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, fmt.Errorf("read schema version of %s: %w", RedactDSN(dsn), err)
		}
		out = append(out, v)
	}
	slices.Sort(out)
	return out, rows.Err()
}

// RedactDSN hides the password of a database URL in messages.
func RedactDSN(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.User != nil {
		return u.Redacted()
	}
	return dsn
}
