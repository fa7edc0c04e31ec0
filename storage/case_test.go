package storage

import (
	"siteinspect/domain"
	"testing"
	"time"
)

func TestDueAt(t *testing.T) {
	sh, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	at := func(s string) time.Time {
		v, err := time.ParseInLocation("2006-01-02 15:04", s, sh)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, tt := range []struct {
		submitted string
		days      int
		want      string
	}{
		{"2026-11-26 09:30", 0, "2026-11-26 23:59"}, // Thursday: same day
		{"2026-11-26 23:30", 1, "2026-11-27 23:59"}, // Thursday → Friday
		{"2026-11-27 10:00", 1, "2026-11-30 23:59"}, // Friday → Monday
		{"2026-11-28 10:00", 0, "2026-11-30 23:59"}, // Saturday: the next working day
		{"2026-11-26 10:00", 5, "2026-12-03 23:59"}, // five working days
		// 01:00 in Shanghai is still the previous day in UTC: the office's day counts.
		{"2026-11-27 01:00", 0, "2026-11-27 23:59"},
	} {
		got := domain.DueAt(at(tt.submitted).UTC(), tt.days, sh)
		if want := at(tt.want).Add(59 * time.Second); !got.Equal(want) {
			t.Errorf("DueAt(%s, %d): got %s, want %s", tt.submitted, tt.days, got.In(sh), want)
		}
	}
}

func TestLifecycle(t *testing.T) {
	allowed := map[[2]domain.Status]bool{
		{domain.StatusDraft, domain.StatusSubmitted}: true, {domain.StatusDraft, domain.StatusWithdrawn}: true,
		{domain.StatusSubmitted, domain.StatusInReview}: true, {domain.StatusSubmitted, domain.StatusWithdrawn}: true,
		{domain.StatusInReview, domain.StatusSupplementRequested}: true, {domain.StatusInReview, domain.StatusPendingCountersign}: true,
		{domain.StatusSupplementRequested, domain.StatusSubmitted}: true,
		{domain.StatusPendingCountersign, domain.StatusApproved}:   true, {domain.StatusPendingCountersign, domain.StatusRejected}: true, {domain.StatusPendingCountersign, domain.StatusInReview}: true,
	}
	all := []domain.Status{domain.StatusDraft, domain.StatusSubmitted, domain.StatusInReview, domain.StatusSupplementRequested, domain.StatusPendingCountersign, domain.StatusApproved, domain.StatusRejected, domain.StatusWithdrawn}
	for _, from := range all {
		for _, to := range all {
			if got := domain.CanMove(from, to); got != allowed[[2]domain.Status{from, to}] {
				t.Errorf("CanMove(%s, %s): got %v, want %v", from, to, got, !got)
			}
		}
	}
}
