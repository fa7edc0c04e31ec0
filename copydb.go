package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver, to read a target's schema version before migrating it

	"siteinspect/storage"
)

// copyTable is one table copy-db moves, with the columns of its primary
// key (the order rows are read and written in).
type copyTable struct {
	name string
	key  string
}

// copyTables are the tables of storage/migrations in an order that puts
// every row after the rows its foreign keys point at. schema_migrations is
// not copied: the target's own migrations write it. A table that the
// migrations add and this list lacks makes copy-db refuse to run
// (checkTableSet), so a new table cannot be left behind silently.
var copyTables = []copyTable{
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

// copyBatchRows bounds the rows of one INSERT; copyBatchParams keeps a
// batch under SQLite's 32,766 and PostgreSQL's 65,535 parameters.
const (
	copyBatchRows   = 500
	copyBatchParams = 30000
)

// runCopyDB copies every record of one database into another, empty one:
// the way an office moves from the embedded SQLite file to PostgreSQL. The
// source should not be in use (stop the server first): it is read in one
// transaction, and the target written in one, so the target holds either
// all of it or nothing.
func runCopyDB(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	flags := newFlagSet("copy-db", stderr)
	from := flags.String("from", "", "the database to copy: a SQLite path or a postgres:// URL")
	to := flags.String("to", "", "the empty database to fill: a postgres:// URL (or a SQLite path)")
	if err := parseFlags(flags, args, getenv); err != nil {
		return err
	}
	if *from == "" || *to == "" {
		return errors.New("copy-db needs --from and --to")
	}
	if *from == *to {
		return errors.New("copy-db: --from and --to name the same database")
	}
	return copyDB(ctx, *from, *to, stdout, stderr)
}

// copyDB is copy-db once its flags are read.
func copyDB(ctx context.Context, from, to string, stdout, stderr io.Writer) error {
	srcVersions, err := schemaVersions(ctx, from, true)
	if err != nil {
		return fmt.Errorf("source: %w", err)
	}
	if len(srcVersions) == 0 {
		return fmt.Errorf("source %s is not a siteinspect database (no schema_migrations)", redactDSN(from))
	}
	dstVersions, err := schemaVersions(ctx, to, false)
	if err != nil {
		return fmt.Errorf("target: %w", err)
	}
	// A target that has never been opened gets this program's migrations;
	// one that has must already be where the source is.
	if len(dstVersions) > 0 && !slices.Equal(dstVersions, srcVersions) {
		return fmt.Errorf("target schema is at %s, source at %s: copy-db copies only between databases at the same schema version", last(dstVersions), last(srcVersions))
	}
	dst, err := storage.OpenDB(ctx, to)
	if err != nil {
		return fmt.Errorf("open target: %w", err)
	}
	defer dst.Close()
	if dstVersions, err = schemaVersions(ctx, to, false); err != nil {
		return fmt.Errorf("target: %w", err)
	}
	if !slices.Equal(dstVersions, srcVersions) {
		return fmt.Errorf("source schema is at %s, this program's at %s: open the source with this release first (siteinspect audit verify --db SOURCE migrates it), then copy", last(srcVersions), last(dstVersions))
	}
	src, err := storage.OpenDB(ctx, from)
	if err != nil {
		return fmt.Errorf("open source: %w", err)
	}
	defer src.Close()
	if err := checkTableSet(ctx, src); err != nil {
		return fmt.Errorf("source: %w", err)
	}
	if err := checkTableSet(ctx, dst); err != nil {
		return fmt.Errorf("target: %w", err)
	}
	events, err := src.VerifyAudit(ctx)
	if err != nil {
		return fmt.Errorf("source audit chain broken after %d good events (copy-db copies only an intact chain): %w", events, err)
	}

	start := time.Now()
	counts, err := copyRecords(ctx, src, dst, stderr)
	if err != nil {
		return err
	}
	n, err := dst.VerifyAudit(ctx)
	if err != nil {
		return fmt.Errorf("target audit chain broken after %d good events: %w", n, err)
	}
	if n != events {
		return fmt.Errorf("target audit chain has %d events, source %d", n, events)
	}
	seq, head, err := dst.AuditHead(ctx)
	if err != nil {
		return err
	}
	var total int64
	for _, c := range counts {
		total += c
	}
	fmt.Fprintf(stdout, "copied %d rows in %d tables in %s; audit chain intact on the target: %d events, head %d %s\n",
		total, len(counts), time.Since(start).Round(time.Millisecond), n, seq, head)
	return nil
}

// copyRecords copies every table of copyTables from src to dst: src read
// in one transaction (a snapshot), dst written in one (on PostgreSQL it
// locks every table it writes in EXCLUSIVE mode first, so no replica
// writes meanwhile; reads go on). It
// refuses a target that holds any user, case or audit event, and checks
// every table's row count before committing. It returns the rows copied
// per table.
func copyRecords(ctx context.Context, src, dst *storage.DB, progress io.Writer) (map[string]int64, error) {
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
			names[i] = t.name
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
		if _, err := wtx.ExecContext(ctx, `DELETE FROM `+copyTables[i].name); err != nil {
			return nil, fmt.Errorf("clear target %s: %w", copyTables[i].name, err)
		}
	}

	want := map[string]int64{}
	var total int64
	for _, t := range copyTables {
		var n int64
		if err := rtx.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+t.name).Scan(&n); err != nil {
			return nil, fmt.Errorf("count source %s: %w", t.name, err)
		}
		want[t.name] = n
		total += n
	}
	p := &copyProgress{w: progress, total: total}
	for _, t := range copyTables {
		if err := copyTableRows(ctx, rtx, wtx, t, want[t.name], p); err != nil {
			return nil, err
		}
	}
	// A reply's insert counts itself into its annotation (a trigger), but the
	// annotation arrived with the source's count already: take the copies off.
	if _, err := wtx.ExecContext(ctx, `UPDATE annotations SET reply_count = reply_count - (SELECT COUNT(*) FROM annotation_replies r WHERE r.annotation_id = annotations.id)`); err != nil {
		return nil, fmt.Errorf("restore reply counts: %w", err)
	}
	for _, t := range copyTables {
		var n int64
		if err := wtx.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+t.name).Scan(&n); err != nil {
			return nil, fmt.Errorf("count target %s: %w", t.name, err)
		}
		if n != want[t.name] {
			return nil, fmt.Errorf("target %s: got %d rows after the copy, want %d", t.name, n, want[t.name])
		}
	}
	if err := wtx.Commit(); err != nil {
		return nil, fmt.Errorf("commit target: %w", err)
	}
	return want, nil
}

