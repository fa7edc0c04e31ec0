package storage

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
)

// TestGroupTx: concurrent writes share transactions, a failing one leaves
// nothing behind and does not take the others down, and the audit chain
// they append to stays whole.
func TestGroupTx(t *testing.T) {
	ctx := context.Background()
	d, err := openTestDB(t)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	const n = 300
	errBoom := errors.New("boom")
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = d.groupTx(ctx, strconv.Itoa(i%5), func(ctx context.Context, tx *wtx) error {
				if _, err := appendAudit(ctx, tx, d.now(), Audit{Action: "test", Target: strconv.Itoa(i)}); err != nil {
					return err
				}
				if i%7 == 0 {
					return errBoom // after writing: the savepoint must undo it
				}
				return nil
			})
		}()
	}
	wg.Wait()
	want := map[string]bool{}
	for i, err := range errs {
		switch {
		case i%7 == 0 && !errors.Is(err, errBoom):
			t.Errorf("write %d: got error %v, want %v", i, err, errBoom)
		case i%7 != 0 && err != nil:
			t.Errorf("write %d: got error %v, want none", i, err)
		case i%7 != 0:
			want[strconv.Itoa(i)] = true
		}
	}
	checked, err := d.VerifyAudit(ctx)
	if err != nil || checked != int64(len(want)) {
		t.Fatalf("verify: got %d events, %v; want %d, no error", checked, err, len(want))
	}
	rows, err := d.sql.QueryContext(ctx, `SELECT target FROM audit_events`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := map[string]bool{}
	for rows.Next() {
		var target string
		rows.Scan(&target)
		got[target] = true
	}
	if len(got) != len(want) {
		t.Fatalf("got %d distinct events, want %d", len(got), len(want))
	}
	for k := range want {
		if !got[k] {
			t.Errorf("event %s missing", k)
		}
	}
}
