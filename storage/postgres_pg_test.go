package storage_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"siteinspect/domain"
	"siteinspect/internal/testenv"
	"siteinspect/storage"
	"siteinspect/storage/postgres"
)

// The tests in this file run on both databases, each on a fresh one that
// two *storage.DB handles share (two replicas of the server). PostgreSQL
// comes from scripts/with-postgres.sh; without it, the postgres half fails
// and says so.

// forDialects runs fn once per database, giving it the database's DSN (a
// SQLite file or a PostgreSQL URL) and a first handle on it, seeded.
func forDialects(t *testing.T, fn func(t *testing.T, dsn string, db *storage.DB)) {
	for _, name := range dialects {
		t.Run(name, func(t *testing.T) {
			dsn := freshDSN(t, name)
			db := testenv.OpenDBAt(t, dsn)
			if got := db.Dialect(); got != name {
				t.Fatalf("Dialect() = %q, want %q", got, name)
			}
			if err := db.SeedPermitTypes(context.Background()); err != nil {
				t.Fatal(err)
			}
			fn(t, dsn, db)
		})
	}
}

var dialects = []string{"sqlite", "postgres"}

// freshDSN names an empty database of the dialect, gone after the test.
func freshDSN(t testing.TB, dialect string) string {
	if dialect == "postgres" {
		return testenv.PostgresURL(t)
	}
	return filepath.Join(t.TempDir(), "test.db")
}

// inReview is a submitted case taken by an inspector, with its people.
type inReview struct {
	applicant, inspector *domain.User
	cs                   *domain.Case
	events               int64 // audit events so far
}

