package storage_test

import (
	"context"
	"testing"
	"time"

	"siteinspect/domain"
	"siteinspect/storage"
)

// TestUnitRuleInTheTransaction (both databases): an admin routes a case to
// unit one after an officer of unit two read it, when its slot was open to
// them; the inspector's take, the reviewer's take and the countersign each
// check the unit in the statement that changes the case, so each refuses
// with case_in_other_unit and leaves the case as it was, as does an admin
// assigning unit two's reviewer, while unit one's reviewer countersigns it.
func TestUnitRuleInTheTransaction(t *testing.T) {
	forDialects(t, func(t *testing.T, dsn string, db *storage.DB) {
		ctx := context.Background()
		db.SetPasswordCost(4)
		admin, err := db.CreateUser(ctx, "root", "root password", domain.RoleAdmin, "Root", "binhai")
		if err != nil {
			t.Fatal(err)
		}
		one, err := db.CreateUnit(ctx, admin, "binhai", "一分中心", "Unit One")
		if err != nil {
			t.Fatal(err)
		}
		two, err := db.CreateUnit(ctx, admin, "binhai", "二分中心", "Unit Two")
		if err != nil {
			t.Fatal(err)
		}
		officer := func(name string, role domain.Role, unit string) *domain.User {
			t.Helper()
			u, err := db.CreateUserAs(ctx, admin, storage.NewUserInput{Username: name, Password: "first password", Role: role, Org: "binhai", UnitID: unit})
			if err != nil {
				t.Fatal(err)
			}
			if u.UnitID != unit {
				t.Fatalf("%s's unit: got %q, want %q", name, u.UnitID, unit)
			}
			return u
		}
		insTwo := officer("ins2", domain.RoleInspector, two.ID)
		revTwo := officer("rev2", domain.RoleReviewer, two.ID)
		revOne := officer("rev1", domain.RoleReviewer, one.ID)
		route := func(cs *domain.Case) {
			t.Helper()
			if _, err := db.RouteCase(ctx, cs, admin, one.ID); err != nil {
				t.Fatal(err)
			}
		}
		unchanged := func(what string, id string, wantStatus domain.Status, wantReviewer string) {
			t.Helper()
			now, err := db.Case(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			rev := ""
			if now.Reviewer != nil {
				rev = now.Reviewer.ID
			}
			if now.Status != wantStatus || rev != wantReviewer || now.UnitID != one.ID {
				t.Errorf("%s: case %s, reviewer %q, unit %q; want %s, %q, %q", what, now.Status, rev, now.UnitID, wantStatus, wantReviewer, one.ID)
			}
		}

		// The inspector's take of an unrouted submitted case, read before
		// the routing.
		f := newInReview(t, db) // an applicant and an inspector of no unit; its case taken
		stale := submitted(t, db, f.applicant)
		if stale.UnitID != "" || !stale.VisibleTo(insTwo) {
			t.Fatalf("fixture: unit %q, visible to unit two's inspector %v; want unrouted and visible", stale.UnitID, stale.VisibleTo(insTwo))
		}
		route(stale)
		_, err = db.AssignCase(ctx, stale, insTwo, insTwo.ID, "")
		wantCode(t, "unit two's inspector taking a case routed to unit one meanwhile", err, domain.ErrConflict, domain.CodeOtherUnit)
		unchanged("after the refused take", stale.ID, domain.StatusSubmitted, "")

		// The decision awaiting its countersign, read by unit two's
		// reviewer while it was unrouted.
		pt, err := db.PermitType(ctx, "hotel")
		if err != nil {
			t.Fatal(err)
		}
		for _, item := range pt.Checklist {
			if _, err := db.SetFinding(ctx, f.cs, f.inspector, domain.Finding{ChecklistItem: item.ID, Result: "pass"}); err != nil {
				t.Fatal(err)
			}
		}
		pending, err := db.Decide(ctx, f.cs, f.inspector, time.UTC, domain.DecisionInput{Outcome: "reject", Summary: "no"})
		if err != nil {
			t.Fatal(err)
		}
		if pending.Status != domain.StatusPendingCountersign || pending.UnitID != "" || pending.Authorize(revTwo, domain.ActionCountersign) != nil {
			t.Fatalf("fixture: %s, unit %q, countersign by unit two's reviewer allowed: %v; want pending_countersign, unrouted, allowed",
				pending.Status, pending.UnitID, pending.Authorize(revTwo, domain.ActionCountersign))
		}
		route(pending)
		_, err = db.AssignCase(ctx, pending, revTwo, "", revTwo.ID)
		wantCode(t, "unit two's reviewer taking the slot of a case routed to unit one meanwhile", err, domain.ErrConflict, domain.CodeOtherUnit)
		_, err = db.Countersign(ctx, pending, revTwo, true, "")
		wantCode(t, "unit two's reviewer countersigning a case routed to unit one meanwhile", err, domain.ErrConflict, domain.CodeOtherUnit)
		unchanged("after the refused countersign", pending.ID, domain.StatusPendingCountersign, "")
		// Nor can an admin hand it to unit two's reviewer: it must be
		// routed to their unit first.
		_, err = db.AssignCase(ctx, pending, admin, "", revTwo.ID)
		wantCode(t, "an admin assigning unit two's reviewer to a case routed to unit one", err, domain.ErrConflict, domain.CodeOtherUnit)
		unchanged("after the refused assignment", pending.ID, domain.StatusPendingCountersign, "")
		if got := len(caseEvents(t, db, pending.ID, "case.assigned")); got != 1 {
			t.Errorf("case.assigned events: got %d, want 1 (the inspector's take only)", got)
		}

		// Unit one's reviewer countersigns it.
		fresh, err := db.Case(ctx, pending.ID)
		if err != nil {
			t.Fatal(err)
		}
		done, err := db.Countersign(ctx, fresh, revOne, true, "")
		if err != nil {
			t.Fatalf("unit one's reviewer countersigning: got %v, want nil", err)
		}
		if done.Status != domain.StatusRejected || done.Reviewer == nil || done.Reviewer.ID != revOne.ID {
			t.Errorf("after unit one's countersign: got %s by %v, want rejected by %s", done.Status, done.Reviewer, revOne.ID)
		}
	})
}
