package domain_test

import (
	"slices"
	"testing"

	"siteinspect/domain"
)

var allStates = []domain.Status{domain.StatusDraft, domain.StatusSubmitted, domain.StatusInReview, domain.StatusSupplementRequested,
	domain.StatusPendingCountersign, domain.StatusApproved, domain.StatusRejected, domain.StatusWithdrawn}

var allRelations = []domain.Relation{domain.RelCompany, domain.RelPublisher, domain.RelInspector, domain.RelReviewer,
	domain.RelOpenInspectorSlot, domain.RelOpenReviewerSlot, domain.RelAdmin, domain.RelSupervisor}

// reads are the actions that change nothing: all a supervisor is granted,
// but for marking a case urgent.
var reads = []domain.Action{domain.ActionView, domain.ActionReadNotes, domain.ActionReadProgress, domain.ActionReadOutcome, domain.ActionReadOwed,
	domain.ActionReadRating}

// TestPolicyInvariants pins what the table must never say, whatever rows
// are added to it: the matrix test checks that the code follows the table,
// this checks the table keeps the office's rules.
func TestPolicyInvariants(t *testing.T) {
	decided := []domain.Status{domain.StatusPendingCountersign, domain.StatusApproved, domain.StatusRejected, domain.StatusWithdrawn}
	for _, rel := range allRelations {
		for _, s := range allStates {
			rels := []domain.Relation{rel}
			// Nothing joins the evidence of a decided or withdrawn case.
			if slices.Contains(decided, s) {
				for _, a := range []domain.Action{domain.ActionUpload, domain.ActionAddLiveEvidence} {
					if domain.Grants(a, rels, s) {
						t.Errorf("%s may %s on a %s case", rel, a, s)
					}
				}
			}
			// Only the assigned inspector records findings and decides.
			for _, a := range []domain.Action{domain.ActionDecide, domain.ActionRecordFinding, domain.ActionStartLive} {
				if domain.Grants(a, rels, s) && rel != domain.RelInspector {
					t.Errorf("%s may %s on a %s case", rel, a, s)
				}
			}
			// The company never does the office's work nor reads its notes.
			if rel == domain.RelCompany || rel == domain.RelPublisher {
				for _, a := range []domain.Action{domain.ActionAnnotate, domain.ActionDecide, domain.ActionCountersign, domain.ActionRecordFinding,
					domain.ActionTake, domain.ActionTakeReview, domain.ActionAssign, domain.ActionReadNotes, domain.ActionConfirmOwed, domain.ActionJoinLive,
					domain.ActionMarkUrgent} {
					if domain.Grants(a, rels, s) {
						t.Errorf("%s may %s on a %s case", rel, a, s)
					}
				}
			}
			// No row grants anything on a case its holder may not see (the
			// publisher acts by token on its one case).
			for _, a := range domain.Actions {
				if rel != domain.RelPublisher && domain.Grants(a, rels, s) && !domain.Grants(domain.ActionView, rels, s) {
					t.Errorf("%s may %s on a %s case it does not see", rel, a, s)
				}
			}
			// The supervisor reads all the office holds and changes nothing
			// but a case's urgent mark (特事特办, issue #20) before the
			// countersign.
			if rel == domain.RelSupervisor {
				beforeCountersign := []domain.Status{domain.StatusSubmitted, domain.StatusInReview, domain.StatusSupplementRequested, domain.StatusPendingCountersign}
				for _, a := range domain.Actions {
					want := slices.Contains(reads, a) && s != domain.StatusDraft ||
						a == domain.ActionMarkUrgent && slices.Contains(beforeCountersign, s)
					if got := domain.Grants(a, rels, s); got != want {
						t.Errorf("supervisor %s on a %s case: granted %v, want %v", a, s, got, want)
					}
				}
			}
			// The case's officers never read its rating (who rated, the
			// comment); only the company rates, and only once decided.
			if rel != domain.RelCompany && rel != domain.RelAdmin && rel != domain.RelSupervisor && domain.Grants(domain.ActionReadRating, rels, s) {
				t.Errorf("%s may read the rating of a %s case", rel, s)
			}
			if domain.Grants(domain.ActionRate, rels, s) && (rel != domain.RelCompany || s != domain.StatusApproved && s != domain.StatusRejected) {
				t.Errorf("%s may rate a %s case", rel, s)
			}
			// Officers never see a draft; nobody but the company changes one.
			if s == domain.StatusDraft && rel != domain.RelCompany && rel != domain.RelAdmin && domain.Grants(domain.ActionView, rels, s) {
				t.Errorf("%s sees a draft", rel)
			}
			// The countersign is final: nothing moves a decided case's slots.
			if (s == domain.StatusApproved || s == domain.StatusRejected) && (domain.Grants(domain.ActionAssign, rels, s) ||
				domain.Grants(domain.ActionTakeReview, rels, s) || domain.Grants(domain.ActionReleaseReview, rels, s)) {
				t.Errorf("%s may change the slots of a %s case", rel, s)
			}
		}
	}
	// Four eyes: the case's inspector never countersigns nor takes the
	// reviewer slot, whatever other relation they hold.
	for _, s := range allStates {
		for _, a := range []domain.Action{domain.ActionCountersign, domain.ActionTakeReview} {
			if domain.Grants(a, []domain.Relation{domain.RelInspector, domain.RelOpenReviewerSlot, domain.RelReviewer}, s) {
				t.Errorf("the inspector may %s on a %s case", a, s)
			}
		}
	}
	// Every action the API knows is granted to someone somewhere.
	for _, a := range domain.Actions {
		if len(domain.StatesFor(a)) == 0 {
			t.Errorf("action %s is granted nowhere", a)
		}
	}
}

