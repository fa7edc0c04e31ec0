package storage

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"siteinspect/domain"
	"siteinspect/storage/sqlite"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // registers the pure-Go "sqlite" driver
)

//go:embed migrations
var migrations embed.FS

// DB holds the records. It is safe for concurrent use.
type DB struct {
	sql     *sql.DB
	dialect Dialect
	now     func() time.Time

	mu      sync.Mutex
	changed chan struct{}

	passwordCost int
	// notifyKey seals the join links of live invitations (LoadNotifyKey).
	notifyKey []byte
	// companyDailyCases bounds the cases a company opens in 24 hours
	// (SetCompanyDailyCases).
	companyDailyCases int
	dummy             atomic.Pointer[[]byte] // see checkUnknownUser
	stmts             sync.Map               // query → *sql.Stmt
	cache             caches                 // sessions, permit types, user refs (cache.go)

	// writer admits one write transaction at a time where the dialect
	// has a single writer (SQLite); nil on PostgreSQL.
	writer sync.Locker
	// group queues writes that may share a transaction (groupTx).
	group sqlite.Group[groupWrite]
	// batchLead admits one batch of group at a time where there is no
	// writer (PostgreSQL): the batches of one process would only queue at
	// the chain lock anyway, and one at a time they grow with the load.
	batchLead sync.Mutex
	// batchConn is the connection runBatch keeps for its batches (held
	// with batchLead): a batch waits for no reader to free one of the
	// pool's connections, while everyone queued behind it waits for the
	// batch. Dropped after a failed batch, taken again by the next.
	batchConn *sql.Conn
	// batchStats counts the batches run without a writer (runBatch).
	batchStats batchStats
	// heavyReads admits long reads (pages of annotations) a few at a time
	// and in arrival order: a blocked channel send is served first come,
	// first served, where database/sql hands a free connection to a random
	// waiter and the scheduler shares the CPU among all of them, so that
	// under load some requests wait far longer than the rest.
	heavyReads chan struct{}
	// annCache keeps annotations as pages list them (annotation_cache.go).
	annCache annotationCache
	// evCopies are the evidence items and cases EvidenceWithCase read,
	// which annotation creates may start from (evidence_copy.go).
	evCopies evidenceCopies
	// stopCheckpoints ends the SQLite checkpointer (sqlite.Checkpoints)
	// and waits for it; nil on PostgreSQL.
	stopCheckpoints func()
	// peers tells other replicas on the same PostgreSQL database what
	// changed, and Listen hears theirs (peers.go).
	peers peers
	// timestamps is whether uploads, recordings, decisions and
	// countersigns request RFC 3161 time-stamps (EnableTimestamps).
	timestamps bool
	// notify is which delivery channels notifications are enqueued for
	// (EnableNotifyChannels).
	notify notifyChannels
	// lastNotification keeps the ids of notifications written by this
	// process increasing (notificationID).
	lastNotification atomic.Int64
}

// stmt returns the statement for q, prepared once. Parsing and planning a
// query costs more than running it on the hot paths (authentication, the
// case and evidence lookups), so every query outside a transaction goes
// through here. The number of distinct query strings is bounded by the code.
func (d *DB) stmt(ctx context.Context, q string) (*sql.Stmt, error) {
	if st, ok := d.stmts.Load(q); ok {
		return st.(*sql.Stmt), nil
	}
	st, err := d.sql.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	if prev, loaded := d.stmts.LoadOrStore(q, st); loaded {
		st.Close()
		return prev.(*sql.Stmt), nil
	}
	return st, nil
}

// heavyReaders is how many long reads run at once. Since a page of
// annotations reads only the index (annotation_cache.go), one rarely waits
// for the disk, and two (one a core on the 2-core machines we measure on)
// gave a shorter tail than four: fewer pages interleave, each finishes
// sooner, and the queue stays first come, first served.
const heavyReaders = 2

