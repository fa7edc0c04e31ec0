// Package postgres is the PostgreSQL side of the storage seam
// (storage.Dialect), for offices and cities that outgrow one SQLite file and
// one process: several replicas write to one PostgreSQL 15 (or newer) at
// once.
//
// Connections come from a pgxpool.Pool, used through database/sql so that
// the records' SQL is the same for both databases: the code writes `?`
// placeholders, and a driver.Connector around pgx's pool connector turns
// them into $1, $2… in every statement it is given (prepared, executed or
// queried, inside a transaction or not), and sends booleans as the 0 and 1
// of the schema's INTEGER flags.
//
// Writers run at once, under READ COMMITTED. What SQLite's single writer
// gave for free, each write states itself: a read-then-write takes its rows'
// locks (LockRows: SELECT … FOR UPDATE; a conditional UPDATE locks what it
// changes), a job claim skips rows others are claiming (SkipLocked), case
// numbers come from one upsert's row lock, usernames from a UNIQUE index
// recognised by SQLSTATE 23505, and the audit chain, which needs one total
// order, takes one transaction-scoped advisory lock just before its events
// are chained at commit (LockChain), so that it is held for the few
// statements between the chain's head read and COMMIT and never while
// waiting for a row lock.
package postgres

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"siteinspect/domain"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
)

// Dialect is the PostgreSQL adapter.
type Dialect struct{}

// Name is "postgres".
func (Dialect) Name() string { return "postgres" }

// MaxConns bounds the pool of one process: a PostgreSQL connection is a
// server process, and a few replicas must stay under the server's default
// max_connections (100).
const MaxConns = 24

// Open opens a pool of connections to the server dsn names (a postgres://
// URL; pool_max_conns and the other pgxpool settings may be given in it).
func (Dialect) Open(ctx context.Context, dsn string) (*sql.DB, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx's message may quote the URL, password included.
		return nil, fmt.Errorf("open database: the PostgreSQL URL is not valid: %w", domain.ErrInvalid)
	}
	if !strings.Contains(dsn, "pool_max_conns") {
		cfg.MaxConns = MaxConns
	}
	cfg.MaxConnIdleTime = 5 * time.Minute
	cc := cfg.ConnConfig
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open database %s@%s:%d/%s: %w", cc.User, cc.Host, cc.Port, cc.Database, err)
	}
	db := sql.OpenDB(&connector{base: stdlib.GetPoolConnector(pool), pool: pool})
	// database/sql keeps the connections it holds; pgxpool bounds them.
	db.SetMaxOpenConns(int(cfg.MaxConns))
	db.SetMaxIdleConns(int(cfg.MaxConns))
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open database %s@%s:%d/%s: %w", cc.User, cc.Host, cc.Port, cc.Database, err)
	}
	return db, nil
}

// Writer is nil: PostgreSQL takes concurrent writers.
func (Dialect) Writer() sync.Locker { return nil }

// LockRows is " FOR UPDATE".
func (Dialect) LockRows() string { return " FOR UPDATE" }

// SkipLocked is " FOR UPDATE SKIP LOCKED".
func (Dialect) SkipLocked() string { return " FOR UPDATE SKIP LOCKED" }

// The advisory lock keys of the audit chain and of migrations: "siteinsp"
// and "sitemigr" in ASCII, so that other users of advisory locks on the
// same database are unlikely to collide with them.
const (
	ChainLockKey     = 0x73697465696e7370
	MigrationLockKey = 0x736974656d696772
	// CompanyLockClass is the first key of LockCompany's locks, "comp".
	CompanyLockClass = 0x636f6d70
)

var (
	lockChain      = "SELECT pg_advisory_xact_lock(" + strconv.FormatInt(ChainLockKey, 10) + ")"
	lockMigrations = "SELECT pg_advisory_xact_lock(" + strconv.FormatInt(MigrationLockKey, 10) + ")"
)

// LockChain takes the audit chain's transaction-scoped advisory lock.
func (Dialect) LockChain(ctx context.Context, tx *sql.Tx) error {
	if _, err := tx.ExecContext(ctx, lockChain); err != nil {
		return fmt.Errorf("lock the audit chain: %w", err)
	}
	return nil
}

