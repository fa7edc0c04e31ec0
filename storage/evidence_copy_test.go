package storage_test

import (
	"context"
	"errors"
	"reflect"
	"siteinspect/domain"
	"siteinspect/internal/testenv"
	"siteinspect/storage"
	"testing"
)

// EvidenceWithCase keeps a copy of what it read only once nothing a create
// reads of the item can change (ready, on a case past its draft); each
// caller gets a copy of its own; and the copy is never taken for the
// case's truth: after another process gives the case to a second
// inspector, the copy still names the first, and a create by the first
// that starts from it is refused by the insert.
func TestRecentEvidenceWithCase(t *testing.T) {
	forDialects(t, func(t *testing.T, dsn string, a *storage.DB) {
		ctx := context.Background()
		f := newInReview(t, a)
		ev := f.addEvidence(t, a, 1, f.inspector)[0]
		if ev.Status == domain.EvidenceReady {
			t.Fatalf("fixture: the new item is %s already, want it still processing", ev.Status)
		}
		if _, _, err := a.EvidenceWithCase(ctx, ev.ID); err != nil {
			t.Fatal(err)
		}
		if _, _, ok := a.RecentEvidenceWithCase(ev.ID); ok {
			t.Fatal("a copy of an item still processing (its media may change): want none")
		}
		dur, fps := int64(60_000), 25.0
		if err := a.SetEvidenceResult(ctx, ev.ID, domain.EvidenceReady, "", &domain.Media{DurationMS: &dur, FPS: &fps}, &domain.Derived{}); err != nil {
			t.Fatal(err)
		}
		readEv, readCase, err := a.EvidenceWithCase(ctx, ev.ID)
		if err != nil {
			t.Fatal(err)
		}
		gotEv, gotCase, ok := a.RecentEvidenceWithCase(ev.ID)
		if !ok || !reflect.DeepEqual(gotEv, readEv) || !reflect.DeepEqual(gotCase, readCase) {
			t.Fatalf("copy of a ready item: got %v %+v %+v, want what was read: %+v %+v", ok, gotEv, gotCase, readEv, readCase)
		}
		gotCase.Status, gotEv.Filename = domain.StatusRejected, "changed.mp4"
		readCase.Inspector = nil
		if again, againCase, _ := a.RecentEvidenceWithCase(ev.ID); againCase.Status != domain.StatusInReview || again.Filename == "changed.mp4" || againCase.Inspector == nil {
			t.Fatalf("a caller's change reached the copy: got %s %q %v", againCase.Status, again.Filename, againCase.Inspector)
		}

		// Another process gives the case to a second inspector.
		b := testenv.OpenDBAt(t, dsn)
		admin, err := b.CreateUser(ctx, "admin", "correct horse battery", domain.RoleAdmin, "", "")
		if err != nil {
			t.Fatal(err)
		}
		second, err := b.CreateUser(ctx, "inspector2", "correct horse battery", domain.RoleInspector, "", "binhai")
		if err != nil {
			t.Fatal(err)
		}
		fresh, err := b.Case(ctx, f.cs.ID)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.AssignCase(ctx, fresh, admin, second.ID, ""); err != nil {
			t.Fatal(err)
		}
		stale, staleCase, ok := a.RecentEvidenceWithCase(ev.ID)
		if !ok || staleCase.Inspector == nil || staleCase.Inspector.ID != f.inspector.ID {
			t.Fatalf("the copy after another process's assignment: got %v %+v, want the first inspector still (nobody tells this process)", ok, staleCase.Inspector)
		}
		start := int64(1000)
		_, err = a.CreateAnnotation(ctx, staleCase, stale, f.inspector, domain.AnnotationInput{Body: "from the copy", StartMS: &start})
		if !errors.Is(err, domain.ErrNotFound) {
			t.Fatalf("create by the replaced inspector from the copy: got %v, want ErrNotFound (the case is no longer theirs to see) from the insert's own check", err)
		}
		notes, err := a.ListAnnotations(ctx, domain.AnnotationFilter{CaseID: f.cs.ID})
		if err != nil {
			t.Fatal(err)
		}
		if len(notes) != 0 {
			t.Fatalf("annotations after the refused create: got %d, want 0", len(notes))
		}
		// A fresh read replaces the copy.
		if _, readCase, err = a.EvidenceWithCase(ctx, ev.ID); err != nil {
			t.Fatal(err)
		}
		if _, now, _ := a.RecentEvidenceWithCase(ev.ID); now.Inspector == nil || now.Inspector.ID != second.ID {
			t.Fatalf("the copy after a fresh read: got %+v, want the second inspector", now.Inspector)
		}
	})
}

// What lets a copy of a ready item be trusted (evidence_copy.go): items
// change only in a draft, and a case never returns to its draft. If the
// lifecycle or the policy ever changes either, this fails, and the copy's
// rule must be looked at again.
func TestEvidenceCopyAssumptions(t *testing.T) {
	all := []domain.Status{domain.StatusDraft, domain.StatusSubmitted, domain.StatusInReview, domain.StatusSupplementRequested,
		domain.StatusPendingCountersign, domain.StatusApproved, domain.StatusRejected, domain.StatusWithdrawn}
	for _, s := range all {
		if domain.CanMove(s, domain.StatusDraft) {
			t.Errorf("a case may move from %s back to draft", s)
		}
	}
	if got := domain.StatesFor(domain.ActionEditEvidence); len(got) != 1 || got[0] != domain.StatusDraft {
		t.Errorf("states in which evidence may be removed or re-slotted: got %v, want draft only", got)
	}
}