// TestRelations pins who stands how to a case: the relations are where a
// cross-company or cross-office leak would start.
func TestRelations(t *testing.T) {
	u := func(id string, role domain.Role, org string) *domain.User {
		return &domain.User{ID: id, Role: role, Org: org}
	}
	cs := &domain.Case{Office: "binhai", Status: domain.StatusInReview,
		Applicant: &domain.UserRef{ID: "a1", Org: "Acme"}, Inspector: &domain.UserRef{ID: "i1"}}
	for _, tt := range []struct {
		user *domain.User
		want []domain.Relation
	}{
		{u("a1", domain.RoleApplicant, "Acme"), []domain.Relation{domain.RelCompany}},
		{u("a2", domain.RoleApplicant, "Acme"), []domain.Relation{domain.RelCompany}},
		{u("b1", domain.RoleApplicant, "Other"), nil},
		{u("b2", domain.RoleApplicant, ""), nil},
		{u("i1", domain.RoleInspector, "binhai"), []domain.Relation{domain.RelInspector}},
		{u("i2", domain.RoleInspector, "binhai"), nil},
		{u("i1", domain.RoleInspector, "elsewhere"), nil},
		{u("r1", domain.RoleReviewer, "binhai"), []domain.Relation{domain.RelOpenReviewerSlot}},
		{u("r2", domain.RoleReviewer, "elsewhere"), nil},
		{u("i1", domain.RoleReviewer, "binhai"), []domain.Relation{domain.RelInspector, domain.RelOpenReviewerSlot}},
		{u("x", domain.RoleAdmin, ""), []domain.Relation{domain.RelAdmin}},
		{nil, nil},
	} {
		if got := cs.Relations(tt.user); !slices.Equal(got, tt.want) {
			t.Errorf("relations of %+v: got %v, want %v", tt.user, got, tt.want)
		}
	}
	// The company's applicant of another org, with the same display name and
	// id prefix, sees nothing.
	if cs.VisibleTo(u("b1", domain.RoleApplicant, "Other")) {
		t.Error("another company sees the case")
	}
}
