package storage

import (
	"context"
	"siteinspect/domain"
	"testing"
	"time"
)

// A write that shares a batch (groupTx) ends like any other write
// transaction (finishTx): an event that calls for a notification gets it,
// on SQLite's batches as on PostgreSQL's.
func TestGroupedWriteNotifies(t *testing.T) {
	d, err := openTestDB(t)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx := context.Background()
	if err := d.SeedPermitTypes(ctx); err != nil {
		t.Fatal(err)
	}
	app, err := d.CreateUser(ctx, "applicant", "correct horse battery", domain.RoleApplicant, "", "Acme")
	if err != nil {
		t.Fatal(err)
	}
	cs, err := d.CreateCase(ctx, app, "binhai", "BH", time.UTC, domain.NewCase{PermitType: "hotel", SiteName: "s", SiteAddress: "a"})
	if err != nil {
		t.Fatal(err)
	}
	count := func() int {
		var n int
		if err := d.sql.QueryRowContext(ctx, `SELECT COUNT(*) FROM notifications WHERE user_id = ? AND kind = ?`, app.ID, domain.NotifySubmitted).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := count()
	err = d.groupTx(ctx, cs.ID, func(ctx context.Context, tx *wtx) error {
		_, err := appendAudit(ctx, tx, time.Now().UTC(), Audit{CaseID: cs.ID, ActorID: app.ID, Action: "case.status", Target: cs.ID,
			Data: map[string]any{"from": string(domain.StatusDraft), "to": string(domain.StatusSubmitted)}})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := count() - before; got != 1 {
		t.Fatalf("notifications of the grouped write's event: got %d, want 1", got)
	}
}
