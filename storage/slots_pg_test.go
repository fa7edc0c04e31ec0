package storage_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"siteinspect/domain"
	"siteinspect/storage"
)

// TestSlotsAndRemoval runs the draft's document slots on SQLite and
// PostgreSQL: with a version whose slots are required, submission is
// refused (slots_missing) until each material holds a file; a removed
// file leaves the list and the count, its audit event names it, and once
// submitted a removal or refile is refused (evidence_locked).
func TestSlotsAndRemoval(t *testing.T) {
	forDialects(t, func(t *testing.T, dsn string, db *storage.DB) {
		ctx := context.Background()
		admin, err := db.CreateUser(ctx, "admin", "correct horse battery", domain.RoleAdmin, "", "")
		if err != nil {
			t.Fatal(err)
		}
		app, err := db.CreateUser(ctx, "app", "correct horse battery", domain.RoleApplicant, "", "Acme")
		if err != nil {
			t.Fatal(err)
		}
		pt, err := db.PermitType(ctx, "seal-engraving")
		if err != nil {
			t.Fatal(err)
		}
		in := *pt
		in.SlotsRequired = true
		if _, err := db.PublishPermitType(ctx, admin, pt.Code, pt.Version, in); err != nil {
			t.Fatal(err)
		}
		cs, err := db.CreateCase(ctx, app, "binhai", "BH", time.UTC, domain.NewCase{PermitType: pt.Code, SiteName: "s", SiteAddress: "a"})
		if err != nil {
			t.Fatal(err)
		}
		v, err := db.CasePermitType(ctx, cs)
		if err != nil || !v.SlotsRequired {
			t.Fatalf("case's version: got %+v, %v, want slots required", v, err)
		}
		// Each file a millisecond after the last: the list is in upload
		// order, and two in the same millisecond would go by random id.
		at := time.Now().UnixMilli()
		add := func(slot string) string {
			t.Helper()
			id := domain.NewID()
			at++
			if _, err := db.SQL().ExecContext(ctx, `INSERT INTO evidence (id, case_id, kind, filename, content_type, size, sha256, status, object_key, uploaded_by, created_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, id, cs.ID, string(domain.KindPDF), slot+".pdf", "application/pdf", 1000, fmt.Sprintf("%064x", 0),
				domain.EvidenceReady, "k/"+id, app.ID, at); err != nil {
				t.Fatal(err)
			}
			if _, err := db.SetEvidenceSlot(ctx, cs, app, id, slot); err != nil {
				t.Fatalf("file %s under %s: %v", id, slot, err)
			}
			return id
		}
		_, err = db.SetEvidenceSlot(ctx, cs, app, "nope", "营业执照")
		if !errors.Is(err, domain.ErrNotFound) {
			t.Fatalf("refile a missing item: got %v, want ErrNotFound", err)
		}
		licence, premises := add("营业执照"), add("经营场所证明")
		_, err = db.SetEvidenceSlot(ctx, cs, app, premises, "Floor plan")
		wantCode(t, "refile into another type's material", err, domain.ErrInvalid, domain.CodeSlotInvalid)

		submit := func() error {
			t.Helper()
			c, err := db.Case(ctx, cs.ID)
			if err != nil {
				t.Fatal(err)
			}
			_, err = db.SubmitCase(ctx, c, app, time.UTC)
			return err
		}
		wantCode(t, "submit with 从业人员名单 empty", submit(), domain.ErrInvalidState, domain.CodeSlotsMissing)
		staff := add("List of staff")
		if err := db.RemoveEvidence(ctx, cs, app, staff); err != nil {
			t.Fatal(err)
		}
		list, err := db.ListEvidence(ctx, cs.ID)
		if err != nil || len(list) != 2 || list[0].ID != licence || list[0].Slot != "营业执照" || list[1].ID != premises {
			t.Fatalf("evidence after the removal: got %d items (%v), want %s and %s", len(list), err, licence, premises)
		}
		if ev := caseEvents(t, db, cs.ID, "evidence.removed"); len(ev) != 1 || ev[0]["slot"] != "从业人员名单" {
			t.Fatalf("evidence.removed events: got %v, want one for 从业人员名单", ev)
		}
		wantCode(t, "submit after removing the staff list", submit(), domain.ErrInvalidState, domain.CodeSlotsMissing)
		add("从业人员名单")
		if err := submit(); err != nil {
			t.Fatalf("submit with every slot filled: %v", err)
		}
		c, err := db.Case(ctx, cs.ID)
		if err != nil || c.Status != domain.StatusSubmitted || c.EvidenceCount != 3 {
			t.Fatalf("submitted case: got %+v, %v, want submitted with 3 items", c, err)
		}
		wantCode(t, "remove after submission", db.RemoveEvidence(ctx, c, app, licence), domain.ErrInvalidState, domain.CodeEvidenceLocked)
		_, err = db.SetEvidenceSlot(ctx, c, app, licence, "从业人员名单")
		wantCode(t, "refile after submission", err, domain.ErrInvalidState, domain.CodeEvidenceLocked)
		// The same refusal when the case moved on after it was read.
		wantCode(t, "remove with a stale draft", db.RemoveEvidence(ctx, cs, app, licence), domain.ErrInvalidState, domain.CodeEvidenceLocked)
	})
}