// txStmt is q prepared for use inside tx, on SQLite only.
//
// Where writers run concurrently (PostgreSQL), the tx* helpers run q on
// tx directly: preparing on the pool would take a second connection while
// tx holds one, and when every connection is held by a transaction waiting
// for a lock that this one holds, none would come; pgx prepares and caches
// each statement per connection by itself.
//
// Otherwise, txStmt is q prepared for use inside tx. database/sql reuses the parent
// statement's preparation on the transaction's connection when it has one,
// so a write transaction on a hot path parses nothing.
func (d *DB) txStmt(ctx context.Context, tx *wtx, q string) (*sql.Stmt, error) {
	st, err := d.stmt(ctx, q)
	if err != nil {
		return nil, err
	}
	return tx.StmtContext(ctx, st), nil
}

// txExec is tx.ExecContext through a prepared statement.
func (d *DB) txExec(ctx context.Context, tx *wtx, q string, args ...any) (sql.Result, error) {
	if d.writer == nil {
		return tx.ExecContext(ctx, q, args...)
	}
	st, err := d.txStmt(ctx, tx, q)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

// queryRow is QueryRowContext through a prepared statement.
func (d *DB) queryRow(ctx context.Context, q string, args ...any) *sql.Row {
	st, err := d.stmt(ctx, q)
	if err != nil {
		// Let the error surface from Scan, as database/sql does.
		return d.sql.QueryRowContext(ctx, q, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

// query is QueryContext through a prepared statement.
func (d *DB) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	st, err := d.stmt(ctx, q)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

// scanner is a row to scan: *sql.Row, *sql.Rows or a wrapper.
type scanner interface{ Scan(...any) error }

// queryAll runs q through query and scans every row it returns with scan,
// all of them or none: an error of any step is wrapped as what failed
// ("list users").
func queryAll[T any](ctx context.Context, d *DB, what string, scan func(scanner) (T, error), q string, args ...any) ([]T, error) {
	rows, err := d.query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}

// exec runs one write statement outside a transaction.
func (d *DB) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if d.writer != nil {
		d.writer.Lock()
		defer d.writer.Unlock()
	}
	return d.sql.ExecContext(ctx, q, args...)
}

// Changed returns a channel that is closed at the next committed change, so
// live views wake at once instead of polling blindly. On PostgreSQL, it is
// also closed when another process appends to the audit chain, while
// Listen runs (peers.go).
func (d *DB) Changed() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.changed
}

func (d *DB) bump() {
	d.mu.Lock()
	close(d.changed)
	d.changed = make(chan struct{})
	d.mu.Unlock()
}

// OpenDB opens the record store named by dsn: a SQLite file path (the
// embedded default, storage/sqlite) or a postgres:// URL (storage/postgres).
// It applies any migrations the database has not seen yet, and refuses a
// database whose schema is newer than this program's.
func OpenDB(ctx context.Context, dsn string) (*DB, error) {
	dl := dialectFor(dsn)
	db, err := dl.Open(ctx, dsn)
	if err != nil {
		return nil, err
	}
	d := &DB{sql: db, dialect: dl, writer: dl.Writer(), now: time.Now, changed: make(chan struct{}), passwordCost: DefaultPasswordCost,
		companyDailyCases: domain.DefaultCompanyDailyCases, heavyReads: make(chan struct{}, heavyReaders)}
	if err := d.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	d.joinPeers(dsn)
	if _, ok := dl.(*sqlite.Dialect); ok {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			sqlite.Checkpoints(ctx, db, dsn, sqlite.CheckpointEvery, func(err error) { slog.Default().Warn("sqlite wal", "err", err) })
		}()
		d.stopCheckpoints = func() { cancel(); <-done }
	}
	return d, nil
}

// Dialect names the database behind d: "sqlite" or "postgres".
func (d *DB) Dialect() string { return d.dialect.Name() }

// Close closes the database.
func (d *DB) Close() error {
	if d.stopCheckpoints != nil {
		d.stopCheckpoints()
	}
	d.batchLead.Lock()
	if d.batchConn != nil {
		d.batchConn.Close()
		d.batchConn = nil
	}
	d.batchLead.Unlock()
	return d.sql.Close()
}

// WarmPool opens every connection the pool may hold at once and readies
// each (SQLite reads its schema; PostgreSQL starts its server process), so
// that the first burst of requests after the server starts does not wait
// while the pool grows: in BenchmarkAnnotations10k, where 50 clients start
// at once, their first requests took up to 40–120 ms that way. The pool
// keeps them (sqlite.Open and postgres.Open keep their idle connections).
// For serve; commands that make one request skip it.
func (d *DB) WarmPool(ctx context.Context) error {
	n := d.sql.Stats().MaxOpenConnections
	conns := make([]*sql.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range n {
		c, err := d.sql.Conn(ctx)
		if err != nil {
			return fmt.Errorf("warm the database pool: %w", err)
		}
		conns = append(conns, c)
		if _, err := c.ExecContext(ctx, `SELECT 1 FROM schema_migrations WHERE 1 = 0`); err != nil {
			return fmt.Errorf("warm the database pool: %w", err)
		}
	}
	return nil
}

// Ping checks the database answers.
func (d *DB) Ping(ctx context.Context) error { return d.sql.PingContext(ctx) }

// SQL exposes the connection for tests that must reach under the API (for
// example to tamper with a row).
func (d *DB) SQL() *sql.DB { return d.sql }

// migrate applies the migrations of d's dialect that the database has not
// seen, each in its own transaction with its record in schema_migrations.
// Each transaction checks the record again, so that replicas starting
// together (PostgreSQL, where the write lock serialises them) apply each
// migration once. A database that knows a version newer than every
// migration here was migrated by a newer release: this one does not know
// its schema and refuses to run on it.
func (d *DB) migrate(ctx context.Context) error {
	err := d.tx(ctx, func(tx *wtx) error {
		if err := d.dialect.LockMigrations(ctx, tx.Tx); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version TEXT PRIMARY KEY, applied_at BIGINT NOT NULL)`)
		return err
	})
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	dir := path.Join("migrations", d.dialect.Name())
	entries, err := fs.ReadDir(migrations, dir)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
	latest := 0
	for _, e := range entries {
		n, ok := migrationNumber(e.Name())
		if !ok {
			return fmt.Errorf("migrate: %s/%s is not named NNNN_what.sql", dir, e.Name())
		}
		latest = max(latest, n)
	}
	var applied []string
	rows, err := d.sql.QueryContext(ctx, `SELECT version FROM schema_migrations`)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return fmt.Errorf("migrate: %w", err)
		}
		applied = append(applied, v)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	for _, v := range applied {
		if n, ok := migrationNumber(v); ok && n > latest {
			return domain.Coded(domain.ErrInvalid, domain.CodeSchemaTooNew, fmt.Sprintf("open database: its schema is at version %s, newer than this program knows (%04d); run a release that knows it", v, latest))
		}
	}
	for _, e := range entries {
		version := strings.TrimSuffix(e.Name(), ".sql")
		if slices.Contains(applied, version) {
			continue
		}
		body, err := fs.ReadFile(migrations, path.Join(dir, e.Name()))
		if err != nil {
			return fmt.Errorf("migrate %s: %w", version, err)
		}
		err = d.tx(ctx, func(tx *wtx) error {
			if err := d.dialect.LockMigrations(ctx, tx.Tx); err != nil {
				return err
			}
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE version = ?`, version).Scan(&n); err != nil || n > 0 {
				return err
			}
			if _, err := tx.ExecContext(ctx, string(body)); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`, version, d.now().UnixMilli())
			return err
		})
		if err != nil {
			return fmt.Errorf("migrate %s: %w", version, err)
		}
	}
	return nil
}

// migrationNumber is the NNNN of a migration named NNNN_what(.sql).
func migrationNumber(name string) (int, bool) {
	digits, _, ok := strings.Cut(name, "_")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(digits)
	return n, err == nil && n > 0
}

// tx runs fn in a write transaction, committing when it returns nil, with
// the audit events fn recorded chained last (chainAudits).
func (d *DB) tx(ctx context.Context, fn func(*wtx) error) error {
	if d.writer != nil {
		d.writer.Lock()
		defer d.writer.Unlock()
	}
	t, err := d.sql.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	tx := &wtx{Tx: t, timestamps: d.timestamps}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := d.finishTx(ctx, tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	d.bump()
	return nil
}

// notFound turns sql.ErrNoRows into ErrNotFound with context.
func notFound(err error, what string) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: %w", what, domain.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

func ms(t time.Time) int64 { return t.UnixMilli() }

func fromMS(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := time.UnixMilli(v.Int64).UTC()
	return &t
}

func nullMS(t *time.Time) sql.NullInt64 {
	if t == nil {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMilli(), Valid: true}
}
