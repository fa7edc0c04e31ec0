// Package sqlite is the SQLite side of the storage seam (storage.Dialect):
// the embedded default, one file beside the service, through the pure-Go
// modernc.org/sqlite driver. SQLite takes one writer at a time, so this
// adapter admits writers in process (Writer), first come first served, and
// lets small writes share one transaction (Group); reads run beside them
// (WAL).
package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"net/url"
	"os"
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

// CheckpointEvery is how often Checkpoints looks at the write-ahead log's
// index (one read of 100 bytes): often enough that a pause in the writes
// is used to copy the log within a tick or two of its start, rarely
// enough that an idle server does next to nothing. Under load the
// server commits every few milliseconds.
const CheckpointEvery = 50 * time.Millisecond

// logAhead is how much disk Checkpoints keeps allocated past the end of
// the write-ahead log: more than the log grows between two ticks at the
// highest write rates measured (about 200 MiB a second, five pages an
// annotation).
const logAhead = 64 << 20

// logGrowing is how much the log must have grown since the last tick for
// Checkpoints to allocate ahead of it: a burst of writes, not an idle or
// lightly used server's log (64 MiB of disk each, or of memory on tmpfs).
const logGrowing = 1 << 20

// logBudget is how much of the log may wait uncopied while writes go on
// without a pause: then a checkpoint runs even so. PostgreSQL's default
// (max_wal_size) lets eight times as much wait. What waits costs a reader
// one more hash probe per 16 MiB for each page it looks up in the log,
// and the next open a read of the log to rebuild its index.
const logBudget = 128 << 20

// logMaxAge is how long Checkpoints lets pages wait uncopied under writes
// that never pause for a tick but stay under logBudget.
const logMaxAge = 10 * time.Second

// Checkpoints runs a passive checkpoint on db, the database at path, until
// ctx ends, in place of the automatic one that Open turns off (SQLite's
// automatic checkpoint is passive too, but runs inside the commit that
// crosses its threshold). A passive checkpoint takes neither the write
// lock nor a reader's: writes and reads go on beside it, and a writer
// starts the log afresh once a checkpoint has copied all of it. Errors go
// to logErr, and the next tick tries again.
//
// Every interval it looks at the log's index and checkpoints when the
// writers have paused for a tick, when logBudget waits uncopied, or when
// pages have waited logMaxAge: a checkpoint's syncs slow the commits
// beside it (docs/BENCHMARKS.md), so during a burst of writes it waits for
// the burst's end, and copies each page once however often the burst
// rewrote it. Where the index cannot be read, it checkpoints every tick.
//
// While the log grows fast, each tick also keeps disk blocks allocated
// past its end, without changing its size or contents. A commit appends to the
// log; where that append needs new blocks, ext4 made it wait 10–18 ms
// whenever a sync of the log was under way; into allocated blocks it does
// not wait. PostgreSQL writes its log into segment files made ahead for
// the same reason.
func Checkpoints(ctx context.Context, db *sql.DB, path string, interval time.Duration, logErr func(error)) {
	c := newCheckpointer(db, path, logBudget)
	defer c.close()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := c.tick(ctx, time.Now()); err != nil && ctx.Err() == nil {
			logErr(err)
		}
	}
}

// checkpointer is Checkpoints' state from tick to tick.
type checkpointer struct {
	db      *sql.DB
	wal     string // the log's file
	walSize int64  // its size at the last tick
	ahead   bool   // whether the log's file system allocates ahead
	idx     walIndex
	policy  checkpointPolicy
}

func newCheckpointer(db *sql.DB, path string, budget int64) *checkpointer {
	c := &checkpointer{db: db, wal: path + "-wal", ahead: true, idx: walIndex{path: path + "-shm"},
		policy: checkpointPolicy{budget: budget, maxAge: logMaxAge, lastAt: time.Now()}}
	if fi, err := os.Stat(c.wal); err == nil {
		c.walSize = fi.Size() // a log left from before has not grown
	}
	return c
}

func (c *checkpointer) close() { c.idx.close() }

// tick keeps the log's space ahead and checkpoints if one is due.
func (c *checkpointer) tick(ctx context.Context, now time.Time) error {
	var spaceErr error
	if c.ahead {
		size, err := reserve(c.wal, c.walSize)
		c.walSize = size
		switch {
		case errors.Is(err, errors.ErrUnsupported):
			c.ahead = false
		case err != nil:
			spaceErr = fmt.Errorf("log space: %w", err)
		}
	}
	if st, ok := c.idx.read(); ok && !c.policy.due(now, st) {
		return spaceErr
	}
	var busy, logPages, copied int
	if err := c.db.QueryRowContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &logPages, &copied); err != nil {
		return errors.Join(spaceErr, fmt.Errorf("checkpoint: %w", err))
	}
	c.policy.lastAt = now
	return spaceErr
}

// walState is what the log's index says: its last committed frame, the
// last frame copied into the database file, and the page size.
type walState struct {
	last, copied uint32
	pageSize     int64
}

// checkpointPolicy decides, tick by tick, whether a checkpoint is due.
type checkpointPolicy struct {
	budget   int64 // bytes of log that may wait uncopied
	maxAge   time.Duration
	seen     uint32    // the last frame at the previous tick
	lastAt   time.Time // the last checkpoint (or the start)
	lastSeen bool
}

// due reports whether the log in st should be copied now: it holds
// uncopied frames, and the writers added none since the previous tick,
// or budget bytes wait, or the last checkpoint is maxAge old.
func (p *checkpointPolicy) due(now time.Time, st walState) bool {
	quiet := p.lastSeen && st.last == p.seen
	p.seen, p.lastSeen = st.last, true
	if st.last <= st.copied {
		return false
	}
	return quiet || int64(st.last-st.copied)*st.pageSize >= p.budget || now.Sub(p.lastAt) >= p.maxAge
}

// walIndex reads the header of a WAL database's index (path is the
// "-shm" file), whose layout SQLite documents as stable
// (sqlite.org/walformat.html, "The WAL-Index Header"): two copies of a
// 48-byte header in the host's byte order, mxFrame at byte 16 and the
// page size at byte 14 (1 meaning 65536), then nBackfill at byte 96.
type walIndex struct {
	path string
	f    *os.File
}

func (w *walIndex) read() (walState, bool) {
	if w.f == nil {
		f, err := os.Open(w.path)
		if err != nil {
			return walState{}, false
		}
		w.f = f
	}
	var b [100]byte
	for try := 0; ; try++ {
		if _, err := w.f.ReadAt(b[:], 0); err != nil || b[12] != 1 {
			return walState{}, false
		}
		// A header being written as we read it: its two copies differ.
		if bytes.Equal(b[:48], b[48:96]) {
			break
		}
		if try == 3 {
			return walState{}, false
		}
	}
	page := int64(binary.NativeEndian.Uint16(b[14:]))
	if page == 1 {
		page = 65536
	}
	return walState{
		last:     binary.NativeEndian.Uint32(b[16:]),
		copied:   binary.NativeEndian.Uint32(b[96:]),
		pageSize: page,
	}, true
}

func (w *walIndex) close() {
	if w.f != nil {
		w.f.Close()
	}
}
