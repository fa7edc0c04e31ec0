package storage

import (
	"context"
	"fmt"
	"siteinspect/domain"
	"sort"
	"sync"
)

// groupWrite is one write of a group commit (sqlite.Group).
type groupWrite struct {
	ctx context.Context
	// key orders the writes of a batch (the case whose row the write
	// locks), so that two processes' batches on PostgreSQL take their row
	// locks in the same order and cannot deadlock on each other.
	key string
	fn  func(context.Context, *wtx) error
}

// groupTx is tx for writes that may share a transaction with others: whoever
// leads (sqlite.Group) runs every write queued meanwhile as one batch, in one
// transaction with one commit, and the audit events of the batch are chained
// in the order the writes ran. Once groupTx returns nil, fn's changes are
// durable together with those of the other writes in the batch. key names
// what fn locks first (its case), to order the batch.
//
// On SQLite (one writer) each write runs inside a savepoint, so its error
// undoes only its own changes (and is returned). On PostgreSQL, where a
// statement's error aborts the whole transaction and a savepoint costs a
// round trip, the batch runs without them: if any write fails, or the batch
// as a whole does (a deadlock 40P01 or serialization failure 40001 with
// another process, a lost connection), the batch is rolled back and each
// write runs again in a transaction of its own, so that one bad write never
// fails the others. Either way every rule fn checks is checked inside the
// transaction that commits its changes.
//
// fn must run its statements with the context it is given, never its
// caller's: a statement interrupted by a cancelled request would roll back
// the whole transaction, the other writes' included.
func (d *DB) groupTx(ctx context.Context, key string, fn func(context.Context, *wtx) error) error {
	w := groupWrite{ctx: ctx, key: key, fn: fn}
	if d.writer == nil {
		return d.group.Do(w, &d.batchLead, func(batch []groupWrite) []error { return d.runBatch(ctx, batch) })
	}
	return d.group.Do(w, d.writer, func(batch []groupWrite) []error { return d.runGroup(ctx, batch) })
}

// runGroup runs batch in one transaction; the caller holds the writer lock.
func (d *DB) runGroup(ctx context.Context, batch []groupWrite) []error {
	// The transaction outlives any one request: a client that goes away
	// must not roll back the others' writes.
	txCtx := context.WithoutCancel(ctx)
	errs := make([]error, len(batch))
	fail := func(err error) []error {
		for i := range errs {
			errs[i] = err
		}
		return errs
	}
	t, err := d.sql.BeginTx(txCtx, nil)
	if err != nil {
		return fail(err)
	}
	tx := &wtx{Tx: t, timestamps: d.timestamps}
	for i, w := range batch {
		if err := w.ctx.Err(); err != nil {
			errs[i] = err
			continue
		}
		if _, err := d.txExec(txCtx, tx, `SAVEPOINT write`); err != nil {
			tx.Rollback()
			return fail(fmt.Errorf("savepoint: %w", err))
		}
		recorded := len(tx.audits)
		if errs[i] = w.fn(txCtx, tx); errs[i] != nil {
			tx.audits = tx.audits[:recorded]
			if _, err := d.txExec(txCtx, tx, `ROLLBACK TO write`); err != nil {
				tx.Rollback()
				return fail(fmt.Errorf("roll back to savepoint: %w", err))
			}
		}
		if _, err := d.txExec(txCtx, tx, `RELEASE write`); err != nil {
			tx.Rollback()
			return fail(fmt.Errorf("release savepoint: %w", err))
		}
	}
	if err := d.finishTx(txCtx, tx); err != nil {
		tx.Rollback()
		return fail(err)
	}
	if err := tx.Commit(); err != nil {
		return fail(err)
	}
	d.bump()
	return errs
}

// runBatch runs batch on a database that takes concurrent writers
// (PostgreSQL) in one transaction: one chain lock, one NOTIFY to the other
// replicas and one commit for all of its writes. If anything fails, it
// rolls the batch back and runs each write on its own (runAlone). The
// caller holds d.batchLead, so one batch of this process runs at a time;
// other writes of this process and other processes run beside it, and meet
// it at the case rows' locks and at the chain lock.
func (d *DB) runBatch(ctx context.Context, batch []groupWrite) []error {
	errs := make([]error, len(batch))
	live := make([]int, 0, len(batch))
	for i, w := range batch {
		if errs[i] = w.ctx.Err(); errs[i] == nil {
			live = append(live, i)
		}
	}
	if len(live) <= 1 {
		for _, i := range live {
			errs[i] = d.runAlone(batch[i])
		}
		return errs
	}
	sort.SliceStable(live, func(a, b int) bool { return batch[live[a]].key < batch[live[b]].key })
	// The transaction outlives any one request: a client that goes away
	// must not roll back the others' writes.
	txCtx := context.WithoutCancel(ctx)
	err := func() error {
		if d.batchConn == nil {
			c, err := d.sql.Conn(txCtx)
			if err != nil {
				return err
			}
			d.batchConn = c
		}
		t, err := d.batchConn.BeginTx(txCtx, nil)
		if err != nil {
			return err
		}
		tx := &wtx{Tx: t, timestamps: d.timestamps, notes: &noteInserts{}}
		for _, i := range live {
			if err := batch[i].fn(txCtx, tx); err != nil {
				tx.Rollback()
				return err
			}
		}
		if err := d.flushNotes(txCtx, tx); err != nil {
			tx.Rollback()
			return err
		}
		if err := d.finishTx(txCtx, tx); err != nil {
			tx.Rollback()
			return err
		}
		return tx.Commit()
	}()
	if err == nil {
		d.batchStats.add(len(live), false)
		d.bump()
		return errs
	}
	d.batchStats.add(len(live), true)
	if d.batchConn != nil {
		// It may be the connection that failed.
		d.batchConn.Close()
		d.batchConn = nil
	}
	for _, i := range live {
		errs[i] = d.runAlone(batch[i])
	}
	return errs
}

// runAlone runs one write of a batch in a transaction of its own.
func (d *DB) runAlone(w groupWrite) error {
	if err := w.ctx.Err(); err != nil {
		return err
	}
	return d.tx(w.ctx, func(tx *wtx) error { return w.fn(w.ctx, tx) })
}

// finishTx is what every write transaction does last before its COMMIT:
// the notifications its events call for, the events chained (under the
// chain lock from here to the commit), and one word to the other replicas
// naming the chain's new head.
func (d *DB) finishTx(ctx context.Context, tx *wtx) error {
	var last *domain.AuditEvent
	if n := len(tx.audits); n > 0 {
		last = tx.audits[n-1]
	}
	if err := d.notifyAudits(ctx, tx); err != nil {
		return err
	}
	if err := d.chainAudits(ctx, tx); err != nil {
		return err
	}
	return d.announceChange(ctx, tx, last)
}

// batchStats counts runBatch's batches of more than one write: how many
// committed, how many writes they held, and how many fell back to one
// transaction per write.
type batchStats struct {
	mu                         sync.Mutex
	batches, writes, fallbacks int64
}

func (s *batchStats) add(writes int, fellBack bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if fellBack {
		s.fallbacks++
		return
	}
	s.batches++
	s.writes += int64(writes)
}
