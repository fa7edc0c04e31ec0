package domain_test

import (
	"errors"
	"testing"

	"siteinspect/domain"
)

// TestDeliverOwedPolicy: an owed material is delivered by the company on
// an approved case only; a plain upload never reaches a decided case, and
// an upload naming an owed item joins under deliver_owed.
func TestDeliverOwedPolicy(t *testing.T) {
	company := []domain.Relation{domain.RelCompany}
	for _, s := range []domain.Status{domain.StatusDraft, domain.StatusSubmitted, domain.StatusInReview, domain.StatusSupplementRequested,
		domain.StatusPendingCountersign, domain.StatusApproved, domain.StatusRejected, domain.StatusWithdrawn} {
		if got, want := domain.Grants(domain.ActionDeliverOwed, company, s), s == domain.StatusApproved; got != want {
			t.Errorf("deliver_owed for the company on a %s case: got %v, want %v", s, got, want)
		}
		if got, want := domain.Grants(domain.ActionSignCommitment, company, s), s == domain.StatusDraft; got != want {
			t.Errorf("sign_commitment for the company on a %s case: got %v, want %v", s, got, want)
		}
		if domain.Grants(domain.ActionUpload, company, s) && (s == domain.StatusApproved || s == domain.StatusRejected) {
			t.Errorf("upload granted on a %s case", s)
		}
		for _, rel := range []domain.Relation{domain.RelInspector, domain.RelReviewer, domain.RelAdmin, domain.RelSupervisor, domain.RelPublisher} {
			if domain.Grants(domain.ActionDeliverOwed, []domain.Relation{rel}, s) {
				t.Errorf("deliver_owed granted to %s on a %s case", rel, s)
			}
		}
	}
	up := &domain.Upload{Metadata: map[string]string{"filename": "a.pdf"}}
	if got := up.Rule(); got != domain.ActionUpload {
		t.Errorf("plain upload's rule: got %s, want %s", got, domain.ActionUpload)
	}
	up.Metadata[domain.MetaOwedItem] = "o1"
	if got := up.Rule(); got != domain.ActionDeliverOwed {
		t.Errorf("owed upload's rule: got %s, want %s", got, domain.ActionDeliverOwed)
	}
	up.LiveSessionID = "l1"
	if got := up.Rule(); got != domain.ActionAddLiveEvidence {
		t.Errorf("the phone's recording's rule: got %s, want %s", got, domain.ActionAddLiveEvidence)
	}
	err := (&domain.Case{Status: domain.StatusRejected}).StateRefusal(domain.ActionDeliverOwed)
	var de *domain.Error
	if !errors.As(err, &de) || de.Code != domain.CodeNotAcceptingEvidence {
		t.Errorf("deliver_owed on a rejected case: got %v, want %s", err, domain.CodeNotAcceptingEvidence)
	}
}
