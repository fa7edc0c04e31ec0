package harness

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"siteinspect/domain"
	"siteinspect/storage"
)

// AuditChain makes a data folder whose audit chain holds n events (n
// cases opened) and returns it.
func AuditChain(tb testing.TB, n int) string {
	tb.Helper()
	ctx := context.Background()
	dir := tb.TempDir()
	db, err := storage.OpenDB(ctx, filepath.Join(dir, "siteinspect.db"))
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	db.SetPasswordCost(4)
	db.SetCompanyDailyCases(n + 1) // one company opens them all at once
	if err := db.SeedPermitTypes(ctx); err != nil {
		tb.Fatal(err)
	}
	u, err := db.CreateUser(ctx, "applicant", "a long enough password", domain.RoleApplicant, "", "Acme")
	if err != nil {
		tb.Fatal(err)
	}
	for i := range n {
		if _, err := db.CreateCase(ctx, u, "binhai", "BH", time.UTC, domain.NewCase{PermitType: "hotel", SiteName: fmt.Sprint("site ", i), SiteAddress: "a"}); err != nil {
			tb.Fatal(err)
		}
	}
	return dir
}
