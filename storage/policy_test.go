package storage_test

import (
	"slices"
	"testing"

	"siteinspect/storage"
)

var allStates = []storage.Status{storage.StatusDraft, storage.StatusSubmitted, storage.StatusInReview, storage.StatusSupplementRequested,
	storage.StatusPendingCountersign, storage.StatusApproved, storage.StatusRejected, storage.StatusWithdrawn}

var allRelations = []storage.Relation{storage.RelCompany, storage.RelPublisher, storage.RelInspector, storage.RelReviewer,
	storage.RelOpenInspectorSlot, storage.RelOpenReviewerSlot, storage.RelAdmin}

// TestPolicyInvariants pins what the table must never say, whatever rows
// are added to it: the matrix test checks that the code follows the table,
// this checks the table keeps the office's rules.
func TestPolicyInvariants(t *testing.T) {
	decided := []storage.Status{storage.StatusPendingCountersign, storage.StatusApproved, storage.StatusRejected, storage.StatusWithdrawn}
	for _, rel := range allRelations {
		for _, s := range allStates {
			rels := []storage.Relation{rel}
			// Nothing joins the evidence of a decided or withdrawn case.
			if slices.Contains(decided, s) {
				for _, a := range []storage.Action{storage.ActionUpload, storage.ActionAddLiveEvidence} {
					if storage.Grants(a, rels, s) {
						t.Errorf("%s may %s on a %s case", rel, a, s)
					}
				}
			}
			// Only the assigned inspector records findings and decides.
			for _, a := range []storage.Action{storage.ActionDecide, storage.ActionRecordFinding, storage.ActionStartLive} {
				if storage.Grants(a, rels, s) && rel != storage.RelInspector {
					t.Errorf("%s may %s on a %s case", rel, a, s)
				}
			}
			// The company never does the office's work nor reads its notes.
			if rel == storage.RelCompany || rel == storage.RelPublisher {
				for _, a := range []storage.Action{storage.ActionAnnotate, storage.ActionDecide, storage.ActionCountersign, storage.ActionRecordFinding,
					storage.ActionTake, storage.ActionTakeReview, storage.ActionAssign, storage.ActionReadNotes, storage.ActionConfirmOwed, storage.ActionJoinLive} {
					if storage.Grants(a, rels, s) {
						t.Errorf("%s may %s on a %s case", rel, a, s)
					}
				}
			}
			// No row grants anything on a case its holder may not see (the
			// publisher acts by token on its one case).
			for _, a := range storage.Actions {
				if rel != storage.RelPublisher && storage.Grants(a, rels, s) && !storage.Grants(storage.ActionView, rels, s) {
					t.Errorf("%s may %s on a %s case it does not see", rel, a, s)
				}
			}
			// Officers never see a draft; nobody but the company changes one.
			if s == storage.StatusDraft && rel != storage.RelCompany && rel != storage.RelAdmin && storage.Grants(storage.ActionView, rels, s) {
				t.Errorf("%s sees a draft", rel)
			}
			// The countersign is final: nothing moves a decided case's slots.
			if (s == storage.StatusApproved || s == storage.StatusRejected) && (storage.Grants(storage.ActionAssign, rels, s) ||
				storage.Grants(storage.ActionTakeReview, rels, s) || storage.Grants(storage.ActionReleaseReview, rels, s)) {
				t.Errorf("%s may change the slots of a %s case", rel, s)
			}
		}
	}
	// Four eyes: the case's inspector never countersigns nor takes the
	// reviewer slot, whatever other relation they hold.
	for _, s := range allStates {
		for _, a := range []storage.Action{storage.ActionCountersign, storage.ActionTakeReview} {
			if storage.Grants(a, []storage.Relation{storage.RelInspector, storage.RelOpenReviewerSlot, storage.RelReviewer}, s) {
				t.Errorf("the inspector may %s on a %s case", a, s)
			}
		}
	}
	// Every action the API knows is granted to someone somewhere.
	for _, a := range storage.Actions {
		if len(storage.StatesFor(a)) == 0 {
			t.Errorf("action %s is granted nowhere", a)
		}
	}
}

// TestRelations pins who stands how to a case: the relations are where a
// cross-company or cross-office leak would start.
func TestRelations(t *testing.T) {
	u := func(id string, role storage.Role, org string) *storage.User {
		return &storage.User{ID: id, Role: role, Org: org}
	}
	cs := &storage.Case{Office: "binhai", Status: storage.StatusInReview,
		Applicant: &storage.UserRef{ID: "a1", Org: "Acme"}, Inspector: &storage.UserRef{ID: "i1"}}
	for _, tt := range []struct {
		user *storage.User
		want []storage.Relation
	}{
		{u("a1", storage.RoleApplicant, "Acme"), []storage.Relation{storage.RelCompany}},
		{u("a2", storage.RoleApplicant, "Acme"), []storage.Relation{storage.RelCompany}},
		{u("b1", storage.RoleApplicant, "Other"), nil},
		{u("b2", storage.RoleApplicant, ""), nil},
		{u("i1", storage.RoleInspector, "binhai"), []storage.Relation{storage.RelInspector}},
		{u("i2", storage.RoleInspector, "binhai"), nil},
		{u("i1", storage.RoleInspector, "elsewhere"), nil},
		{u("r1", storage.RoleReviewer, "binhai"), []storage.Relation{storage.RelOpenReviewerSlot}},
		{u("r2", storage.RoleReviewer, "elsewhere"), nil},
		{u("i1", storage.RoleReviewer, "binhai"), []storage.Relation{storage.RelInspector, storage.RelOpenReviewerSlot}},
		{u("x", storage.RoleAdmin, ""), []storage.Relation{storage.RelAdmin}},
		{nil, nil},
	} {
		if got := cs.Relations(tt.user); !slices.Equal(got, tt.want) {
			t.Errorf("relations of %+v: got %v, want %v", tt.user, got, tt.want)
		}
	}
	// The company's applicant of another org, with the same display name and
	// id prefix, sees nothing.
	if cs.VisibleTo(u("b1", storage.RoleApplicant, "Other")) {
		t.Error("another company sees the case")
	}
}
