package storage_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"siteinspect/domain"
	"siteinspect/internal/testenv"
	"siteinspect/storage"
	"siteinspect/storage/objects"
)

// TestLegalHoldLiftConvergesAfterStoreFailure: a lift whose release of the
// originals fails because the object store does not answer is recorded
// (the record goes first) and answers the store's error; the lift tried
// again once the store is back is refused as the case is not held, but
// releases the originals, which the failed one left held for good (no
// lift could reach them any more, and the purge waits on them forever).
func TestLegalHoldLiftConvergesAfterStoreFailure(t *testing.T) {
	ctx := context.Background()
	f := newRetentionFixture(t, time.Hour)
	cfg := testenv.MinIOConfig(t)
	cfg.Bucket = f.minio.Bucket()
	cfg.Retention = f.ret.Lock
	front := testenv.NewFront(t, cfg.Endpoint)
	cfg.Endpoint = front.Addr()
	viaFront, err := objects.NewMinIO(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	cs, ev := f.caseWithEvidence(t, true)
	ret := &storage.Retention{DB: f.db, Default: time.Hour, Objects: viaFront}
	if _, err := ret.SetLegalHold(ctx, cs, f.admin, true, "appeal 2026-3"); err != nil {
		t.Fatal(err)
	}
	front.Stop()
	if _, err := ret.SetLegalHold(ctx, cs, f.admin, false, "appeal decided"); !errors.Is(storage.Classify(err), domain.ErrUnavailable) {
		t.Fatalf("lift with the store down: got %v, want the store's unavailability", err)
	}
	front.Start()
	_, err = ret.SetLegalHold(ctx, cs, f.admin, false, "appeal decided")
	var se *domain.Error
	if !errors.As(err, &se) || se.Code != storage.CodeHoldNotSet {
		t.Fatalf("lift again with the store back: got %v, want %s", err, storage.CodeHoldNotSet)
	}
	if on, err := f.minio.LegalHold(ctx, ev.ObjectKey); err != nil || on {
		t.Errorf("original after the lift was tried again: legal hold %v (%v), want released", on, err)
	}
}
