package storage_test

import (
	"context"
	"errors"
	"fmt"
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

// Each lane claims its own jobs: media work takes every item's processing,
// the quick media lane only photos' and small PDFs', the requests lane the
// time-stamps; none takes another's.
func TestClaimJobByLane(t *testing.T) {
	forDialects(t, func(t *testing.T, dsn string, db *storage.DB) {
		ctx := context.Background()
		f := newInReview(t, db)
		db.EnableTimestamps()
		add := func(kind domain.Kind, size int64) *domain.Evidence {
			t.Helper()
			ev, err := db.AddObjectEvidence(ctx, domain.NewObjectEvidence{CaseID: f.cs.ID, Filename: "f-" + domain.NewID(),
				ContentType: "application/octet-stream", ObjectKey: "k/" + domain.NewID(), SHA256: fmt.Sprintf("%064x", size),
				Kind: kind, Size: size, By: f.inspector.ID})
			if err != nil {
				t.Fatalf("add %s evidence: %v", kind, err)
			}
			return ev
		}
		video, photo := add(domain.KindVideo, 1000), add(domain.KindImage, 1000)
		bigPDF, smallPDF := add(domain.KindPDF, domain.QuickPDFBytes+1), add(domain.KindPDF, domain.QuickPDFBytes)
		claims := func(lane domain.JobLane, want ...*domain.Evidence) {
			t.Helper()
			for _, ev := range want {
				j, err := db.ClaimJob(ctx, "w", time.Minute, lane)
				if err != nil {
					t.Fatalf("%s lane: %v; want a job of %s", lane, err, ev.Kind)
				}
				if lane == domain.LaneRequests {
					if j.Kind != domain.JobTimestamp {
						t.Fatalf("%s lane: got %+v, want a time-stamp", lane, j)
					}
					continue
				}
				if j.Kind != domain.JobProcessEvidence || j.EvidenceID != ev.ID {
					t.Fatalf("%s lane: got %+v, want the processing of %s evidence %s (%d bytes)", lane, j, ev.Kind, ev.ID, ev.Size)
				}
			}
			if j, err := db.ClaimJob(ctx, "w", time.Minute, lane); !errors.Is(err, domain.ErrNotFound) {
				t.Fatalf("%s lane, once its jobs are claimed: got %+v, %v; want ErrNotFound", lane, j, err)
			}
		}
		claims(domain.LaneRequests, video, photo, bigPDF, smallPDF)
		claims(domain.LaneQuickMedia, photo, smallPDF)
		claims(domain.LaneMedia, video, bigPDF)
	})
}
