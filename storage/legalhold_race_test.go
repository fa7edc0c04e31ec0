package storage_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"siteinspect/domain"
	"siteinspect/storage"
)

// TestLegalHoldConcurrentSetLift: set and lift sent many at once end as if
// sent one after another: in each burst exactly one succeeds and the others
// are refused as already set (or not set), and the case's audit trail
// alternates set, lifted, set, … with one event per success. On
// PostgreSQL the hold's transaction reads the latest hold event and
// appends the next; before it took the case's row lock, concurrent sets
// all read "not held" and all appended a set event.
func TestLegalHoldConcurrentSetLift(t *testing.T) {
	ctx := context.Background()
	f := newRetentionFixture(t, time.Hour)
	cs, _ := f.caseWithEvidence(t, true)
	const rounds, burst = 6, 8
	for r := 0; r < rounds; r++ {
		on := r%2 == 0
		var wg sync.WaitGroup
		errs := make([]error, burst)
		start := make(chan struct{})
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				_, errs[i] = f.db.SetLegalHold(ctx, cs, f.admin, on, fmt.Sprintf("round %d, call %d", r, i), 1)
			}()
		}
		close(start)
		wg.Wait()
		ok := 0
		want := storage.CodeHoldAlreadySet
		if !on {
			want = storage.CodeHoldNotSet
		}
		for _, err := range errs {
			var se *domain.Error
			switch {
			case err == nil:
				ok++
			case errors.As(err, &se) && se.Code == want:
			default:
				t.Errorf("round %d (on %v): got %v, want success or %s", r, on, err, want)
			}
		}
		if ok != 1 {
			t.Errorf("round %d (on %v): %d calls succeeded, want 1", r, on, ok)
		}
	}
	list, err := f.db.CaseAudit(ctx, cs.ID, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var trail []string
	for _, e := range list {
		if e.Action == storage.AuditLegalHoldSet || e.Action == storage.AuditLegalHoldLifted {
			trail = append(trail, e.Action)
		}
	}
	consistent := len(trail) == rounds
	for i, a := range trail {
		if want := []string{storage.AuditLegalHoldSet, storage.AuditLegalHoldLifted}[i%2]; a != want {
			consistent = false
		}
	}
	if !consistent {
		t.Errorf("hold events: got %v, want %d alternating set and lifted", trail, rounds)
	}
	if h, err := f.db.LegalHold(ctx, cs.ID); err != nil || h.On {
		t.Errorf("hold after the last lift: got %+v (%v), want lifted", h, err)
	}
}