// copyTableRows streams one table from rtx into wtx in primary-key order,
// in multi-row INSERTs of up to copyBatchRows rows.
func copyTableRows(ctx context.Context, rtx, wtx *sql.Tx, t copyTable, want int64, p *copyProgress) error {
	rows, err := rtx.QueryContext(ctx, `SELECT * FROM `+t.name+` ORDER BY `+t.key)
	if err != nil {
		return fmt.Errorf("read source %s: %w", t.name, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return fmt.Errorf("read source %s: %w", t.name, err)
	}
	per := max(1, min(copyBatchRows, copyBatchParams/len(cols)))
	row := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(cols)), ", ") + ")"
	head := `INSERT INTO ` + t.name + ` (` + strings.Join(cols, ", ") + `) VALUES `
	var args []any
	var done int64
	flush := func() error {
		if len(args) == 0 {
			return nil
		}
		k := len(args) / len(cols)
		q := head + strings.TrimSuffix(strings.Repeat(row+", ", k), ", ")
		if _, err := wtx.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("write target %s (rows %d to %d): %w", t.name, done+1, done+int64(k), err)
		}
		done += int64(k)
		p.add(t.name, int64(k), done, want)
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
			return fmt.Errorf("read source %s: %w", t.name, err)
		}
		args = append(args, vals...)
		if len(args)/len(cols) >= per {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read source %s: %w", t.name, err)
	}
	if err := flush(); err != nil {
		return err
	}
	p.table(t.name, done, want)
	return nil
}

// copyProgress writes how far the copy is: a line per table when it is
// done, and at most one a second while a big one is under way.
type copyProgress struct {
	w           io.Writer
	total, done int64
	last        time.Time
}

func (p *copyProgress) add(table string, n, tableDone, tableWant int64) {
	p.done += n
	if time.Since(p.last) >= time.Second && tableDone < tableWant {
		p.last = time.Now()
		fmt.Fprintf(p.w, "copy-db: %-20s %d/%d rows, %s of all\n", table, tableDone, tableWant, p.percent())
	}
}

func (p *copyProgress) table(table string, done, want int64) {
	fmt.Fprintf(p.w, "copy-db: %-20s %d/%d rows, %s of all\n", table, done, want, p.percent())
}

func (p *copyProgress) percent() string {
	if p.total == 0 {
		return "100%"
	}
	return fmt.Sprintf("%d%%", p.done*100/p.total)
}

// checkTableSet fails when the database has a table that copy-db does not
// know (one a newer migration added without a line in copyTables).
func checkTableSet(ctx context.Context, db *storage.DB) error {
	q := `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`
	if db.Dialect() == "postgres" {
		q = `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'`
	}
	rows, err := db.SQL().QueryContext(ctx, q)
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
		if !notCopied(name) && !slices.ContainsFunc(copyTables, func(t copyTable) bool { return t.name == name }) {
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

// schemaVersions reads the migrations a database has applied, sorted,
// without migrating it: none for a database never opened by siteinspect
// (or a SQLite file that does not exist, an error if mustExist).
func schemaVersions(ctx context.Context, dsn string, mustExist bool) ([]string, error) {
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
		return nil, fmt.Errorf("open %s: %w", redactDSN(dsn), err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRowContext(ctx, exists).Scan(&n); err != nil {
		return nil, fmt.Errorf("open %s: %w", redactDSN(dsn), err)
	}
	if n == 0 {
		return nil, nil
	}
	rows, err := db.QueryContext(ctx, `SELECT version FROM schema_migrations`)
	if err != nil {
		return nil, fmt.Errorf("read schema version of %s: %w", redactDSN(dsn), err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, fmt.Errorf("read schema version of %s: %w", redactDSN(dsn), err)
		}
		out = append(out, v)
	}
	slices.Sort(out)
	return out, rows.Err()
}

// last is the newest of sorted migration versions.
func last(versions []string) string {
	if len(versions) == 0 {
		return "none"
	}
	return versions[len(versions)-1]
}

// redactDSN hides the password of a database URL in messages.
func redactDSN(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.User != nil {
		return u.Redacted()
	}
	return dsn
}