func newInReview(t testing.TB, db *storage.DB) *inReview {
	t.Helper()
	ctx := context.Background()
	var f inReview
	var err error
	if f.applicant, err = db.CreateUser(ctx, "applicant", "correct horse battery", domain.RoleApplicant, "", "Acme"); err != nil {
		t.Fatal(err)
	}
	if f.inspector, err = db.CreateUser(ctx, "inspector", "correct horse battery", domain.RoleInspector, "", "binhai"); err != nil {
		t.Fatal(err)
	}
	if f.cs, err = db.CreateCase(ctx, f.applicant, "binhai", "BH", time.UTC, domain.NewCase{PermitType: "hotel", SiteName: "s", SiteAddress: "a"}); err != nil {
		t.Fatal(err)
	}
	// The company's upload, written under the API (the tus path has tests
	// of its own): a draft takes evidence only from an upload.
	first := domain.NewID()
	if _, err := db.SQL().ExecContext(ctx, `INSERT INTO evidence (id, case_id, kind, filename, content_type, size, sha256, status, object_key, uploaded_by, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, first, f.cs.ID, string(domain.KindVideo), "site.mp4", "video/mp4", 1000, fmt.Sprintf("%064x", 0),
		domain.EvidenceReady, "k/"+first, f.applicant.ID, time.Now().UnixMilli()); err != nil {
		t.Fatal(err)
	}
	if f.cs, err = db.Case(ctx, f.cs.ID); err != nil {
		t.Fatal(err)
	}
	if f.cs, err = db.SubmitCase(ctx, f.cs, f.applicant, time.UTC); err != nil {
		t.Fatal(err)
	}
	if f.cs, err = db.AssignCase(ctx, f.cs, f.inspector, f.inspector.ID, ""); err != nil {
		t.Fatal(err)
	}
	if f.cs.Status != domain.StatusInReview {
		t.Fatalf("status after the inspector took it: got %s, want %s", f.cs.Status, domain.StatusInReview)
	}
	if f.events, _, err = db.AuditHead(ctx); err != nil {
		t.Fatal(err)
	}
	return &f
}

// addEvidence records n stored objects as evidence of f's case, added by
// the user.
func (f *inReview) addEvidence(t testing.TB, db *storage.DB, n int, by *domain.User) []*domain.Evidence {
	t.Helper()
	var out []*domain.Evidence
	for i := range n {
		ev, err := db.AddObjectEvidence(context.Background(), domain.NewObjectEvidence{CaseID: f.cs.ID, Filename: fmt.Sprintf("clip-%s.mp4", domain.NewID()),
			ContentType: "video/mp4", ObjectKey: "k/" + domain.NewID(), SHA256: fmt.Sprintf("%064x", i), Kind: domain.KindVideo, Size: 1000, By: by.ID})
		if err != nil {
			t.Fatalf("add evidence %d: %v", i, err)
		}
		out = append(out, ev)
	}
	return out
}

func verifyChain(t *testing.T, db *storage.DB, want int64) {
	t.Helper()
	n, err := db.VerifyAudit(context.Background())
	if err != nil {
		t.Fatalf("verify audit chain: %v", err)
	}
	if n != want {
		t.Fatalf("audit chain: got %d events, want %d", n, want)
	}
	seq, _, err := db.AuditHead(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if seq != want {
		t.Fatalf("audit head: got seq %d, want %d", seq, want)
	}
}

// Two replicas append to the audit chain at once: every event lands, the
// sequence has no gap and no duplicate, and every hash links.
func TestDialectAuditChainConcurrent(t *testing.T) {
	forDialects(t, func(t *testing.T, dsn string, a *storage.DB) {
		b := testenv.OpenDBAt(t, dsn)
		ctx := context.Background()
		const n = 50
		var wg sync.WaitGroup
		errs := make(chan error, n)
		start := make(chan struct{})
		for i := range n {
			db := a
			if i%2 == 1 {
				db = b
			}
			wg.Go(func() {
				<-start
				if _, err := db.RecordAudit(ctx, storage.Audit{Action: "test", Target: strconv.Itoa(i), Data: map[string]any{"i": i}}); err != nil {
					errs <- fmt.Errorf("event %d: %w", i, err)
				}
			})
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		verifyChain(t, a, n)
		verifyChain(t, b, n)
		rows, err := a.SQL().QueryContext(ctx, `SELECT seq, target FROM audit_events ORDER BY seq`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		seen := map[string]bool{}
		var want int64 = 1
		for rows.Next() {
			var seq int64
			var target string
			if err := rows.Scan(&seq, &target); err != nil {
				t.Fatal(err)
			}
			if seq != want {
				t.Fatalf("seq: got %d, want %d", seq, want)
			}
			if seen[target] {
				t.Fatalf("event %s recorded twice", target)
			}
			seen[target] = true
			want++
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		if len(seen) != n {
			t.Fatalf("got %d distinct events, want %d", len(seen), n)
		}
	})
}

// Cases opened at once through two replicas get distinct, gap-free numbers.
func TestDialectCaseNumbersConcurrent(t *testing.T) {
	forDialects(t, func(t *testing.T, dsn string, a *storage.DB) {
		b := testenv.OpenDBAt(t, dsn)
		ctx := context.Background()
		app, err := a.CreateUser(ctx, "applicant", "correct horse battery", domain.RoleApplicant, "", "Acme")
		if err != nil {
			t.Fatal(err)
		}
		const n = 20
		numbers := make([]string, n)
		var wg sync.WaitGroup
		for i := range n {
			db := a
			if i%2 == 1 {
				db = b
			}
			wg.Go(func() {
				c, err := db.CreateCase(ctx, app, "binhai", "BH", time.UTC, domain.NewCase{PermitType: "hotel", SiteName: "s", SiteAddress: "a", SiteLat: new(31.2), SiteLon: new(121.5)})
				if err != nil {
					t.Errorf("case %d: %v", i, err)
					return
				}
				numbers[i] = c.Number
				if c.SiteLat == nil || *c.SiteLat != 31.2 {
					t.Errorf("case %d: site_lat read back as %v, want 31.2", i, c.SiteLat)
				}
			})
		}
		wg.Wait()
		slices.Sort(numbers)
		year := time.Now().UTC().Year()
		for i, got := range numbers {
			if want := fmt.Sprintf("BH-%d-%06d", year, i+1); got != want {
				t.Fatalf("number %d: got %q, want %q (all: %v)", i, got, want, numbers)
			}
		}
		verifyChain(t, a, n)
		list, err := b.ListCases(ctx, app, "", 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != n {
			t.Fatalf("ListCases: got %d cases, want %d", len(list), n)
		}
	})
}

// A username is taken once, whichever replica is asked, and the refusal is
// ErrConflict on both databases (by the error's code, not its wording).
func TestDialectUniqueUsername(t *testing.T) {
	forDialects(t, func(t *testing.T, dsn string, a *storage.DB) {
		b := testenv.OpenDBAt(t, dsn)
		ctx := context.Background()
		if _, err := a.CreateUser(ctx, "alice", "correct horse battery", domain.RoleApplicant, "", "Acme"); err != nil {
			t.Fatal(err)
		}
		_, err := b.CreateUser(ctx, "alice", "another password", domain.RoleInspector, "", "binhai")
		if !errors.Is(err, domain.ErrConflict) {
			t.Fatalf("second alice: got %v, want ErrConflict", err)
		}
		const n = 8
		var wg sync.WaitGroup
		var mu sync.Mutex
		created, conflicts := 0, 0
		for i := range n {
			db := a
			if i%2 == 1 {
				db = b
			}
			wg.Go(func() {
				_, err := db.CreateUser(ctx, "bob", "correct horse battery", domain.RoleApplicant, "", "Acme")
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					created++
				case errors.Is(err, domain.ErrConflict):
					conflicts++
				default:
					t.Errorf("bob %d: %v", i, err)
				}
			})
		}
		wg.Wait()
		if created != 1 || conflicts != n-1 {
			t.Fatalf("concurrent bobs: got %d created and %d conflicts, want 1 and %d", created, conflicts, n-1)
		}
		if u, err := b.Authenticate(ctx, "alice", "correct horse battery"); err != nil || u.Role != domain.RoleApplicant {
			t.Fatalf("alice logs in: got %+v, %v", u, err)
		}
	})
}

// Workers of two replicas drain the job queue together: each job is
// claimed once, and all end done.
func TestDialectJobsClaimedOnce(t *testing.T) {
	forDialects(t, func(t *testing.T, dsn string, a *storage.DB) {
		b := testenv.OpenDBAt(t, dsn)
		ctx := context.Background()
		f := newInReview(t, a)
		const n = 12
		evs := f.addEvidence(t, a, n, f.inspector)
		var wg sync.WaitGroup
		var mu sync.Mutex
		claimed := map[string]int{}
		for w := range 4 {
			db := a
			if w%2 == 1 {
				db = b
			}
			owner := fmt.Sprintf("worker-%d", w)
			wg.Go(func() {
				for {
					j, err := db.ClaimJob(ctx, owner, time.Minute, domain.LaneMedia)
					if errors.Is(err, domain.ErrNotFound) {
						return
					}
					if err != nil {
						t.Errorf("%s claim: %v", owner, err)
						return
					}
					mu.Lock()
					claimed[j.EvidenceID]++
					mu.Unlock()
					if j.Attempts != 1 {
						t.Errorf("%s: job %s has attempts %d, want 1", owner, j.ID, j.Attempts)
					}
					if err := db.ExtendJob(ctx, j.ID, owner, time.Minute); err != nil {
						t.Errorf("%s extend: %v", owner, err)
					}
					if state, err := db.FinishJob(ctx, j, owner, nil, false, 0); err != nil || state != domain.JobDone {
						t.Errorf("%s finish: got %q, %v", owner, state, err)
					}
				}
			})
		}
		wg.Wait()
		if len(claimed) != n {
			t.Fatalf("claimed %d distinct jobs, want %d", len(claimed), n)
		}
		for _, ev := range evs {
			if claimed[ev.ID] != 1 {
				t.Errorf("job of evidence %s claimed %d times, want once", ev.ID, claimed[ev.ID])
			}
		}
		counts, err := b.JobCounts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if counts[domain.JobDone] != n || len(counts) != 1 {
			t.Fatalf("job counts: got %v, want %d done", counts, n)
		}
		// A failed job that may retry is queued again; one that may not fails.
		if _, err := a.ClaimJob(ctx, "late", time.Minute, domain.LaneMedia); !errors.Is(err, domain.ErrNotFound) {
			t.Fatalf("claim on an empty queue: got %v, want ErrNotFound", err)
		}
		if a.Dialect() == "postgres" {
			// Writers run at once; only the audit chain is serialised, by a
			// lock taken just before commit. While another replica holds it,
			// a claim (no audit event) goes ahead, and a write with an event
			// waits for it.
			more := f.addEvidence(t, a, 1, f.inspector)[0]
			tx, err := a.SQL().BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(`+strconv.FormatInt(postgres.ChainLockKey, 10)+`)`); err != nil {
				t.Fatal(err)
			}
			recorded := make(chan error, 1)
			go func() {
				_, err := b.RecordAudit(ctx, storage.Audit{Action: "test.waits_for_chain"})
				recorded <- err
			}()
			quick, cancel := context.WithTimeout(ctx, 5*time.Second)
			j, err := b.ClaimJob(quick, "beside", time.Minute, domain.LaneMedia)
			cancel()
			if err != nil || j.EvidenceID != more.ID {
				tx.Rollback()
				t.Fatalf("claim beside a held chain lock: got %+v, %v; want the job of %s", j, err, more.ID)
			}
			select {
			case err := <-recorded:
				tx.Rollback()
				t.Fatalf("an audit event was appended while another transaction held the chain lock (err %v)", err)
			case <-time.After(300 * time.Millisecond):
			}
			tx.Rollback()
			select {
			case err := <-recorded:
				if err != nil {
					t.Fatalf("audit event after the chain lock was released: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the audit event did not go in after the chain lock was released")
			}
			if _, err := b.FinishJob(ctx, j, "beside", nil, false, 0); err != nil {
				t.Fatal(err)
			}
			f.events += 2
		}
		verifyChain(t, b, f.events+n) // the fixture's, then one per evidence added
	})
}

