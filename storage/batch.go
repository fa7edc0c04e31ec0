package storage

import (
	"context"
	"fmt"
)

// groupWrite is one write of a group commit (sqlite.Group).
type groupWrite struct {
	ctx context.Context
	fn  func(context.Context, *wtx) error
}

// groupTx is tx for writes that may share a transaction with others (on
// SQLite, whose adapter batches them: sqlite.Group): fn runs inside a
// savepoint, so its error undoes only its own changes (and is returned),
// and its changes are durable together with those of the other writes in
// the batch once groupTx returns nil. Their audit events are chained in
// the order the writes ran. Where the database takes concurrent writers
// (PostgreSQL), fn runs in a transaction of its own.
//
// fn must run its statements with the context it is given, never its
// caller's: a statement interrupted by a cancelled request makes SQLite
// roll back the whole transaction, the other writes' included.
func (d *DB) groupTx(ctx context.Context, fn func(context.Context, *wtx) error) error {
	if d.writer == nil {
		return d.tx(ctx, func(tx *wtx) error { return fn(ctx, tx) })
	}
	return d.group.Do(groupWrite{ctx: ctx, fn: fn}, d.writer, func(batch []groupWrite) []error { return d.runGroup(ctx, batch) })
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
	if err := d.chainAudits(txCtx, tx); err != nil {
		tx.Rollback()
		return fail(err)
	}
	if err := tx.Commit(); err != nil {
		return fail(err)
	}
	d.bump()
	return errs
}
