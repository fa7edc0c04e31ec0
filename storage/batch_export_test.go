package storage

import "sync"

// HoldBatches keeps d's grouped writes (groupTx) from starting until
// release: the first becomes its batch's leader and waits, the others
// queue behind it (QueuedWrites counts them all), and at release they run
// as one batch.
func HoldBatches(d *DB) (release func()) {
	var l sync.Locker = &d.batchLead
	if d.writer != nil {
		l = d.writer
	}
	l.Lock()
	return l.Unlock
}

// QueuedWrites is how many grouped writes wait for their batch.
func QueuedWrites(d *DB) int { return d.group.Queued() }

// BatchStats is what d's batches on PostgreSQL came to (runBatch): batches
// of more than one write committed, the writes they held, and batches that
// fell back to a transaction per write.
func BatchStats(d *DB) (batches, writes, fallbacks int64) {
	d.batchStats.mu.Lock()
	defer d.batchStats.mu.Unlock()
	return d.batchStats.batches, d.batchStats.writes, d.batchStats.fallbacks
}
