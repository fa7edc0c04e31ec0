package storage_test

import (
	"context"
	"siteinspect/domain"
	"siteinspect/storage"
	"testing"
)

// A case belongs to the company that filed it. If the filer's own company
// later differs (no API changes a user's company, but an edit by hand or
// an import can), the policy in Go (Case.Relations, from the case as read)
// and the statements (visibilitySQL, grantSQL: cases.applicant_org) still
// name the same company: the filer's old colleagues keep the case, their
// new ones never get it.
func TestCaseCompanyIsTheFilers(t *testing.T) {
	forDialects(t, func(t *testing.T, dsn string, a *storage.DB) {
		ctx := context.Background()
		f := newInReview(t, a)
		colleague, err := a.CreateUser(ctx, "colleague", "correct horse battery", domain.RoleApplicant, "", "Acme")
		if err != nil {
			t.Fatal(err)
		}
		stranger, err := a.CreateUser(ctx, "stranger", "correct horse battery", domain.RoleApplicant, "", "Other Co")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.SQL().ExecContext(ctx, `UPDATE users SET org = ? WHERE id = ?`, "Other Co", f.applicant.ID); err != nil {
			t.Fatal(err)
		}
		cs, err := a.Case(ctx, f.cs.ID)
		if err != nil {
			t.Fatal(err)
		}
		if cs.Applicant.Org != "Acme" {
			t.Errorf("the case's company: got %q, want Acme (the filer's when it was filed)", cs.Applicant.Org)
		}
		listed := func(u *domain.User) bool {
			list, err := a.ListCases(ctx, u, "", 100)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range list {
				if c.ID == cs.ID {
					return true
				}
			}
			return false
		}
		for _, c := range []struct {
			name string
			u    *domain.User
			want bool
		}{{"a colleague at the filing company", colleague, true}, {"the new company's applicant", stranger, false}} {
			if got := cs.VisibleTo(c.u); got != c.want {
				t.Errorf("%s, by the policy in Go: visible %v, want %v", c.name, got, c.want)
			}
			if got := listed(c.u); got != c.want {
				t.Errorf("%s, by the statements: listed %v, want %v", c.name, got, c.want)
			}
		}
	})
}