// EvidenceWithCase reads, in one statement, exactly what Evidence and
// CaseCore read one after the other, and ErrNotFound for no such item.
func TestDialectEvidenceWithCase(t *testing.T) {
	forDialects(t, func(t *testing.T, dsn string, a *storage.DB) {
		ctx := context.Background()
		f := newInReview(t, a)
		ev := f.addEvidence(t, a, 1, f.inspector)[0]
		dur := int64(60_000)
		if err := a.SetEvidenceResult(ctx, ev.ID, domain.EvidenceReady, "", &domain.Media{DurationMS: &dur}, &domain.Derived{}); err != nil {
			t.Fatal(err)
		}
		wantEv, err := a.Evidence(ctx, ev.ID)
		if err != nil {
			t.Fatal(err)
		}
		wantCase, err := a.CaseCore(ctx, wantEv.CaseID)
		if err != nil {
			t.Fatal(err)
		}
		if wantCase.Inspector == nil || wantEv.Media == nil || wantEv.Derived == nil {
			t.Fatalf("fixture: inspector %v, media %v, derived %v; want all three set", wantCase.Inspector, wantEv.Media, wantEv.Derived)
		}
		gotEv, gotCase, err := a.EvidenceWithCase(ctx, ev.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(gotEv, wantEv) {
			t.Errorf("evidence: got %+v, want %+v", gotEv, wantEv)
		}
		if !reflect.DeepEqual(gotCase, wantCase) {
			t.Errorf("case: got %+v, want %+v", gotCase, wantCase)
		}
		if _, _, err := a.EvidenceWithCase(ctx, domain.NewID()); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("no such evidence: got %v, want ErrNotFound", err)
		}
	})
}