// LockCompany takes the company's transaction-scoped advisory lock: the
// two-key form (a class of our own, the hash of the company's name),
// whose keys never meet the one-key locks above or TryTask's. Two
// companies whose names hash alike share a lock, which only makes one
// wait for the other.
func (Dialect) LockCompany(ctx context.Context, tx *sql.Tx, org string) error {
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(`+strconv.Itoa(CompanyLockClass)+`, hashtext($1))`, org); err != nil {
		return fmt.Errorf("lock the company's quota: %w", err)
	}
	return nil
}

// LockMigrations takes the migrations' transaction-scoped advisory lock.
func (Dialect) LockMigrations(ctx context.Context, tx *sql.Tx) error {
	if _, err := tx.ExecContext(ctx, lockMigrations); err != nil {
		return fmt.Errorf("lock migrations: %w", err)
	}
	return nil
}

// TryTask takes a session-level advisory lock keyed by the task's name
// ("siteinspect task: " + task, hashed by PostgreSQL's hashtext) on a
// connection of its own, which it keeps until release unlocks it and
// returns it to the pool. A replica that dies drops its connection and with
// it the lock.
func (Dialect) TryTask(ctx context.Context, db *sql.DB, task string) (func(), bool, error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("claim task %s: %w", task, err)
	}
	key := "siteinspect task: " + task
	var ok bool
	if err := conn.QueryRowContext(ctx, `SELECT pg_try_advisory_lock(hashtext($1))`, key).Scan(&ok); err != nil {
		conn.Close()
		return nil, false, fmt.Errorf("claim task %s: %w", task, err)
	}
	if !ok {
		conn.Close()
		return nil, false, nil
	}
	return func() {
		// A fresh context: the unlock must run even when the task's was
		// cancelled (shutdown); if it fails, closing the connection drops
		// the lock with the session.
		uctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := conn.ExecContext(uctx, `SELECT pg_advisory_unlock(hashtext($1))`, key); err != nil {
			conn.Raw(func(any) error { return driver.ErrBadConn })
		}
		conn.Close()
	}, true, nil
}

// sqlstate is err's SQLSTATE, or "".
func sqlstate(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// IsUniqueViolation reports SQLSTATE 23505 (unique_violation).
func (Dialect) IsUniqueViolation(err error) bool { return sqlstate(err) == "23505" }

// Unavailable reports a server that cannot take the statement for now: a
// lost connection (class 08), too many connections (53300), shutting down
// or restarting (57P01, 57P02, 57P03), a read-only standby (25006), or no
// connection at all (pgconn's connect error).
func (Dialect) Unavailable(err error) bool {
	switch s := sqlstate(err); {
	case strings.HasPrefix(s, "08"), s == "53300", s == "57P01", s == "57P02", s == "57P03", s == "25006":
		return true
	}
	var ce *pgconn.ConnectError
	return errors.As(err, &ce)
}

// DiskFull reports SQLSTATE 53100 (disk_full).
func (Dialect) DiskFull(err error) bool { return sqlstate(err) == "53100" }

// BadText reports SQLSTATE 22021 (character_not_in_repertoire: a NUL or
// bytes that are not UTF-8 in a text value) and 22P05
// (untranslatable_character: \u0000 in a JSON value).
func (Dialect) BadText(err error) bool {
	s := sqlstate(err)
	return s == "22021" || s == "22P05"
}

// connector makes conns from the pool's connections.
type connector struct {
	base driver.Connector
	pool *pgxpool.Pool
}

func (c *connector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.base.Connect(ctx)
	if err != nil {
		return nil, err
	}
	sc, ok := conn.(*stdlib.Conn)
	if !ok {
		conn.Close()
		return nil, fmt.Errorf("postgres: pgx returned a %T, not a *stdlib.Conn", conn)
	}
	return &pgConn{sc}, nil
}

func (c *connector) Driver() driver.Driver { return c.base.Driver() }

// Close closes the pool when database/sql closes (sql.DB.Close calls it).
// The pool waits for every connection to be released, and a transaction
// left open would hold one for ever: it closes in the background, so that
// closing the database never hangs.
func (c *connector) Close() error {
	go c.pool.Close()
	return nil
}

// pgConn is pgx's connection with `?` placeholders and booleans sent as the
// integers 0 and 1. Everything else (pinging, session reset, transactions,
// the statement cache) is pgx's own.
type pgConn struct{ *stdlib.Conn }

func (c *pgConn) Prepare(query string) (driver.Stmt, error) {
	return c.Conn.PrepareContext(context.Background(), rebind(query))
}

func (c *pgConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	return c.Conn.PrepareContext(ctx, rebind(query))
}

func (c *pgConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	return c.Conn.ExecContext(ctx, rebind(query), args)
}

func (c *pgConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	return c.Conn.QueryContext(ctx, rebind(query), args)
}

// CheckNamedValue passes every value to pgx as it is (pgx encodes each by
// the parameter's type), except booleans, which become 0 or 1: the flag
// columns are INTEGER on both databases.
func (c *pgConn) CheckNamedValue(nv *driver.NamedValue) error {
	if b, ok := nv.Value.(bool); ok {
		nv.Value = int64(0)
		if b {
			nv.Value = int64(1)
		}
	}
	return nil
}
