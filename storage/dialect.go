package storage

import (
	"context"
	"database/sql"
	"strings"
	"sync"

	"siteinspect/storage/postgres"
	"siteinspect/storage/sqlite"
)

// Dialect is one database's side of the seam. The records' SQL is written
// once, in the subset SQLite and PostgreSQL share, with `?` placeholders;
// what differs is here, implemented by storage/sqlite and storage/postgres:
//
//   - how the pool is opened (SQLite's pragmas; pgxpool behind database/sql
//     with the placeholders rewritten);
//   - how writers are admitted: SQLite has one writer, so its adapter
//     queues them in process and lets small writes share a transaction
//     (group commit); PostgreSQL runs them at once, each taking the row
//     locks it needs (LockRows, SkipLocked) and, for the audit chain only,
//     one transaction-scoped lock taken just before commit (LockChain);
//   - how its errors are recognised: a duplicate key, a database that cannot
//     answer for now, a full disk, by error code, never by message text.
type Dialect interface {
	// Name is "sqlite" or "postgres"; it is also the folder of the
	// dialect's migrations (storage/migrations/<name>).
	Name() string
	// Open opens the pool of connections dsn names.
	Open(ctx context.Context, dsn string) (*sql.DB, error)
	// Writer is the lock that admits one write transaction at a time in
	// this process, or nil when the database takes concurrent writers.
	Writer() sync.Locker
	// LockRows ends a SELECT whose rows the transaction goes on to change
	// after reading them (" FOR UPDATE"), or is empty where the writer
	// already excludes everyone else.
	LockRows() string
	// SkipLocked ends a SELECT that claims a row that others may be
	// claiming at the same time: they pass over it instead of waiting.
	SkipLocked() string
	// LockChain serialises appends to the audit chain: taken in a write
	// transaction just before its events are chained, held until it ends.
	LockChain(ctx context.Context, tx *sql.Tx) error
	// LockCompany serialises the quota checks of one applicant company
	// (its daily cases and upload bytes) across processes: taken in a
	// write transaction before the company's usage is read, held until it
	// ends, so that two requests cannot both spend what is left.
	LockCompany(ctx context.Context, tx *sql.Tx, org string) error
	// LockMigrations keeps processes that start together from applying
	// the same migration twice; held until tx ends.
	LockMigrations(ctx context.Context, tx *sql.Tx) error
	// TryTask claims the named background task (one that every replica
	// runs, such as keeping the figures' days) for this process, without
	// waiting: ok is false while another process holds it. release gives
	// it back; it is held until then, across transactions.
	TryTask(ctx context.Context, db *sql.DB, task string) (release func(), ok bool, err error)
	// IsUniqueViolation reports whether err is the refusal of a duplicate
	// key (a UNIQUE constraint, an index or the primary key).
	IsUniqueViolation(err error) bool
	// Unavailable reports whether err says the database cannot answer or
	// take writes for now (locked, read-only, shutting down, unreachable).
	Unavailable(err error) bool
	// DiskFull reports whether err says the database's disk is full.
	DiskFull(err error) bool
	// BadText reports whether err is the refusal of text the database
	// cannot store (a NUL character, bytes that are not UTF-8).
	BadText(err error) bool
}

// dialectFor picks the adapter for dsn: a postgres:// URL, or a SQLite
// file path (the embedded default).
func dialectFor(dsn string) Dialect {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		return postgres.Dialect{}
	}
	return sqlite.NewDialect()
}

// dialects are every adapter, for error classification: an error is
// recognised whichever database it came from.
var dialects = []Dialect{sqlite.NewDialect(), postgres.Dialect{}}
