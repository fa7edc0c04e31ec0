package storage

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
)

// groupCommit lets concurrent writers on a hot path (every annotation is a
// write transaction) share one transaction: whoever gets the writer lock
// runs every write queued meanwhile, each in its own savepoint, and commits
// once. A commit is a third of such a write's cost, so under load the
// writes queue less and finish sooner; alone, a write runs as in tx.
type groupCommit struct {
	mu      sync.Mutex
	queue   []*groupWrite
	leading bool // a writer is taking batches from the queue
}

type groupWrite struct {
	ctx  context.Context
	fn   func(context.Context, *sql.Tx) error
	done chan groupResult
}

// groupResult ends a write, or (lead) makes its writer the next leader.
type groupResult struct {
	err  error
	lead bool
}

// groupTx is tx for writes that may share a transaction with others: fn
// runs inside a savepoint, so its error undoes only its own changes (and
// is returned), and its changes are durable together with those of the
// other writes in the batch once groupTx returns nil. The audit chain stays
// in order: each write reads the head its predecessor in the batch left.
//
// fn must run its statements with the context it is given, never its
// caller's: a statement interrupted by a cancelled request makes SQLite
// roll back the whole transaction, the other writes' included.
//
// One writer at a time leads: it runs the queued writes as a batch, then
// hands the lead to the oldest write queued meanwhile, so that nobody runs
// other people's batches for long and waiting writers sleep on their own
// channel rather than on the writer lock.
func (d *DB) groupTx(ctx context.Context, fn func(context.Context, *sql.Tx) error) error {
	w := &groupWrite{ctx: ctx, fn: fn, done: make(chan groupResult, 1)}
	g := &d.group
	g.mu.Lock()
	g.queue = append(g.queue, w)
	lead := !g.leading
	g.leading = true
	g.mu.Unlock()
	if !lead {
		if r := <-w.done; !r.lead {
			return r.err
		}
	}
	d.wmu.Lock()
	g.mu.Lock()
	batch := g.queue
	g.queue = nil
	g.mu.Unlock()
	d.runGroup(ctx, batch)
	d.wmu.Unlock()
	g.mu.Lock()
	if len(g.queue) > 0 {
		g.queue[0].done <- groupResult{lead: true}
	} else {
		g.leading = false
	}
	g.mu.Unlock()
	return (<-w.done).err
}

// runGroup runs batch in one transaction; the caller holds wmu.
func (d *DB) runGroup(ctx context.Context, batch []*groupWrite) {
	// The transaction outlives any one request: a client that goes away
	// must not roll back the others' writes.
	txCtx := context.WithoutCancel(ctx)
	fail := func(err error) {
		for _, w := range batch {
			w.done <- groupResult{err: err}
		}
	}
	tx, err := d.sql.BeginTx(txCtx, nil)
	if err != nil {
		fail(err)
		return
	}
	errs := make([]error, len(batch))
	for i, w := range batch {
		if err := w.ctx.Err(); err != nil {
			errs[i] = err
			continue
		}
		if _, err := d.txExec(txCtx, tx, `SAVEPOINT write`); err != nil {
			tx.Rollback()
			fail(fmt.Errorf("savepoint: %w", err))
			return
		}
		if errs[i] = w.fn(txCtx, tx); errs[i] != nil {
			if _, err := d.txExec(txCtx, tx, `ROLLBACK TO write`); err != nil {
				tx.Rollback()
				fail(fmt.Errorf("roll back to savepoint: %w", err))
				return
			}
		}
		if _, err := d.txExec(txCtx, tx, `RELEASE write`); err != nil {
			tx.Rollback()
			fail(fmt.Errorf("release savepoint: %w", err))
			return
		}
	}
	if err := tx.Commit(); err != nil {
		fail(err)
		return
	}
	d.bump()
	for i, w := range batch {
		w.done <- groupResult{err: errs[i]}
	}
}
