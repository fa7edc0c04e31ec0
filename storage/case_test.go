package storage

import (
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
		got := DueAt(at(tt.submitted).UTC(), tt.days, sh)
		if want := at(tt.want).Add(59 * time.Second); !got.Equal(want) {
			t.Errorf("DueAt(%s, %d): got %s, want %s", tt.submitted, tt.days, got.In(sh), want)
		}
	}
}

func TestLifecycle(t *testing.T) {
	allowed := map[[2]Status]bool{
		{StatusDraft, StatusSubmitted}: true, {StatusDraft, StatusWithdrawn}: true,
		{StatusSubmitted, StatusInReview}: true, {StatusSubmitted, StatusWithdrawn}: true,
		{StatusInReview, StatusSupplementRequested}: true, {StatusInReview, StatusPendingCountersign}: true,
		{StatusSupplementRequested, StatusSubmitted}: true,
		{StatusPendingCountersign, StatusApproved}:   true, {StatusPendingCountersign, StatusRejected}: true, {StatusPendingCountersign, StatusInReview}: true,
	}
	all := []Status{StatusDraft, StatusSubmitted, StatusInReview, StatusSupplementRequested, StatusPendingCountersign, StatusApproved, StatusRejected, StatusWithdrawn}
	for _, from := range all {
		for _, to := range all {
			if got := CanMove(from, to); got != allowed[[2]Status{from, to}] {
				t.Errorf("CanMove(%s, %s): got %v, want %v", from, to, got, !got)
			}
		}
	}
}
