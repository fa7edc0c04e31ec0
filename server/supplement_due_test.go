package server

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"siteinspect/domain"
)

// TestSupplementDueBounded: a supplement request's supplement_due may be
// at most the end of the office day a year (domain.MaxPermitDays) from
// today, the longest supplement_days a permit type may have; later is
// refused with 400 due_too_far and the case stays in review. The day is
// the office's: at 04:00 in Shanghai, "today" is already Shanghai's.
func TestSupplementDueBounded(t *testing.T) {
	m := newMatrix(t)
	ctx := context.Background()
	f := m.build(domain.StatusInReview)
	// A Wednesday, 15:00 UTC (the matrix's office is on UTC).
	m.db.SetClock(func() time.Time { return time.Date(2026, 12, 2, 15, 0, 0, 0, time.UTC) })
	path := "/api/v1/cases/" + f.cs.ID + "/decision"
	body := func(due string) string {
		return `{"outcome":"request_supplement","summary":"请补充消防验收合格证明","owed":["消防安全检查合格证明"],"supplement_due":"` + due + `"}`
	}
	for _, due := range []string{"2027-12-03T00:00:00Z", "2027-12-03T08:00:00+08:00", "2062-12-02T23:59:59+08:00"} {
		m.expectCall("insp", "POST", path, body(due), http.StatusBadRequest, "due_too_far")
		if cs := m.reload(f.cs); cs.Status != domain.StatusInReview {
			t.Errorf("after a refused due %s: got status %s, want in_review", due, cs.Status)
		}
	}
	m.expectCall("insp", "POST", path, body("2027-12-02T23:59:59Z"), http.StatusOK, "")
	owed, err := m.db.OwedItems(ctx, f.cs.ID)
	m.must(err)
	if want := time.Date(2027, 12, 2, 23, 59, 59, 0, time.UTC); len(owed) != 1 || !owed[0].DueAt.Equal(want) {
		t.Errorf("owed after the last day allowed: got %+v, want one item due %s", owed, want)
	}

	// In Shanghai it is Thursday 04:00: the year runs from Shanghai's day.
	sh, err := time.LoadLocation("Asia/Shanghai")
	m.must(err)
	m.db.SetClock(func() time.Time { return time.Date(2026, 12, 2, 20, 0, 0, 0, time.UTC) })
	g := m.build(domain.StatusInReview)
	decide := func(due time.Time) error {
		_, err := m.db.Decide(ctx, m.reload(g.cs), m.users["insp"], sh, domain.DecisionInput{Outcome: "request_supplement", Summary: "more", Owed: []string{"fire certificate"}, SupplementDue: &due})
		return err
	}
	var coded *domain.Error
	if err := decide(time.Date(2027, 12, 4, 0, 0, 0, 0, sh)); !errors.As(err, &coded) || coded.Code != "due_too_far" {
		t.Errorf("Shanghai, a day past the year: got %v, want due_too_far", err)
	}
	if err := decide(time.Date(2027, 12, 3, 23, 59, 59, 0, sh)); err != nil {
		t.Errorf("Shanghai, the year's last office day: got %v, want it accepted", err)
	}
}
