// Package sqlite is the SQLite side of the storage seam (storage.Dialect):
// the embedded default, one file beside the service, through the pure-Go
// modernc.org/sqlite driver. SQLite takes one writer at a time, so this
// adapter admits writers in process (Writer), first come first served, and
// lets small writes share one transaction (Group); reads run beside them
// (WAL).
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"time"

	"modernc.org/sqlite" // registers the "sqlite" driver
	sqlite3 "modernc.org/sqlite/lib"
)

// Dialect is the SQLite adapter. Make one with NewDialect per database: it
// holds that database's writer lock.
type Dialect struct{ writer *sync.Mutex }

// NewDialect returns the adapter for one database.
func NewDialect() *Dialect { return &Dialect{writer: new(sync.Mutex)} }

// Name is "sqlite".
func (*Dialect) Name() string { return "sqlite" }

// maxConns bounds the pool. It is above the concurrent requests we expect,
// so that none waits in database/sql's pool, which hands a freed connection
// to a random waiter (a long tail under load); each open connection costs
// its schema copy and up to 2 MiB of page cache.
const maxConns = 64

// Open opens the database file path, creating it if needed.
func (*Dialect) Open(ctx context.Context, path string) (*sql.DB, error) {
	// WAL lets readers run beside the one writer; busy_timeout makes a second
	// writer wait instead of failing; _txlock=immediate takes the write lock
	// at BEGIN so two read-then-write transactions cannot deadlock.
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	// Readers take pages straight from the OS's cache, shared by all
	// connections, instead of copying each into every connection's own.
	q.Add("_pragma", "mmap_size(268435456)")
	q.Add("_pragma", "foreign_keys(1)")
	// No connection copies the log back into the file when it commits
	// (by default the commit that takes the log past 1000 pages does, and
	// its two fsyncs while it holds the writer lock stall every queued
	// writer): Checkpoints does it beside the writers.
	q.Add("_pragma", "wal_autocheckpoint(0)")
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open database %q: %w", path, err)
	}
	// Keep every connection open: a connection that database/sql closes for
	// want of an idle slot (the default keeps 2) costs the next request a
	// new one, which re-reads the schema, re-runs the pragmas and prepares
	// each statement again; under load that was a third of a create's CPU.
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open database %q: %w", path, err)
	}
	return db, nil
}

// Writer admits one writer at a time. SQLite allows one anyway; queueing
// here is fair and wakes the next writer at once, where SQLite's busy
// handler would sleep in growing steps and ruin tail latency.
func (d *Dialect) Writer() sync.Locker { return d.writer }

// LockRows is empty: the writer lock (and BEGIN IMMEDIATE) already keep
// every other writer out until the transaction ends.
func (*Dialect) LockRows() string { return "" }

// SkipLocked is empty: with one writer there is nothing to skip.
func (*Dialect) SkipLocked() string { return "" }

// LockChain does nothing: the transaction is the only writer.
func (*Dialect) LockChain(context.Context, *sql.Tx) error { return nil }

// LockCompany does nothing: the transaction is the only writer.
func (*Dialect) LockCompany(context.Context, *sql.Tx, string) error { return nil }

// LockMigrations does nothing: the transaction is the only writer.
func (*Dialect) LockMigrations(context.Context, *sql.Tx) error { return nil }

// TryTask always claims the task: one process owns a SQLite database.
func (*Dialect) TryTask(context.Context, *sql.DB, string) (func(), bool, error) {
	return func() {}, true, nil
}

// code is err's SQLite primary result code, or 0.
func code(err error) int {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() & 0xff
	}
	return 0
}

// IsUniqueViolation reports SQLITE_CONSTRAINT_UNIQUE and _PRIMARYKEY.
func (*Dialect) IsUniqueViolation(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && (se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY)
}

// Unavailable reports a database that is locked past the busy timeout,
// read-only, failing to read or write its file, or cannot be opened.
func (*Dialect) Unavailable(err error) bool {
	switch code(err) {
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN:
		return true
	}
	return false
}

// BadText is false: SQLite stores any bytes it is given as text.
func (*Dialect) BadText(error) bool { return false }

// DiskFull reports SQLITE_FULL.
func (*Dialect) DiskFull(err error) bool { return code(err) == sqlite3.SQLITE_FULL }

// CheckpointEvery is how often Checkpoints copies the write-ahead log
// into the database file: often enough that each copy is small (a few
// MiB of pages at the highest write rates measured), rarely enough that
// an idle server does next to nothing.
const CheckpointEvery = 200 * time.Millisecond

// Checkpoints runs a passive checkpoint on db every interval until ctx
// ends, in place of the automatic one that Open turns off (SQLite's
// automatic checkpoint is passive too, but runs inside the commit that
// crosses its threshold). A passive checkpoint takes neither the write
// lock nor a reader's: writes and reads go on beside it, and a writer
// starts the log afresh once a checkpoint has copied all of it. It
// syncs only when it has pages to copy. Errors go to logErr, and the
// next tick tries again.
func Checkpoints(ctx context.Context, db *sql.DB, interval time.Duration, logErr func(error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		var busy, logPages, copied int
		err := db.QueryRowContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &logPages, &copied)
		if err != nil && ctx.Err() == nil {
			logErr(fmt.Errorf("checkpoint: %w", err))
		}
	}
}
