package storage

import (
	"context"
	"fmt"
)

// EnqueueJob queues a job of kind for an existing evidence item in a
// transaction of its own: the same insert that completing an upload makes
// inside its own transaction (addEvidence), for running an item through the
// pipeline again and for measuring the queue by itself (bench/jobs).
func (d *DB) EnqueueJob(ctx context.Context, kind, evidenceID string) error {
	err := d.tx(ctx, func(tx *wtx) error {
		return enqueueJob(ctx, tx, kind, evidenceID, d.now())
	})
	if err != nil {
		return fmt.Errorf("enqueue job for evidence %s: %w", evidenceID, err)
	}
	return nil
}
