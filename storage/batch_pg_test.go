package storage_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"siteinspect/domain"
	"siteinspect/internal/testenv"
	"siteinspect/storage"
)

// annotatable adds a case in review of f's applicant, taken by f's
// inspector, with one ready 10-minute video, and returns the case and the
// video. A case made by newInReview gets its video here too.
func annotatable(t testing.TB, db *storage.DB, f *inReview, cs *domain.Case) (*domain.Case, *domain.Evidence) {
	t.Helper()
	ctx := context.Background()
	if cs == nil {
		var err error
		if cs, err = db.CreateCase(ctx, f.applicant, "binhai", "BH", time.UTC, domain.NewCase{PermitType: "hotel", SiteName: "s", SiteAddress: "a"}); err != nil {
			t.Fatal(err)
		}
		id := domain.NewID()
		if _, err := db.SQL().ExecContext(ctx, `INSERT INTO evidence (id, case_id, kind, filename, content_type, size, sha256, status, object_key, uploaded_by, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, id, cs.ID, string(domain.KindVideo), "site.mp4", "video/mp4", 1000, fmt.Sprintf("%064x", 0),
			domain.EvidenceReady, "k/"+id, f.applicant.ID, time.Now().UnixMilli()); err != nil {
			t.Fatal(err)
		}
		if cs, err = db.Case(ctx, cs.ID); err != nil {
			t.Fatal(err)
		}
		if cs, err = db.SubmitCase(ctx, cs, f.applicant, time.UTC); err != nil {
			t.Fatal(err)
		}
		if cs, err = db.AssignCase(ctx, cs, f.inspector, f.inspector.ID, ""); err != nil {
			t.Fatal(err)
		}
	}
	ev := (&inReview{cs: cs}).addEvidence(t, db, 1, f.inspector)[0]
	dur := int64(600_000)
	if err := db.SetEvidenceResult(ctx, ev.ID, domain.EvidenceReady, "", &domain.Media{DurationMS: &dur}, nil); err != nil {
		t.Fatal(err)
	}
	ev, err := db.Evidence(ctx, ev.ID)
	if err != nil {
		t.Fatal(err)
	}
	return cs, ev
}

// twoAnnotatable is annotatable for f's own case (A) and for a new one
// (B) of f's applicant, taken by f's inspector.
func twoAnnotatable(t testing.TB, db *storage.DB, f *inReview) (csA *domain.Case, evA *domain.Evidence, csB *domain.Case, evB *domain.Evidence) {
	t.Helper()
	csA, evA = annotatable(t, db, f, f.cs)
	csB, evB = annotatable(t, db, f, nil)
	return csA, evA, csB, evB
}

// waitQueued waits until n grouped writes of db are queued behind
// HoldBatches.
func waitQueued(t *testing.T, db *storage.DB, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for storage.QueuedWrites(db) < n {
		if time.Now().After(deadline) {
			t.Fatalf("queued writes: got %d, want %d", storage.QueuedWrites(db), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// oneBatch runs n annotation creates by who on case A and one on case B
// as one batch: it holds db's batches until all n+1 are queued, then runs
// meanwhile (the change that commits between the creates' checks and
// their transaction) and lets the batch go. It returns the creates'
// errors, case B's last.
func oneBatch(t *testing.T, db *storage.DB, who *domain.User, csA *domain.Case, evA *domain.Evidence, csB *domain.Case, evB *domain.Evidence, n int, meanwhile func()) []error {
	t.Helper()
	ctx := context.Background()
	release := storage.HoldBatches(db)
	errs := make([]error, n+1)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { _, errs[i] = db.CreateAnnotation(ctx, csA, evA, who, annotationInput(i)) })
	}
	wg.Go(func() { _, errs[n] = db.CreateAnnotation(ctx, csB, evB, who, annotationInput(n)) })
	waitQueued(t, db, n+1)
	func() {
		defer release()
		meanwhile()
	}()
	wg.Wait()
	return errs
}

func annotationInput(i int) domain.AnnotationInput {
	start := int64(i) * 1000
	return domain.AnnotationInput{Body: strconv.Itoa(i), StartMS: &start, Severity: "info"}
}

// One batch of annotation writes in which one write breaks a rule (its
// case was decided after the request was checked, before its transaction):
// that write alone fails, with the state's refusal; the others land, and
// the audit chain holds exactly their events. On PostgreSQL the batch
// falls back to a transaction per write; on SQLite a savepoint undoes the
// bad write.
func TestBatchRuleBreakFailsOnlyThatWrite(t *testing.T) {
	forDialects(t, func(t *testing.T, dsn string, db *storage.DB) {
		ctx := context.Background()
		f := newInReview(t, db)
		csA, evA, csB, evB := twoAnnotatable(t, db, f)
		before, _, err := db.AuditHead(ctx)
		if err != nil {
			t.Fatal(err)
		}
		const n = 5
		errs := oneBatch(t, db, f.inspector, csA, evA, csB, evB, n, func() {
			// Case B is decided meanwhile (as the countersign on another
			// replica would): the request was checked against the old state.
			if _, err := db.SQL().ExecContext(ctx, `UPDATE cases SET status = ? WHERE id = ?`, string(domain.StatusApproved), csB.ID); err != nil {
				t.Fatal(err)
			}
		})
		for i := range n {
			if errs[i] != nil {
				t.Errorf("annotation %d on the case in review: got %v, want no error", i, errs[i])
			}
		}
		var de *domain.Error
		if !errors.As(errs[n], &de) || de.Code != domain.CodeWrongState || !errors.Is(errs[n], domain.ErrInvalidState) {
			t.Errorf("annotation on the decided case: got %v, want code %s", errs[n], domain.CodeWrongState)
		}
		for _, c := range []struct {
			cs   *domain.Case
			ev   *domain.Evidence
			want int
		}{{csA, evA, n}, {csB, evB, 0}} {
			list, err := db.ListAnnotations(ctx, domain.AnnotationFilter{CaseID: c.cs.ID, EvidenceID: c.ev.ID})
			if err != nil {
				t.Fatal(err)
			}
			if len(list) != c.want {
				t.Errorf("case %s: got %d annotations, want %d", c.cs.Number, len(list), c.want)
			}
		}
		verifyChain(t, db, before+n)
		batches, writes, fallbacks := storage.BatchStats(db)
		want := [3]int64{0, 0, 0} // SQLite: savepoints, no fallback
		if db.Dialect() == "postgres" {
			want = [3]int64{0, 0, 1}
		}
		if got := [3]int64{batches, writes, fallbacks}; got != want {
			t.Errorf("batches, writes, fallbacks: got %v, want %v", got, want)
		}
	})
}

// Two processes (two pools on one database) each run a batch of
// annotation writes over the same cases, queued in opposite orders, at
// once, beside single writes to the chain: every write lands, the chain
// verifies with every event, and on PostgreSQL each process's writes
// went in one batch that did not fall back (each batch takes its row
// locks in case order, so the two cannot deadlock on each other).
func TestBatchesFromTwoProcesses(t *testing.T) {
	forDialects(t, func(t *testing.T, dsn string, a *storage.DB) {
		ctx := context.Background()
		f := newInReview(t, a)
		const cases, perCase = 4, 3
		css := make([]*domain.Case, cases)
		evs := make([]*domain.Evidence, cases)
		css[0], evs[0] = annotatable(t, a, f, f.cs)
		for i := 1; i < cases; i++ {
			css[i], evs[i] = annotatable(t, a, f, nil)
		}
		b := testenv.OpenDBAt(t, dsn)
		before, _, err := a.AuditHead(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		var failed []error
		note := func(err error) {
			if err != nil {
				mu.Lock()
				failed = append(failed, err)
				mu.Unlock()
			}
		}
		dbs := []*storage.DB{a, b}
		releases := []func(){storage.HoldBatches(a), storage.HoldBatches(b)}
		for p, db := range dbs {
			for k := range cases * perCase {
				c := k % cases
				if p == 1 {
					c = cases - 1 - c
				}
				wg.Go(func() {
					_, err := db.CreateAnnotation(ctx, css[c], evs[c], f.inspector, annotationInput(p*100+k))
					note(err)
				})
				waitQueued(t, db, k+1) // in this order
			}
		}
		for _, r := range releases {
			r()
		}
		const alone = 10
		for p, db := range dbs {
			for k := range alone {
				wg.Go(func() {
					_, err := db.RecordAudit(ctx, storage.Audit{ActorID: f.inspector.ID, Action: "test.alone", Target: fmt.Sprintf("%d-%d", p, k)})
					note(err)
				})
			}
		}
		wg.Wait()
		if len(failed) > 0 {
			t.Fatalf("%d writes failed, the first: %v", len(failed), failed[0])
		}
		for i := range cases {
			list, err := b.ListAnnotations(ctx, domain.AnnotationFilter{CaseID: css[i].ID, EvidenceID: evs[i].ID})
			if err != nil {
				t.Fatal(err)
			}
			if len(list) != 2*perCase {
				t.Errorf("case %d: got %d annotations, want %d", i, len(list), 2*perCase)
			}
		}
		verifyChain(t, b, before+2*cases*perCase+2*alone)
		for p, db := range dbs {
			batches, writes, fallbacks := storage.BatchStats(db)
			want := [3]int64{0, 0, 0}
			if db.Dialect() == "postgres" {
				want = [3]int64{1, cases * perCase, 0}
			}
			if got := [3]int64{batches, writes, fallbacks}; got != want {
				t.Errorf("process %d: batches, writes, fallbacks: got %v, want %v", p, got, want)
			}
		}
	})
}

// One batch of annotation creates of every shape (a moment, a range with
// frames, a shape tied to a checklist item, several cases): each is stored
// exactly as its create answered, and on PostgreSQL the batch committed
// whole, without falling back (its creates went in together, flushNotes).
func TestBatchedCreatesStoredWhole(t *testing.T) {
	forDialects(t, func(t *testing.T, dsn string, db *storage.DB) {
		ctx := context.Background()
		f := newInReview(t, db)
		csA, evA, csB, evB := twoAnnotatable(t, db, f)
		ms := func(v int64) *int64 { return &v }
		inputs := []domain.AnnotationInput{
			{Body: "出口堵塞 a moment", StartMS: ms(1500), Severity: "violation"},
			{Body: "a range", StartMS: ms(2000), EndMS: ms(9000), StartFrame: ms(60), EndFrame: ms(270), Severity: "concern"},
			{Body: "with a shape", StartMS: ms(3000), ChecklistItem: "fire-exits", Severity: "info",
				Shape: &domain.Shape{Type: "rect", Points: [][2]float64{{0.1, 0.2}, {0.5, 0.75}}}},
			{Body: "it's \"quoted\" ? and ;", StartMS: ms(0), Severity: "info"},
		}
		release := storage.HoldBatches(db)
		got := make([]*domain.Annotation, 2*len(inputs))
		errs := make([]error, len(got))
		var wg sync.WaitGroup
		for i := range got {
			cs, ev := csA, evA
			if i%2 == 1 {
				cs, ev = csB, evB
			}
			wg.Go(func() { got[i], errs[i] = db.CreateAnnotation(ctx, cs, ev, f.inspector, inputs[i/2]) })
		}
		waitQueued(t, db, len(got))
		release()
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("create %d: %v", i, err)
			}
		}
		stored := map[string]*domain.Annotation{}
		for _, c := range []struct {
			cs *domain.Case
			ev *domain.Evidence
		}{{csA, evA}, {csB, evB}} {
			list, err := db.ListAnnotations(ctx, domain.AnnotationFilter{CaseID: c.cs.ID, EvidenceID: c.ev.ID})
			if err != nil {
				t.Fatal(err)
			}
			if len(list) != len(inputs) {
				t.Errorf("case %s: got %d annotations, want %d", c.cs.Number, len(list), len(inputs))
			}
			for _, a := range list {
				stored[a.ID] = a
			}
		}
		for i, a := range got {
			s := stored[a.ID]
			if s == nil {
				t.Errorf("create %d (%s): not stored", i, a.ID)
				continue
			}
			want, _ := json.Marshal(a)
			have, _ := json.Marshal(s)
			if string(want) != string(have) {
				t.Errorf("create %d stored as\n%s\nwant\n%s", i, have, want)
			}
		}
		batches, writes, fallbacks := storage.BatchStats(db)
		want := [3]int64{0, 0, 0} // SQLite: savepoints in one transaction
		if db.Dialect() == "postgres" {
			want = [3]int64{1, int64(len(got)), 0}
		}
		if got := [3]int64{batches, writes, fallbacks}; got != want {
			t.Errorf("batches, writes, fallbacks: got %v, want %v", got, want)
		}
	})
}
