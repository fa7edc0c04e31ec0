package storage_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"siteinspect/domain"
	"siteinspect/storage"
)

// EnqueueJob queues one more job for an existing evidence item, which a
// worker then claims like the one the upload queued; an evidence ID that
// does not exist is refused.
func TestEnqueueJob(t *testing.T) {
	forDialects(t, func(t *testing.T, dsn string, db *storage.DB) {
		ctx := context.Background()
		f := newInReview(t, db)
		ev := f.addEvidence(t, db, 1, f.inspector)[0]
		first, err := db.ClaimJob(ctx, "w", time.Minute, domain.LaneMedia)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.FinishJob(ctx, first, "w", nil, false, 0); err != nil {
			t.Fatal(err)
		}
		if err := db.EnqueueJob(ctx, domain.JobProcessEvidence, ev.ID); err != nil {
			t.Fatalf("enqueue: %v", err)
		}
		j, err := db.ClaimJob(ctx, "w", time.Minute, domain.LaneMedia)
		if err != nil {
			t.Fatalf("claim the enqueued job: %v", err)
		}
		if j.ID == first.ID || j.Kind != domain.JobProcessEvidence || j.EvidenceID != ev.ID || j.Attempts != 1 {
			t.Fatalf("claimed %+v; want a new %s job of evidence %s at attempt 1 (the first was %s)", j, domain.JobProcessEvidence, ev.ID, first.ID)
		}
		if err := db.EnqueueJob(ctx, domain.JobProcessEvidence, "no-such-evidence"); err == nil {
			t.Fatal("enqueue for evidence that does not exist: got nil error, want the foreign key's refusal")
		}
		if _, err := db.ClaimJob(ctx, "w", time.Minute, domain.LaneMedia); !errors.Is(err, domain.ErrNotFound) {
			t.Fatalf("claim after the refused enqueue: got %v, want ErrNotFound", err)
		}
	})
}

// Media work and the rest (here an evidence item's time-stamp) are claimed
// by lanes of their own: neither lane takes the other's job.
func TestClaimJobByLane(t *testing.T) {
	forDialects(t, func(t *testing.T, dsn string, db *storage.DB) {
		ctx := context.Background()
		f := newInReview(t, db)
		db.EnableTimestamps()
		ev := f.addEvidence(t, db, 1, f.inspector)[0]
		req, err := db.ClaimJob(ctx, "w", time.Minute, domain.LaneRequests)
		if err != nil || req.Kind != domain.JobTimestamp {
			t.Fatalf("requests lane: got %+v, %v; want the time-stamp job", req, err)
		}
		if j, err := db.ClaimJob(ctx, "w", time.Minute, domain.LaneRequests); !errors.Is(err, domain.ErrNotFound) {
			t.Fatalf("requests lane again: got %+v, %v; want ErrNotFound (the media job is not its)", j, err)
		}
		med, err := db.ClaimJob(ctx, "w", time.Minute, domain.LaneMedia)
		if err != nil || med.Kind != domain.JobProcessEvidence || med.EvidenceID != ev.ID {
			t.Fatalf("media lane: got %+v, %v; want evidence %s's processing", med, err, ev.ID)
		}
		if j, err := db.ClaimJob(ctx, "w", time.Minute, domain.LaneMedia); !errors.Is(err, domain.ErrNotFound) {
			t.Fatalf("media lane again: got %+v, %v; want ErrNotFound", j, err)
		}
	})
}
