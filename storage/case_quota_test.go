package storage_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"siteinspect/domain"
)

// TestCaseCompanyQuota: a company opens at most so many cases in 24 hours
// (--company-daily-cases), over all its applicants, drafts included: each
// takes the office's next case number and lands in every officer's search,
// so an applicant's loop must not be able to burn through the year's
// numbers. Past the bound, creating a case is ErrTooMany
// case_quota_exceeded (429), with a Retry-After of when the oldest of
// those cases leaves the 24 hours, and no number is taken; another company
// is not held by it, and a day later the company may open cases again.
func TestCaseCompanyQuota(t *testing.T) {
	f := newFixture(t, "disk", nil)
	ctx := context.Background()
	now := time.Now().UTC().Add(48 * time.Hour).Truncate(time.Minute)
	f.db.SetClock(func() time.Time { return now })
	f.db.SetCompanyDailyCases(5)
	colleague, err := f.db.CreateUser(ctx, "colleague", "correct horse battery", domain.RoleApplicant, "", f.user.Org)
	if err != nil {
		t.Fatal(err)
	}
	open := func(u *domain.User, n int) (*domain.Case, error) {
		return f.db.CreateCase(ctx, u, "binhai", "BH", time.UTC, domain.NewCase{PermitType: "hotel", SiteName: fmt.Sprint("site ", n), SiteAddress: "a"})
	}
	// The fixture's own case was opened at the real time, two days before
	// the clock set above: it no longer counts.
	var last *domain.Case
	for i := range 5 {
		now = now.Add(time.Minute)
		by := f.user
		if i%2 == 1 {
			by = colleague // the company's applicants share the bound
		}
		if last, err = open(by, i); err != nil {
			t.Fatalf("case %d of 5: %v", i+1, err)
		}
	}
	now = now.Add(time.Hour)
	_, err = open(colleague, 6)
	var de *domain.Error
	if !errors.Is(err, domain.ErrTooMany) || !errors.As(err, &de) || de.Code != "case_quota_exceeded" {
		t.Fatalf("sixth case in a day: got %v, want ErrTooMany case_quota_exceeded", err)
	}
	// The first of the five was opened 1 h 4 min ago; it leaves the day in
	// 22 h 56 min.
	if want := 22*time.Hour + 56*time.Minute; de.RetryAfter != want {
		t.Errorf("Retry-After: got %s, want %s", de.RetryAfter, want)
	}
	// The refusal took no case number: the next case, elsewhere, has the
	// number after the last one given.
	other, err := f.db.CreateUser(ctx, "other", "correct horse battery", domain.RoleApplicant, "", "Other Co")
	if err != nil {
		t.Fatal(err)
	}
	cs, err := open(other, 7)
	if err != nil {
		t.Fatalf("another company: %v", err)
	}
	if want := nextNumber(t, last.Number); cs.Number != want {
		t.Errorf("the next case's number: got %s, want %s (none taken by the refusal)", cs.Number, want)
	}
	// A day after the first, one case is free again.
	now = now.Add(22*time.Hour + 56*time.Minute)
	if _, err := open(f.user, 8); err != nil {
		t.Fatalf("a day later: %v", err)
	}
	if _, err := open(f.user, 9); !errors.Is(err, domain.ErrTooMany) {
		t.Fatalf("the next one: got %v, want ErrTooMany", err)
	}
}

// nextNumber is the case number after n (BH-2026-000007 → BH-2026-000008).
func nextNumber(t *testing.T, n string) string {
	t.Helper()
	var year, seq int
	if _, err := fmt.Sscanf(n, "BH-%d-%d", &year, &seq); err != nil {
		t.Fatalf("case number %q: %v", n, err)
	}
	return fmt.Sprintf("BH-%d-%06d", year, seq+1)
}
