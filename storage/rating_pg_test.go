package storage_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"siteinspect/domain"
	"siteinspect/storage"
)

// submitted opens and submits a case of applicant's with one evidence row
// written under the API.
func submitted(t *testing.T, db *storage.DB, applicant *domain.User) *domain.Case {
	t.Helper()
	ctx := context.Background()
	cs, err := db.CreateCase(ctx, applicant, "binhai", "BH", time.UTC, domain.NewCase{PermitType: "hotel", SiteName: "s", SiteAddress: "a"})
	if err != nil {
		t.Fatal(err)
	}
	id := domain.NewID()
	if _, err := db.SQL().ExecContext(ctx, `INSERT INTO evidence (id, case_id, kind, filename, content_type, size, sha256, status, object_key, uploaded_by, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, id, cs.ID, string(domain.KindVideo), "site.mp4", "video/mp4", 1000, fmt.Sprintf("%064x", 0),
		domain.EvidenceReady, "k/"+id, applicant.ID, time.Now().UnixMilli()); err != nil {
		t.Fatal(err)
	}
	if cs, err = db.Case(ctx, cs.ID); err != nil {
		t.Fatal(err)
	}
	if cs, err = db.SubmitCase(ctx, cs, applicant, time.UTC); err != nil {
		t.Fatal(err)
	}
	return cs
}

// wantCode fails unless err is a domain error of kind with code.
func wantCode(t *testing.T, what string, err error, kind error, code string) {
	t.Helper()
	var se *domain.Error
	if !errors.As(err, &se) || !errors.Is(err, kind) || se.Code != code {
		t.Errorf("%s: got %v, want %v %s", what, err, kind, code)
	}
}

// caseEvents returns the case's audit events of action, their data decoded.
func caseEvents(t *testing.T, db *storage.DB, caseID, action string) []map[string]any {
	t.Helper()
	list, err := db.CaseAudit(context.Background(), caseID, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for _, e := range list {
		if e.Action == action {
			var m map[string]any
			if err := json.Unmarshal(e.Data, &m); err != nil {
				t.Fatal(err)
			}
			out = append(out, m)
		}
	}
	return out
}

// TestRatingLoop (both databases): the applicant rates the final decision
// once; 非常不满意 opens a follow-up due five working days later; a
// supervisor of the office closes it and the case's rating carries the
// outcome; the officers' aggregates count it without naming anyone.
func TestRatingLoop(t *testing.T) {
	forDialects(t, func(t *testing.T, dsn string, db *storage.DB) {
		ctx := context.Background()
		// Monday 2026-11-30 10:00 UTC: five working days on is Monday 7 Dec.
		now := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
		db.SetClock(func() time.Time { return now })
		f := newInReview(t, db)
		user := func(name string, role domain.Role, org string) *domain.User {
			u, err := db.CreateUser(ctx, name, "correct horse battery", role, "", org)
			if err != nil {
				t.Fatal(err)
			}
			return u
		}
		rev, colleague := user("rev", domain.RoleReviewer, "binhai"), user("colleague", domain.RoleApplicant, "Acme")
		sup, supOther := user("sup", domain.RoleSupervisor, "binhai"), user("supOther", domain.RoleSupervisor, "elsewhere")
		// Before the decision the company may not rate.
		_, err := db.RateCase(ctx, f.cs, f.applicant, time.UTC, 5, domain.RatingInput{Level: 1})
		wantCode(t, "rating an undecided case", err, domain.ErrInvalidState, domain.CodeWrongState)
		pt, err := db.PermitType(ctx, "hotel")
		if err != nil {
			t.Fatal(err)
		}
		for _, item := range pt.Checklist {
			if _, err := db.SetFinding(ctx, f.cs, f.inspector, domain.Finding{ChecklistItem: item.ID, Result: "pass"}); err != nil {
				t.Fatal(err)
			}
		}
		cs, err := db.Decide(ctx, f.cs, f.inspector, time.UTC, domain.DecisionInput{Outcome: "reject", Summary: "no"})
		if err != nil {
			t.Fatal(err)
		}
		if cs, err = db.Countersign(ctx, cs, rev, true, ""); err != nil {
			t.Fatal(err)
		}
		_, err = db.RateCase(ctx, cs, colleague, time.UTC, 5, domain.RatingInput{Level: 1})
		wantCode(t, "a colleague of the applicant rating", err, domain.ErrForbidden, domain.CodeRatingApplicantOnly)
		_, err = db.RateCase(ctx, cs, f.applicant, time.UTC, 5, domain.RatingInput{Level: 6})
		wantCode(t, "level 6", err, domain.ErrInvalid, domain.CodeRatingLevelInvalid)

		r, err := db.RateCase(ctx, cs, f.applicant, time.UTC, 5, domain.RatingInput{Level: 5, Comment: " 等了太久 "})
		if err != nil {
			t.Fatal(err)
		}
		if r.FollowUp == nil {
			t.Fatal("a rating of 5 opened no follow-up")
		}
		if want := time.Date(2026, 12, 7, 23, 59, 59, 0, time.UTC); !r.FollowUp.DueAt.Equal(want) || r.Comment != "等了太久" {
			t.Errorf("follow-up due %s, comment %q; want %s, %q", r.FollowUp.DueAt, r.Comment, want, "等了太久")
		}
		_, err = db.RateCase(ctx, cs, f.applicant, time.UTC, 5, domain.RatingInput{Level: 1})
		wantCode(t, "rating the same decision twice", err, domain.ErrConflict, domain.CodeRatingExists)

		rated := caseEvents(t, db, cs.ID, "case.rated")
		if len(rated) != 1 || rated[0]["level"] != float64(5) || rated[0]["inspector_id"] != f.inspector.ID || rated[0]["reviewer_id"] != rev.ID {
			t.Errorf("case.rated events: got %v, want one with level 5, inspector %s, reviewer %s", rated, f.inspector.ID, rev.ID)
		}
		opened := caseEvents(t, db, cs.ID, "followup.opened")
		if len(opened) != 1 || opened[0]["followup_id"] != r.FollowUp.ID || opened[0]["due_at"] != "2026-12-07T23:59:59Z" {
			t.Errorf("followup.opened events: got %v, want one for %s due 2026-12-07T23:59:59Z", opened, r.FollowUp.ID)
		}

		for _, c := range []struct {
			who        *domain.User
			count, bad int
			avg        float64
		}{{f.inspector, 1, 1, 5}, {rev, 1, 1, 5}, {sup, 0, 0, 0}} {
			a, err := db.RatingAggregate(ctx, c.who.ID)
			if err != nil {
				t.Fatal(err)
			}
			if a.Count != c.count || a.Dissatisfied != c.bad || a.Average != c.avg {
				t.Errorf("aggregate of %s: got %+v, want count %d, dissatisfied %d, average %v", c.who.Username, a, c.count, c.bad, c.avg)
			}
		}

		// Past the due time the follow-up is overdue; the other office's
		// supervisor sees none of it.
		now = time.Date(2026, 12, 8, 9, 0, 0, 0, time.UTC)
		list, err := db.FollowUps(ctx, sup, false, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 1 || list[0].ID != r.FollowUp.ID || !list[0].Overdue || list[0].CaseNumber != cs.Number || list[0].Level != 5 {
			t.Fatalf("the supervisor's follow-ups: got %+v, want the one overdue for %s", list, cs.Number)
		}
		if list, err := db.FollowUps(ctx, supOther, false, 100); err != nil || len(list) != 0 {
			t.Errorf("another office's supervisor's follow-ups: got %d (%v), want 0", len(list), err)
		}
		_, err = db.CloseFollowUp(ctx, f.inspector, r.FollowUp.ID, "done")
		wantCode(t, "the inspector closing", err, domain.ErrForbidden, domain.CodeOfficeNotPermitted)
		if _, err = db.CloseFollowUp(ctx, supOther, r.FollowUp.ID, "done"); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("another office's supervisor closing: got %v, want not found", err)
		}
		_, err = db.CloseFollowUp(ctx, sup, r.FollowUp.ID, "  ")
		wantCode(t, "closing without an outcome", err, domain.ErrInvalid, "field_required")
		if _, err := db.CloseFollowUp(ctx, sup, r.FollowUp.ID, "已约谈承办人并改进流程"); err != nil {
			t.Fatal(err)
		}
		_, err = db.CloseFollowUp(ctx, sup, r.FollowUp.ID, "again")
		wantCode(t, "closing twice", err, domain.ErrConflict, domain.CodeFollowUpClosed)
		got, err := db.CaseRating(ctx, cs.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got == nil || got.FollowUp == nil || got.FollowUp.Outcome != "已约谈承办人并改进流程" || got.FollowUp.ClosedAt == nil ||
			got.FollowUp.ClosedBy.ID != sup.ID || got.FollowUp.Overdue {
			t.Errorf("the case's rating after the close: got %+v, want the outcome, closed by %s", got, sup.Username)
		}
		closed := caseEvents(t, db, cs.ID, "followup.closed")
		if len(closed) != 1 || closed[0]["followup_id"] != r.FollowUp.ID || closed[0]["outcome"] != "已约谈承办人并改进流程" {
			t.Errorf("followup.closed events: got %v, want one with the outcome", closed)
		}
		if open, err := db.FollowUps(ctx, sup, true, 100); err != nil || len(open) != 0 {
			t.Errorf("open follow-ups after the close: got %d (%v), want 0", len(open), err)
		}
		if n, err := db.VerifyAudit(ctx); err != nil || n == 0 {
			t.Errorf("audit chain: %d events, %v; want it intact", n, err)
		}
	})
}

// TestUrgentHeadsQueue (both databases): the case marked urgent heads the
// queue's first page; cleared, it goes back to its place by due time; the
// mark ends with the countersign and the withdrawal.
func TestUrgentHeadsQueue(t *testing.T) {
	forDialects(t, func(t *testing.T, dsn string, db *storage.DB) {
		ctx := context.Background()
		now := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
		db.SetClock(func() time.Time { now = now.Add(time.Second); return now })
		f := newInReview(t, db)
		sup, err := db.CreateUser(ctx, "sup", "correct horse battery", domain.RoleSupervisor, "", "binhai")
		if err != nil {
			t.Fatal(err)
		}
		// Three submitted cases a day apart: the oldest is due first.
		var cases []*domain.Case
		for range 3 {
			now = now.Add(24 * time.Hour)
			cases = append(cases, submitted(t, db, f.applicant))
		}
		order := func() []string {
			t.Helper()
			list, _, err := db.FindCases(ctx, sup, storage.CaseQuery{Limit: 10})
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, c := range list {
				out = append(out, c.Number)
			}
			return out
		}
		want := []string{f.cs.Number, cases[0].Number, cases[1].Number, cases[2].Number}
		if got := order(); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("queue before: got %v, want %v", got, want)
		}
		_, err = db.SetUrgent(ctx, cases[2], f.applicant, domain.UrgentInput{Reason: "x", TargetHours: 4})
		wantCode(t, "the applicant marking urgent", err, domain.ErrForbidden, domain.CodeNotPermitted)
		_, err = db.SetUrgent(ctx, cases[2], sup, domain.UrgentInput{Reason: "抗洪抢险", TargetHours: 0})
		wantCode(t, "a target of 0 hours", err, domain.ErrInvalid, domain.CodeUrgentTargetInvalid)
		marked, err := db.SetUrgent(ctx, cases[2], sup, domain.UrgentInput{Reason: " 抗洪抢险 ", TargetHours: 4})
		if err != nil {
			t.Fatal(err)
		}
		if u := marked.Urgent; u == nil || !u.Active || u.Reason != "抗洪抢险" || u.TargetHours != 4 || !u.TargetAt.Equal(u.SetAt.Add(4*time.Hour)) {
			t.Fatalf("urgent mark: got %+v, want active, 抗洪抢险, 4 h", u)
		}
		got := order()
		if len(got) != 4 || got[0] != cases[2].Number {
			t.Fatalf("queue with %s urgent: got %v, want it first", cases[2].Number, got)
		}
		set := caseEvents(t, db, cases[2].ID, "case.urgent_set")
		if len(set) != 1 || set[0]["reason"] != "抗洪抢险" || set[0]["target_hours"] != float64(4) {
			t.Errorf("case.urgent_set events: got %v, want one with reason and target_hours 4", set)
		}
		// Paging through the cursor keeps the urgent case first and every
		// case once.
		page, next, err := db.FindCases(ctx, sup, storage.CaseQuery{Limit: 1})
		if err != nil || len(page) != 1 || page[0].ID != cases[2].ID || next == nil {
			t.Fatalf("first page of one: got %v %v, want %s and a cursor", page, err, cases[2].Number)
		}
		seen := map[string]bool{page[0].ID: true}
		for next != nil {
			if page, next, err = db.FindCases(ctx, sup, storage.CaseQuery{Limit: 1, After: next}); err != nil {
				t.Fatal(err)
			}
			for _, c := range page {
				if seen[c.ID] {
					t.Errorf("case %s came twice through the cursor", c.Number)
				}
				seen[c.ID] = true
			}
		}
		if len(seen) != 4 {
			t.Errorf("the cursor walk reached %d cases, want 4", len(seen))
		}
		cleared, err := db.ClearUrgent(ctx, cases[2], sup)
		if err != nil {
			t.Fatal(err)
		}
		if cleared.Urgent != nil {
			t.Errorf("urgent after clearing: got %+v, want none", cleared.Urgent)
		}
		_, err = db.ClearUrgent(ctx, cases[2], sup)
		wantCode(t, "clearing twice", err, domain.ErrConflict, domain.CodeCaseNotUrgent)
		if n := len(caseEvents(t, db, cases[2].ID, "case.urgent_cleared")); n != 1 {
			t.Errorf("case.urgent_cleared events: got %d, want 1", n)
		}
		want = []string{f.cs.Number, cases[0].Number, cases[1].Number, cases[2].Number}
		if got := order(); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("queue after clearing: got %v, want %v", got, want)
		}
		// A withdrawn urgent case keeps its mark on record but leaves the
		// head of the queue.
		if _, err := db.SetUrgent(ctx, cases[2], sup, domain.UrgentInput{Reason: "r", TargetHours: 2}); err != nil {
			t.Fatal(err)
		}
		w, err := db.WithdrawCase(ctx, cases[2], f.applicant)
		if err != nil {
			t.Fatal(err)
		}
		if w.Urgent == nil || w.Urgent.Active {
			t.Errorf("urgent mark of the withdrawn case: got %+v, want kept, inactive", w.Urgent)
		}
		if got := order(); len(got) != 4 || got[0] != f.cs.Number {
			t.Errorf("queue after the withdrawal: got %v, want %s first", got, f.cs.Number)
		}
	})
}
