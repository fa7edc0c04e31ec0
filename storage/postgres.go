package storage

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"siteinspect/domain"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// PostgreSQL runs the same code as SQLite through database/sql. The code
// writes SQL once, in the common subset of both dialects, with `?`
// placeholders; a driver.Connector around pgx's database/sql driver turns
// them into PostgreSQL's $1, $2… in every statement it is given (prepared,
// executed or queried, inside a transaction or not), so no call site needs
// to know which database it talks to.
//
// The code was written for SQLite's single writer: a write transaction
// reads what it needs (the audit chain's head, a case's state, a counter)
// and writes knowing that nobody else writes meanwhile. On PostgreSQL,
// several replicas (several *DB) write at once, and READ COMMITTED would let
// two transactions read the same chain head and both append after it. So
// every read-write transaction takes one transaction-scoped advisory lock
// as its first statement (pgWriteLock), which keeps SQLite's guarantee:
// each statement after it sees every write committed before, and no other
// write transaction runs until this one ends. Taking it first, never in
// the middle, means no transaction can hold a row lock while waiting for
// it, so it cannot deadlock. Read-only transactions and single statements
// outside a transaction do not take it (a single UPDATE is atomic anyway),
// nor do those begun withOwnLocks (a job claim).
// The later phase (a pgx-native adapter) can narrow it to the audit chain
// once every read-then-write path states its own row locks.

// pgWriteLockKey identifies the advisory lock of write transactions
// ("siteinsp" in ASCII), so that other users of advisory locks on the same
// database are unlikely to collide with it.
const pgWriteLockKey = 0x73697465696e7370

// pgWriteLock is the statement that starts every read-write transaction
// on PostgreSQL. It has no parameters, so pgx sends it as a simple query
// without preparing it.
var pgWriteLock = "SELECT pg_advisory_xact_lock(" + strconv.FormatInt(pgWriteLockKey, 10) + ")"

// isPostgresDSN reports whether dsn names a PostgreSQL server.
func isPostgresDSN(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// openPostgres opens a pool of connections to the server dsn names,
// through pgx's database/sql driver wrapped to take `?` placeholders.
func openPostgres(ctx context.Context, dsn string) (*sql.DB, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		// pgx's message may quote the URL, password included.
		return nil, fmt.Errorf("open database: the PostgreSQL URL is not valid: %w", domain.ErrInvalid)
	}
	db := sql.OpenDB(&pgConnector{base: stdlib.GetConnector(*cfg)})
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open database %s@%s:%d/%s: %w", cfg.User, cfg.Host, cfg.Port, cfg.Database, err)
	}
	return db, nil
}

// pgConnector makes pgConns.
type pgConnector struct{ base driver.Connector }

func (c *pgConnector) Connect(ctx context.Context) (driver.Conn, error) {
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

func (c *pgConnector) Driver() driver.Driver { return c.base.Driver() }

// pgConn is pgx's connection with `?` placeholders, booleans sent as the
// integers 0 and 1 (the schema keeps SQLite's INTEGER flags), and the
// write lock taken at the start of read-write transactions. Everything
// else (pinging, session reset, the statement cache) is pgx's own.
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

func (c *pgConn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

func (c *pgConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	tx, err := c.Conn.BeginTx(ctx, opts)
	if err != nil || opts.ReadOnly || ctx.Value(ownLocksKey{}) != nil {
		return tx, err
	}
	if _, err := c.Conn.ExecContext(ctx, pgWriteLock, nil); err != nil {
		tx.Rollback()
		return nil, fmt.Errorf("take the write lock: %w", err)
	}
	return tx, nil
}

type ownLocksKey struct{}

// withOwnLocks marks a transaction begun with ctx as one that takes the
// row locks it needs itself (ClaimJob's FOR UPDATE SKIP LOCKED) and
// appends no audit event, so that on PostgreSQL it runs beside other
// writes instead of queueing for the write lock.
func withOwnLocks(ctx context.Context) context.Context {
	return context.WithValue(ctx, ownLocksKey{}, true)
}

// rebind rewrites the `?` placeholders of q as $1, $2…, leaving alone any
// `?` inside a string literal, a quoted identifier, a comment or a
// dollar-quoted body (a migration's PL/pgSQL).
func rebind(q string) string {
	if !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 16)
	n := 0
	for i := 0; i < len(q); {
		c := q[i]
		switch {
		case c == '?':
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			i++
			continue
		case c == '\'' || c == '"':
			j := i + 1
			for j < len(q) {
				if q[j] == c {
					if j+1 < len(q) && q[j+1] == c { // doubled quote
						j += 2
						continue
					}
					break
				}
				j++
			}
			j = min(j+1, len(q))
			b.WriteString(q[i:j])
			i = j
			continue
		case c == '-' && strings.HasPrefix(q[i:], "--"):
			j := strings.IndexByte(q[i:], '\n')
			if j < 0 {
				j = len(q) - i
			}
			b.WriteString(q[i : i+j])
			i += j
			continue
		case c == '/' && strings.HasPrefix(q[i:], "/*"):
			j := strings.Index(q[i+2:], "*/")
			end := len(q)
			if j >= 0 {
				end = i + 2 + j + 2
			}
			b.WriteString(q[i:end])
			i = end
			continue
		case c == '$':
			if tag, ok := dollarTag(q[i:]); ok {
				j := strings.Index(q[i+len(tag):], tag)
				end := len(q)
				if j >= 0 {
					end = i + len(tag) + j + len(tag)
				}
				b.WriteString(q[i:end])
				i = end
				continue
			}
		}
		b.WriteByte(c)
		i++
	}
	return b.String()
}

// dollarTag returns the opening tag ($$ or $name$) s starts with.
func dollarTag(s string) (string, bool) {
	for j := 1; j < len(s); j++ {
		c := s[j]
		switch {
		case c == '$':
			return s[:j+1], true
		case c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || j > 1 && c >= '0' && c <= '9':
		default:
			return "", false
		}
	}
	return "", false
}

// isUniqueViolation reports whether err is a database's refusal of a
// duplicate key (a UNIQUE constraint, an index or the primary key), by the
// error's code rather than its wording: SQLSTATE 23505 on PostgreSQL,
// SQLITE_CONSTRAINT_UNIQUE or _PRIMARYKEY on SQLite.
func isUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "23505"
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}
