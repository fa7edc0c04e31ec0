package storage_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"siteinspect/domain"
	"siteinspect/internal/testenv"
	"siteinspect/storage"
)

// wantPolicyRefusal checks that err is the refusal the policy itself gives
// u for action on the case as it is now (the same kind, code and message),
// and that the policy does refuse it.
func wantPolicyRefusal(t *testing.T, db *storage.DB, what string, err error, caseID string, u *domain.User, action domain.Action) {
	t.Helper()
	now, cerr := db.Case(context.Background(), caseID)
	if cerr != nil {
		t.Fatal(cerr)
	}
	want := now.Authorize(u, action)
	if want == nil {
		t.Fatalf("%s: the policy grants %s to %s on the case as it is now; the fixture is wrong", what, action, u.Username)
	}
	var got, w *domain.Error
	errors.As(want, &w)
	if !errors.As(err, &got) || got.Kind != w.Kind || got.Code != w.Code || got.Message != w.Message {
		t.Errorf("%s: got %v, want the policy's refusal %v (%v, code %q)", what, err, want, w.Kind, w.Code)
	}
}

// TestRelationInTheTransaction (both databases): the policy is checked
// against a case read before the transaction (or, in a live room, when the
// officer joined); an admin replacing the
// case's inspector or reviewer, or the reviewer releasing their slot, in
// between is seen by the statement that writes, which refuses with the
// policy's own refusal on the case as it now is, and writes nothing. In a
// batch of grouped annotation writes the stale write fails alone. On
// PostgreSQL, a reassignment that holds the case row's lock while the
// annotation waits for it is seen once it commits.
func TestRelationInTheTransaction(t *testing.T) {
	forDialects(t, func(t *testing.T, dsn string, db *storage.DB) {
		ctx := context.Background()
		f := newInReview(t, db)
		user := func(name string, role domain.Role) *domain.User {
			t.Helper()
			u, err := db.CreateUser(ctx, name, "correct horse battery", role, "", "binhai")
			if err != nil {
				t.Fatal(err)
			}
			return u
		}
		admin, ins2 := user("root", domain.RoleAdmin), user("ins2", domain.RoleInspector)
		rev1, rev2 := user("rev1", domain.RoleReviewer), user("rev2", domain.RoleReviewer)
		// The other replica, where the admin works.
		other := testenv.OpenDBAt(t, dsn)
		reassign := func(cs *domain.Case, inspectorID, reviewerID string) {
			t.Helper()
			fresh, err := other.Case(ctx, cs.ID)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := other.AssignCase(ctx, fresh, admin, inspectorID, reviewerID); err != nil {
				t.Fatalf("the admin's reassignment: %v", err)
			}
		}
		count := func(caseID, authorID string) int {
			t.Helper()
			var n int
			if err := db.SQL().QueryRowContext(ctx, `SELECT COUNT(*) FROM annotations WHERE case_id = ? AND author_id = ?`, caseID, authorID).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}

		// A batch of grouped creates, checked against the cases as read:
		// f's inspector on case A, and on case B, whose inspector the
		// admin replaces (on the other replica) while the batch waits.
		csA, evA, csB, evB := twoAnnotatable(t, db, f)
		if err := csB.Authorize(f.inspector, domain.ActionAnnotate); err != nil {
			t.Fatalf("fixture: f's inspector may not annotate case B: %v", err)
		}
		const n = 4
		errs := oneBatch(t, db, f.inspector, csA, evA, csB, evB, n, func() { reassign(csB, ins2.ID, "") })
		for i := range n {
			if errs[i] != nil {
				t.Errorf("annotation %d on case A, still f's inspector's: got %v, want no error", i, errs[i])
			}
		}
		wantPolicyRefusal(t, db, "the replaced inspector's annotation in the batch", errs[n], csB.ID, f.inspector, domain.ActionAnnotate)
		if got := count(csA.ID, f.inspector.ID); got != n {
			t.Errorf("case A's annotations by f's inspector: got %d, want %d", got, n)
		}
		if got := count(csB.ID, f.inspector.ID); got != 0 {
			t.Errorf("case B's annotations by its replaced inspector: got %d, want 0", got)
		}
		// The new inspector annotates case B.
		freshB, err := db.Case(ctx, csB.ID)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.CreateAnnotation(ctx, freshB, evB, ins2, annotationInput(0)); err != nil {
			t.Errorf("the new inspector's annotation: got %v, want no error", err)
		}

		// Case A: f's inspector has an annotation, then the admin gives
		// the case to ins2; every change f's inspector makes from the
		// case as read before is refused.
		a, err := db.CreateAnnotation(ctx, csA, evA, f.inspector, annotationInput(9))
		if err != nil {
			t.Fatal(err)
		}
		// A live inspection, whose room f's inspector joined.
		liveA, _, err := db.CreateLiveSession(ctx, csA, f.inspector, nil, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.AddLiveAnnotation(ctx, csA, liveA, f.inspector, annotationInput(14), 500); err != nil {
			t.Fatalf("f's inspector's note in the live room: got %v, want no error", err)
		}
		reassign(csA, ins2.ID, "")
		_, err = db.CreateAnnotation(ctx, csA, evA, f.inspector, annotationInput(10))
		wantPolicyRefusal(t, db, "the replaced inspector's annotation", err, csA.ID, f.inspector, domain.ActionAnnotate)
		_, err = db.UpdateAnnotation(ctx, a, evA, csA, f.inspector, a.Version, annotationInput(11))
		wantPolicyRefusal(t, db, "the replaced inspector's edit", err, csA.ID, f.inspector, domain.ActionAnnotate)
		_, err = db.AddReply(ctx, a, f.inspector, "still here")
		wantPolicyRefusal(t, db, "the replaced inspector's reply", err, csA.ID, f.inspector, domain.ActionAnnotate)
		_, err = db.ResolveAnnotation(ctx, a, f.inspector, true)
		wantPolicyRefusal(t, db, "the replaced inspector resolving", err, csA.ID, f.inspector, domain.ActionAnnotate)
		err = db.DeleteAnnotation(ctx, a, f.inspector, 0)
		wantPolicyRefusal(t, db, "the replaced inspector deleting", err, csA.ID, f.inspector, domain.ActionAnnotate)
		_, err = db.AddLiveAnnotation(ctx, csA, liveA, f.inspector, annotationInput(15), 1000)
		wantPolicyRefusal(t, db, "the replaced inspector's note in the live room", err, csA.ID, f.inspector, domain.ActionJoinLive)
		pt, err := db.PermitType(ctx, "hotel")
		if err != nil {
			t.Fatal(err)
		}
		item := pt.Checklist[0].ID
		_, err = db.SetFinding(ctx, csA, f.inspector, domain.Finding{ChecklistItem: item, Result: "pass"})
		wantPolicyRefusal(t, db, "the replaced inspector's finding", err, csA.ID, f.inspector, domain.ActionRecordFinding)
		_, err = db.Decide(ctx, csA, f.inspector, time.UTC, domain.DecisionInput{Outcome: "request_supplement", Summary: "more", Owed: []string{"a plan"}})
		wantPolicyRefusal(t, db, "the replaced inspector's decision", err, csA.ID, f.inspector, domain.ActionDecide)
		nowA, err := db.Case(ctx, csA.ID)
		if err != nil {
			t.Fatal(err)
		}
		if nowA.Status != domain.StatusInReview || nowA.Inspector == nil || nowA.Inspector.ID != ins2.ID {
			t.Errorf("case A after the refusals: got %s by %v, want %s by %s", nowA.Status, nowA.Inspector, domain.StatusInReview, ins2.ID)
		}
		if got := count(csA.ID, f.inspector.ID); got != n+1 {
			t.Errorf("case A's annotations by its replaced inspector: got %d, want %d (none after the reassignment)", got, n+1)
		}
		var replies, findings int
		if err := db.SQL().QueryRowContext(ctx, `SELECT COUNT(*) FROM annotation_replies WHERE annotation_id = ?`, a.ID).Scan(&replies); err != nil {
			t.Fatal(err)
		}
		if err := db.SQL().QueryRowContext(ctx, `SELECT COUNT(*) FROM findings WHERE case_id = ?`, csA.ID).Scan(&findings); err != nil {
			t.Fatal(err)
		}
		var notes int
		if err := db.SQL().QueryRowContext(ctx, `SELECT COUNT(*) FROM live_annotations WHERE session_id = ?`, liveA.ID).Scan(&notes); err != nil {
			t.Fatal(err)
		}
		if notes != 1 {
			t.Errorf("live notes: got %d, want 1 (the one before the reassignment)", notes)
		}
		if replies != 0 || findings != 0 {
			t.Errorf("replies, findings on case A: got %d, %d, want 0, 0", replies, findings)
		}
		still, err := db.Annotation(ctx, a.ID)
		if err != nil || still.Version != 1 || still.Resolved {
			t.Errorf("the replaced inspector's annotation: got %v (err %v), want version 1, open, not deleted", still, err)
		}

		// Reviewers: rev1 reads case A with its slot; the admin gives the
		// slot to rev2; rev1's note is refused (they no longer see the
		// case). Then rev2 releases the slot: rev2 still sees the case
		// (its slot is open to them) but may not annotate it.
		reassign(csA, "", rev1.ID)
		asRev1, err := db.Case(ctx, csA.ID)
		if err != nil {
			t.Fatal(err)
		}
		reassign(csA, "", rev2.ID)
		_, err = db.CreateAnnotation(ctx, asRev1, evA, rev1, annotationInput(12))
		wantPolicyRefusal(t, db, "the replaced reviewer's annotation", err, csA.ID, rev1, domain.ActionAnnotate)
		asRev2, err := db.Case(ctx, csA.ID)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := other.ReleaseReview(ctx, asRev2, rev2); err != nil {
			t.Fatal(err)
		}
		_, err = db.CreateAnnotation(ctx, asRev2, evA, rev2, annotationInput(13))
		wantPolicyRefusal(t, db, "the released reviewer's annotation", err, csA.ID, rev2, domain.ActionAnnotate)
		wantCode(t, "the released reviewer's annotation", err, domain.ErrForbidden, domain.CodeNotPermitted)
		if got := count(csA.ID, rev1.ID) + count(csA.ID, rev2.ID); got != 0 {
			t.Errorf("case A's annotations by the two reviewers: got %d, want 0", got)
		}

		if db.Dialect() != "postgres" {
			return
		}
		// PostgreSQL: the reassignment holds case C's row lock when the
		// annotation (checked against the case as read) reaches it; the
		// annotation waits, and sees the new inspector once the
		// reassignment commits.
		csC, evC := annotatable(t, db, f, nil)
		tx, err := other.SQL().BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		if _, err := tx.ExecContext(ctx, `UPDATE cases SET inspector_id = ? WHERE id = ?`, ins2.ID, csC.ID); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			_, err := db.CreateAnnotation(ctx, csC, evC, f.inspector, annotationInput(14))
			done <- err
		}()
		deadline := time.Now().Add(20 * time.Second)
		for {
			var waiting int
			if err := other.SQL().QueryRowContext(ctx, `SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&waiting); err != nil {
				t.Fatal(err)
			}
			if waiting > 0 {
				break
			}
			select {
			case err := <-done:
				t.Fatalf("the annotation did not wait for the row lock: got %v", err)
			default:
			}
			if time.Now().After(deadline) {
				t.Fatal("the annotation never waited for case C's row lock")
			}
			time.Sleep(5 * time.Millisecond)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		err = <-done
		wantPolicyRefusal(t, db, "the annotation that waited for the reassignment", err, csC.ID, f.inspector, domain.ActionAnnotate)
		if got := count(csC.ID, f.inspector.ID); got != 0 {
			t.Errorf("case C's annotations by its replaced inspector: got %d, want 0", got)
		}
	})
}
