package storage_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"siteinspect/domain"
	"siteinspect/internal/testenv"
	"siteinspect/storage"
	"siteinspect/storage/objects"

	"github.com/minio/minio-go/v7"
)

// retentionFixture is a database and a locked MinIO bucket whose originals
// are kept for keep, with an applicant and an administrator.
type retentionFixture struct {
	db         *storage.DB
	minio      *objects.MinIO
	ret        *storage.Retention
	ups        *storage.Uploads
	app, admin *domain.User
}

func newRetentionFixture(t *testing.T, keep time.Duration) *retentionFixture {
	t.Helper()
	ctx := context.Background()
	f := &retentionFixture{db: testenv.NewDB(t)}
	f.ret = &storage.Retention{DB: f.db, Default: keep}
	cfg := testenv.MinIOConfig(t)
	cfg.Retention = f.ret.Lock
	var err error
	if f.minio, err = objects.NewMinIO(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	f.ret.Objects = f.minio
	if f.ups, err = storage.NewUploads(f.db, f.minio, domain.UploadConfig{SpoolDir: t.TempDir(), PartSize: objects.MinPartSize}); err != nil {
		t.Fatal(err)
	}
	if f.app, err = f.db.CreateUser(ctx, "applicant", "correct horse battery", domain.RoleApplicant, "", "Acme"); err != nil {
		t.Fatal(err)
	}
	if f.admin, err = f.db.CreateUser(ctx, "admin", "correct horse battery", domain.RoleAdmin, "", ""); err != nil {
		t.Fatal(err)
	}
	return f
}

// caseWithEvidence opens a case with one uploaded original and a derived
// poster; withdraw withdraws it.
func (f *retentionFixture) caseWithEvidence(t *testing.T, withdraw bool) (*domain.Case, *domain.Evidence) {
	t.Helper()
	ctx := context.Background()
	cs, err := f.db.CreateCase(ctx, f.app, "binhai", "BH", time.UTC, domain.NewCase{PermitType: "hotel", SiteName: "s", SiteAddress: "a"})
	if err != nil {
		t.Fatal(err)
	}
	data := mp4Bytes(3000, uint64(len(cs.ID)))
	up, err := f.ups.CreateUpload(ctx, cs, f.app, int64(len(data)), map[string]string{"filename": "site.mp4"}, "")
	if err != nil {
		t.Fatal(err)
	}
	_, ev, err := f.ups.Append(ctx, up.ID, 0, bytes.NewReader(data), nil)
	if err != nil || ev == nil {
		t.Fatalf("upload: got %v, %v", ev, err)
	}
	poster := domain.DerivedKey(cs.ID, ev.ID, domain.DerivedPoster)
	if err := f.minio.Put(ctx, poster, strings.NewReader("jpeg"), 4, "image/jpeg"); err != nil {
		t.Fatal(err)
	}
	if withdraw {
		if cs, err = f.db.WithdrawCase(ctx, cs, f.app); err != nil {
			t.Fatal(err)
		}
	}
	return cs, ev
}

func (f *retentionFixture) versions(t *testing.T, caseID string) int {
	t.Helper()
	n := 0
	for o := range f.minio.Client().ListObjects(context.Background(), f.minio.Bucket(), minio.ListObjectsOptions{Prefix: objects.CasePrefix(caseID), Recursive: true, WithVersions: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		n++
	}
	return n
}

func (f *retentionFixture) events(t *testing.T, caseID, action string) []*domain.AuditEvent {
	t.Helper()
	list, err := f.db.CaseAudit(context.Background(), caseID, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var out []*domain.AuditEvent
	for _, e := range list {
		if e.Action == action {
			out = append(out, e)
		}
	}
	return out
}

// TestRetentionSweepPurgesOnlyWhatItMay: an uploaded original is locked for
// its retention; the sweeper leaves every case alone until the retention
// of a withdrawn case has passed, then purges that case whole (original,
// poster, every version; audited), never a held case nor one still open;
// the held one goes at the sweep after its hold is lifted.
func TestRetentionSweepPurgesOnlyWhatItMay(t *testing.T) {
	ctx := context.Background()
	// Long enough that a starved machine (the three cases' uploads and
	// the holds below take well under a second alone) still checks the
	// lock and sweeps once before the retention passes: at 2 s, a run
	// beside other heavy tests once failed here.
	const retention = 5 * time.Second
	f := newRetentionFixture(t, retention)
	gone, goneEv := f.caseWithEvidence(t, true)
	held, heldEv := f.caseWithEvidence(t, true)
	open, openEv := f.caseWithEvidence(t, false)

	// The original was written locked: COMPLIANCE, for the retention.
	until, err := f.minio.RetainUntil(ctx, goneEv.ObjectKey)
	if err != nil || until.Before(time.Now()) || until.After(time.Now().Add(retention+time.Second)) {
		t.Fatalf("original retained until %s (%v); want within the next %v", until, err, retention+time.Second)
	}
	if err := f.minio.Delete(ctx, goneEv.ObjectKey); !errors.Is(err, domain.ErrForbidden) {
		t.Errorf("delete of an uploaded original: got %v, want ErrForbidden", err)
	}

	if _, err := f.ret.SetLegalHold(ctx, held, f.admin, true, ""); !errors.Is(err, domain.ErrInvalid) {
		t.Errorf("hold without a reason: got %v, want ErrInvalid", err)
	}
	if _, err := f.ret.SetLegalHold(ctx, held, f.app, true, "mine"); !errors.Is(err, domain.ErrForbidden) {
		t.Errorf("hold by the applicant: got %v, want ErrForbidden", err)
	}
	if _, err := f.ret.SetLegalHold(ctx, held, f.admin, true, "administrative appeal 2026-17"); err != nil {
		t.Fatalf("set hold: %v", err)
	}
	if on, err := f.minio.LegalHold(ctx, heldEv.ObjectKey); err != nil || !on {
		t.Errorf("held case's original: hold %v, %v; want on", on, err)
	}
	if _, err := f.ret.SetLegalHold(ctx, held, f.admin, true, "again"); !errors.Is(err, domain.ErrConflict) {
		t.Errorf("hold of a held case: got %v, want ErrConflict", err)
	}

	if n, err := f.ret.Sweep(ctx); err != nil || n != 0 {
		t.Fatalf("sweep before the retention passed: got %d, %v; want 0 purged", n, err)
	}
	time.Sleep(time.Until(until) + 1200*time.Millisecond)
	if n, err := f.ret.Sweep(ctx); err != nil || n != 1 {
		t.Fatalf("sweep after the retention: got %d, %v; want 1 purged", n, err)
	}
	if v := f.versions(t, gone.ID); v != 0 {
		t.Errorf("purged case: %d object versions left, want 0", v)
	}
	if ev := f.events(t, gone.ID, storage.AuditPurged); len(ev) != 1 || !strings.Contains(string(ev[0].Data), `"removed":2`) {
		t.Errorf("purge events of the purged case: got %v, want one with 2 objects removed", ev)
	}
	if p, err := f.db.Purged(ctx, gone.ID); err != nil || p == nil || p.Removed != 2 {
		t.Errorf("Purged: got %+v, %v", p, err)
	}
	for _, c := range []*domain.Case{held, open} {
		if v := f.versions(t, c.ID); v != 2 {
			t.Errorf("%s case: %d object versions, want its original and poster", c.Status, v)
		}
	}
	if _, err := f.minio.Stat(ctx, openEv.ObjectKey); err != nil {
		t.Errorf("open case's original: %v", err)
	}
	if _, err := f.ret.SetLegalHold(ctx, gone, f.admin, true, "too late"); !errors.Is(err, domain.ErrGone) {
		t.Errorf("hold of a purged case: got %v, want ErrGone", err)
	}

	if _, err := f.ret.SetLegalHold(ctx, held, f.admin, false, "appeal decided"); err != nil {
		t.Fatalf("lift hold: %v", err)
	}
	if on, err := f.minio.LegalHold(ctx, heldEv.ObjectKey); err != nil || on {
		t.Errorf("original after the lift: hold %v, %v; want off", on, err)
	}
	set, lifted := f.events(t, held.ID, storage.AuditLegalHoldSet), f.events(t, held.ID, storage.AuditLegalHoldLifted)
	if len(set) != 1 || set[0].ActorID != f.admin.ID || !strings.Contains(string(set[0].Data), "administrative appeal 2026-17") {
		t.Errorf("hold set events: got %v, want one by the admin with the reason", set)
	}
	if len(lifted) != 1 || lifted[0].ActorID != f.admin.ID || !strings.Contains(string(lifted[0].Data), "appeal decided") {
		t.Errorf("hold lifted events: got %v, want one by the admin with the reason", lifted)
	}
	if n, err := f.ret.Sweep(ctx); err != nil || n != 1 {
		t.Fatalf("sweep after the lift: got %d, %v; want 1 purged", n, err)
	}
	if v := f.versions(t, held.ID); v != 0 {
		t.Errorf("formerly held case: %d versions left", v)
	}
	if v := f.versions(t, open.ID); v != 2 {
		t.Errorf("open case after two sweeps: %d versions, want 2", v)
	}
}

// TestLegalHoldReachesLaterOriginals: an original written while its case
// is held is held from its first byte. Its retention is an hour: with a
// second, a starved machine took longer than that from Lock to MinIO's
// check and MinIO refused the upload ("the retain until date must be in
// the future"); nothing here waits for the retention to pass.
func TestLegalHoldReachesLaterOriginals(t *testing.T) {
	ctx := context.Background()
	f := newRetentionFixture(t, time.Hour)
	cs, _ := f.caseWithEvidence(t, true) // a draft cannot be held; a withdrawn case can
	if _, err := f.ret.SetLegalHold(ctx, cs, f.admin, true, "marked as evidence"); err != nil {
		t.Fatal(err)
	}
	key := "cases/" + cs.ID + "/live/l1/snapshots/s.jpg"
	if err := f.minio.Put(ctx, key, strings.NewReader("jpeg"), 4, "image/jpeg"); err != nil {
		t.Fatal(err)
	}
	if on, err := f.minio.LegalHold(ctx, key); err != nil || !on {
		t.Errorf("snapshot written while held: hold %v, %v; want on", on, err)
	}
}