// Annotations, replies (counted by a trigger), edits, resolving (a bool
// stored as an integer) and deletes read back the same on both databases.
func TestDialectAnnotations(t *testing.T) {
	forDialects(t, func(t *testing.T, dsn string, a *storage.DB) {
		b := testenv.OpenDBAt(t, dsn)
		ctx := context.Background()
		f := newInReview(t, a)
		ev := f.addEvidence(t, a, 1, f.inspector)[0]
		dur := int64(60_000)
		if err := a.SetEvidenceResult(ctx, ev.ID, domain.EvidenceReady, "", &domain.Media{DurationMS: &dur}, nil); err != nil {
			t.Fatal(err)
		}
		ev, err := a.Evidence(ctx, ev.ID)
		if err != nil {
			t.Fatal(err)
		}
		var made []*domain.Annotation
		for i, start := range []int64{30_000, 10_000, 20_000} {
			end := start + 500
			an, err := a.CreateAnnotation(ctx, f.cs, ev, f.inspector, domain.AnnotationInput{Body: "note " + strconv.Itoa(i), StartMS: &start, EndMS: &end, Severity: "concern"})
			if err != nil {
				t.Fatalf("annotation %d: %v", i, err)
			}
			made = append(made, an)
		}
		first := made[0]
		for _, body := range []string{"why?", "because"} {
			if _, err := b.AddReply(ctx, first, f.inspector, body); err != nil {
				t.Fatal(err)
			}
		}
		got, err := b.Annotation(ctx, first.ID)
		if err != nil {
			t.Fatal(err)
		}
		replyCount := func() int {
			t.Helper()
			var n int
			if err := a.SQL().QueryRowContext(ctx, `SELECT reply_count FROM annotations WHERE id = ?`, first.ID).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		if n := replyCount(); n != 2 || len(got.Replies) != 2 {
			t.Fatalf("after two replies: reply_count %d, %d replies, want 2 and 2", n, len(got.Replies))
		}
		// The triggers count whoever writes: a reply removed under the API
		// is uncounted too.
		if _, err := a.SQL().ExecContext(ctx, `DELETE FROM annotation_replies WHERE id = ?`, got.Replies[1].ID); err != nil {
			t.Fatal(err)
		}
		if n := replyCount(); n != 1 {
			t.Fatalf("after deleting a reply: reply_count %d, want 1", n)
		}
		if got, err = b.Annotation(ctx, first.ID); err != nil {
			t.Fatal(err)
		}
		start := int64(40_000)
		upd, err := b.UpdateAnnotation(ctx, got, ev, f.cs, f.inspector, got.Version, domain.AnnotationInput{Body: "edited", StartMS: &start, Severity: "info"})
		if err != nil {
			t.Fatal(err)
		}
		if upd.Version != 2 || upd.Body != "edited" {
			t.Fatalf("after the edit: version %d body %q, want 2 and \"edited\"", upd.Version, upd.Body)
		}
		if _, err := b.UpdateAnnotation(ctx, upd, ev, f.cs, f.inspector, 1, domain.AnnotationInput{Body: "stale", StartMS: &start, Severity: "info"}); !errors.Is(err, domain.ErrPrecondition) && !errors.Is(err, domain.ErrConflict) {
			t.Fatalf("edit of version 1 after version 2: got %v, want a precondition or conflict error", err)
		}
		res, err := a.ResolveAnnotation(ctx, upd, f.inspector, true)
		if err != nil {
			t.Fatal(err)
		}
		if res.ResolvedAt == nil {
			t.Fatalf("resolved annotation has no resolved_at")
		}
		if err := a.DeleteAnnotation(ctx, made[1], f.inspector, 0); err != nil {
			t.Fatal(err)
		}
		list, err := b.ListAnnotations(ctx, domain.AnnotationFilter{CaseID: f.cs.ID, EvidenceID: ev.ID})
		if err != nil {
			t.Fatal(err)
		}
		var bodies []string
		for _, an := range list {
			bodies = append(bodies, an.Body)
		}
		// Reading order: by start time; the deleted one (10 s) is gone and
		// the edited one moved to 40 s.
		if want := []string{"note 2", "edited"}; !slices.Equal(bodies, want) {
			t.Fatalf("listed bodies: got %q, want %q", bodies, want)
		}
		versions, err := a.AnnotationVersions(ctx, first.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(versions) != 1 {
			t.Fatalf("kept versions: got %d, want 1", len(versions))
		}
		// The fixture's, then the evidence, 3 annotations, 2 replies (one
		// since removed, its event stays), the edit, resolving, the delete.
		verifyChain(t, b, f.events+1+3+2+1+1+1)
	})
}

// Annotations created at once through two replicas (each replica groups
// its concurrent writes into shared transactions) all land, in reading
// order, with the audit chain whole.
func TestDialectAnnotationsConcurrent(t *testing.T) {
	forDialects(t, func(t *testing.T, dsn string, a *storage.DB) {
		b := testenv.OpenDBAt(t, dsn)
		ctx := context.Background()
		f := newInReview(t, a)
		ev := f.addEvidence(t, a, 1, f.inspector)[0]
		dur := int64(600_000)
		if err := a.SetEvidenceResult(ctx, ev.ID, domain.EvidenceReady, "", &domain.Media{DurationMS: &dur}, nil); err != nil {
			t.Fatal(err)
		}
		ev, err := a.Evidence(ctx, ev.ID)
		if err != nil {
			t.Fatal(err)
		}
		const n = 40
		var wg sync.WaitGroup
		for i := range n {
			db := a
			if i%2 == 1 {
				db = b
			}
			wg.Go(func() {
				start := int64(i) * 1000
				if _, err := db.CreateAnnotation(ctx, f.cs, ev, f.inspector, domain.AnnotationInput{Body: strconv.Itoa(i), StartMS: &start, Severity: "info"}); err != nil {
					t.Errorf("annotation %d: %v", i, err)
				}
			})
		}
		wg.Wait()
		list, err := b.ListAnnotations(ctx, domain.AnnotationFilter{CaseID: f.cs.ID, EvidenceID: ev.ID})
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != n {
			t.Fatalf("listed %d annotations, want %d", len(list), n)
		}
		for i, an := range list {
			if an.Body != strconv.Itoa(i) {
				t.Fatalf("annotation %d in reading order has body %q, want %q", i, an.Body, strconv.Itoa(i))
			}
		}
		verifyChain(t, a, f.events+1+n)
	})
}

// A database that a newer release migrated is refused, on both databases;
// reopening a current one applies nothing twice.
func TestDialectSchemaTooNew(t *testing.T) {
	forDialects(t, func(t *testing.T, dsn string, a *storage.DB) {
		ctx := context.Background()
		var applied int
		if err := a.SQL().QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations`).Scan(&applied); err != nil {
			t.Fatal(err)
		}
		again := testenv.OpenDBAt(t, dsn)
		var after int
		if err := again.SQL().QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations`).Scan(&after); err != nil {
			t.Fatal(err)
		}
		if applied < 9 || after != applied {
			t.Fatalf("migrations recorded: got %d, then %d on reopening; want at least 9, unchanged", applied, after)
		}
		if _, err := a.SQL().ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES ('9999_from_the_future', 0)`); err != nil {
			t.Fatal(err)
		}
		db, err := storage.OpenDB(ctx, dsn)
		if err == nil {
			db.Close()
			t.Fatal("opened a database whose schema is newer than the program's")
		}
		var se *domain.Error
		if !errors.As(err, &se) || se.Code != domain.CodeSchemaTooNew {
			t.Fatalf("got %v, want an error with code %s", err, domain.CodeSchemaTooNew)
		}
	})
}

// Replicas starting together on an empty PostgreSQL database migrate it
// once. (SQLite has one process by design: several opening a new file at
// once can meet SQLITE_BUSY while the first sets up its journal.)
func TestDialectConcurrentMigrations(t *testing.T) {
	for _, name := range []string{"postgres"} {
		t.Run(name, func(t *testing.T) {
			dsn := freshDSN(t, name)
			var wg sync.WaitGroup
			dbs := make([]*storage.DB, 4)
			for i := range dbs {
				wg.Go(func() {
					db, err := storage.OpenDB(context.Background(), dsn)
					if err != nil {
						t.Errorf("replica %d: %v", i, err)
						return
					}
					dbs[i] = db
				})
			}
			wg.Wait()
			for _, db := range dbs {
				if db != nil {
					db.Close()
				}
			}
			db := testenv.OpenDBAt(t, dsn)
			var n int
			if err := db.SQL().QueryRow(`SELECT COUNT(*) FROM schema_migrations`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n < 9 {
				t.Fatalf("migrations recorded: got %d, want at least 9", n)
			}
		})
	}
}

// Login limits hold across replicas: failures counted through either
// handle add up, and the limit refuses the next attempt.
func TestDialectLoginLimits(t *testing.T) {
	forDialects(t, func(t *testing.T, dsn string, a *storage.DB) {
		b := testenv.OpenDBAt(t, dsn)
		ctx := context.Background()
		lim := domain.LoginLimits{Window: time.Hour, PerUserAddress: 4, PerAddress: 100, BackoffAfter: 100, BackoffBase: time.Second}
		var wg sync.WaitGroup
		for i := range 4 {
			db := a
			if i%2 == 1 {
				db = b
			}
			wg.Go(func() {
				at, err := db.ReserveLogin(ctx, "alice", "192.0.2.1", lim)
				if err != nil {
					t.Errorf("attempt %d: %v", i, err)
					return
				}
				if err := db.SettleLogin(ctx, at, domain.LoginFailed); err != nil {
					t.Errorf("settle %d: %v", i, err)
				}
			})
		}
		wg.Wait()
		_, err := b.ReserveLogin(ctx, "alice", "192.0.2.1", lim)
		var refused *domain.LoginRefusedError
		if !errors.As(err, &refused) {
			t.Fatalf("fifth attempt: got %v, want a *LoginRefusedError", err)
		}
		if _, err := a.ReserveLogin(ctx, "alice", "192.0.2.2", lim); err != nil {
			t.Fatalf("another address: got %v, want it allowed", err)
		}
	})
}

// BenchmarkDialectRecordAudit appends audit events from parallel writers
// through two handles on one database, each a write transaction of its
// own: the cost of the write lock that keeps the chain in order.
func BenchmarkDialectRecordAudit(b *testing.B) {
	for _, name := range dialects {
		b.Run(name, func(b *testing.B) {
			dsn := filepath.Join(b.TempDir(), "test.db")
			if name == "postgres" {
				dsn = testenv.PostgresURL(b)
			}
			handles := []*storage.DB{testenv.OpenDBAt(b, dsn), testenv.OpenDBAt(b, dsn)}
			ctx := context.Background()
			var next sync.Mutex
			i := 0
			b.SetParallelism(4)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				next.Lock()
				db := handles[i%2]
				i++
				next.Unlock()
				for pb.Next() {
					if _, err := db.RecordAudit(ctx, storage.Audit{Action: "bench", Target: "x"}); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			n, err := handles[0].VerifyAudit(ctx)
			if err != nil {
				b.Fatalf("verify after %d appends: %v", n, err)
			}
		})
	}
}

// TestStatsDaysKeptByOneReplica (PostgreSQL): while one replica keeps the
// figures' closed days, another's FillStatsDays does none of the work and
// returns at once; once the first lets go, the second keeps them, and a
// third call finds nothing missing.
func TestStatsDaysKeptByOneReplica(t *testing.T) {
	forDialects(t, func(t *testing.T, dsn string, db *storage.DB) {
		if db.Dialect() != "postgres" {
			t.Skip("one process owns a SQLite database")
		}
		ctx := context.Background()
		other := testenv.OpenDBAt(t, dsn)
		release, ok, err := other.TryTaskForTest(ctx, "stats days binhai")
		if err != nil || !ok {
			t.Fatalf("the other replica claiming the task: got %v, %v; want it claimed", ok, err)
		}
		if _, again, err := db.TryTaskForTest(ctx, "stats days binhai"); err != nil || again {
			t.Fatalf("claiming a held task: got %v, %v; want refused", again, err)
		}
		if n, err := db.FillStatsDays(ctx, "binhai", time.UTC, 30); err != nil || n != 0 {
			t.Fatalf("FillStatsDays while the other replica keeps the days: got %d, %v; want 0, nil", n, err)
		}
		release()
		if n, err := db.FillStatsDays(ctx, "binhai", time.UTC, 30); err != nil || n != 30 {
			t.Fatalf("FillStatsDays once released: got %d, %v; want 30, nil", n, err)
		}
		if n, err := other.FillStatsDays(ctx, "binhai", time.UTC, 30); err != nil || n != 0 {
			t.Fatalf("FillStatsDays on the other replica afterwards: got %d, %v; want 0 (all kept), nil", n, err)
		}
	})
}

// WarmPool leaves every connection the pool may hold open in it, idle and
// ready, on both databases. The DB's own background work (SQLite's
// checkpoints) may hold one for a moment: the pool must settle within a
// second.
func TestWarmPool(t *testing.T) {
	forDialects(t, func(t *testing.T, dsn string, db *storage.DB) {
		if err := db.WarmPool(context.Background()); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(time.Second); ; time.Sleep(10 * time.Millisecond) {
			s := db.SQL().Stats()
			if s.MaxOpenConnections >= 8 && s.OpenConnections == s.MaxOpenConnections && s.Idle == s.MaxOpenConnections {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("after WarmPool: %d open, %d idle, of at most %d; want all of them open and idle", s.OpenConnections, s.Idle, s.MaxOpenConnections)
			}
		}
	})
}
