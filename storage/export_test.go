package storage

import "context"

// TryTaskForTest claims a background task as another replica would, so a
// test can hold it while this process tries.
func (d *DB) TryTaskForTest(ctx context.Context, task string) (func(), bool, error) {
	return d.dialect.TryTask(ctx, d.sql, task)
}
