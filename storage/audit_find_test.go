package storage

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"siteinspect/domain"
)

// auditFixture is an office's trail beside another office's: two cases in
// binhai, one elsewhere, and logins by people of each, an admin and an
// applicant, one event a minute from 2026-03-01 09:00 Shanghai.
type auditFixture struct {
	d                   *DB
	loc                 *time.Location
	users               map[string]*domain.User
	caseA, caseB, caseX *domain.Case
}

func newAuditFixture(t *testing.T) *auditFixture {
	t.Helper()
	ctx := context.Background()
	d, err := openTestDB(t)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	if err := d.SeedPermitTypes(ctx); err != nil {
		t.Fatal(err)
	}
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, loc)
	d.SetClock(func() time.Time { now = now.Add(time.Minute); return now })
	f := &auditFixture{d: d, loc: loc, users: map[string]*domain.User{}}
	for _, u := range []struct{ name, role, org string }{
		{"app", "applicant", "Acme"}, {"insp", "inspector", "binhai"}, {"sup", "supervisor", "binhai"},
		{"admin", "admin", ""}, {"inspX", "inspector", "elsewhere"},
	} {
		usr, err := d.CreateUser(ctx, u.name, "password-"+u.name, domain.Role(u.role), "", u.org)
		if err != nil {
			t.Fatal(err)
		}
		f.users[u.name] = usr
	}
	open := func(office, prefix string) *domain.Case {
		cs, err := d.CreateCase(ctx, f.users["app"], office, prefix, loc, domain.NewCase{PermitType: "hotel", SiteName: "Harbour Hotel", SiteAddress: "1 Harbour Rd"})
		if err != nil {
			t.Fatal(err)
		}
		return cs
	}
	f.caseA, f.caseB, f.caseX = open("binhai", "BH"), open("binhai", "BH"), open("elsewhere", "EW")
	for _, a := range []Audit{
		{ActorID: f.users["insp"].ID, Action: "auth.login"},
		{ActorID: f.users["inspX"].ID, Action: "auth.login"},
		{ActorID: f.users["admin"].ID, Action: "auth.login"},
		{ActorID: f.users["app"].ID, Action: "auth.login"},
		{Action: "retention.purged"},
		{CaseID: f.caseA.ID, ActorID: f.users["insp"].ID, Action: "evidence.read", Target: "ev1"},
		{CaseID: f.caseX.ID, ActorID: f.users["inspX"].ID, Action: "evidence.read", Target: "evX"},
		{CaseID: f.caseB.ID, ActorID: f.users["insp"].ID, Action: "live.watched", Target: "ls1"},
		{CaseID: f.caseA.ID, ActorID: f.users["sup"].ID, Action: "bundle.downloaded"},
	} {
		if _, err := d.RecordAudit(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// find returns the seqs and actions of q's events, all pages walked with
// page size limit, and fails on a seq met twice or out of order.
func (f *auditFixture) find(t *testing.T, q AuditQuery, limit int) []string {
	t.Helper()
	q.Office, q.Limit = cmpOr(q.Office, "binhai"), limit
	var out []string
	var last int64
	for pages := 0; ; pages++ {
		if pages > 100 {
			t.Fatal("more than 100 pages: the cursor does not advance")
		}
		got, next, err := f.d.FindAudit(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) > limit {
			t.Fatalf("got a page of %d, want at most %d", len(got), limit)
		}
		for _, e := range got {
			if last != 0 && e.Seq >= last {
				t.Fatalf("got seq %d after %d, want newest first, each once", e.Seq, last)
			}
			last = e.Seq
			out = append(out, fmt.Sprintf("%s %s %s %s", e.Action, e.ActorName, e.CaseNumber, e.Target))
		}
		if next == 0 {
			return out
		}
		if next != last {
			t.Fatalf("got next %d, want the last seq shown %d", next, last)
		}
		q.Before = next
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func TestFindAuditOfficeAndFilters(t *testing.T) {
	f := newAuditFixture(t)
	a, b, x := f.caseA.Number, f.caseB.Number, f.caseX.Number
	all := []string{
		"bundle.downloaded sup " + a + " ",
		"live.watched insp " + b + " ls1",
		"evidence.read insp " + a + " ev1",
		"retention.purged   ",
		"auth.login admin  ",
		"auth.login insp  ",
		"case.created app " + b + " ",
		"case.created app " + a + " ",
	}
	for _, limit := range []int{1, 3, 100} {
		if got := f.find(t, AuditQuery{}, limit); !slices.Equal(got, all) {
			t.Errorf("binhai's trail in pages of %d:\ngot  %q\nwant %q", limit, got, all)
		}
	}
	// Each event's time is the clock's next minute; the time filters are
	// taken from the events themselves.
	evs, _, err := f.d.FindAudit(context.Background(), AuditQuery{Office: "binhai", Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	at := func(i int) time.Time { return evs[i].At }
	for _, tc := range []struct {
		name string
		q    AuditQuery
		want []string
	}{
		{"elsewhere's office", AuditQuery{Office: "elsewhere"}, []string{"evidence.read inspX " + x + " evX", "retention.purged   ",
			"auth.login admin  ", "auth.login inspX  ", "case.created app " + x + " "}},
		{"actor by username", AuditQuery{Actor: "insp"}, []string{all[1], all[2], all[5]}},
		{"actor by id", AuditQuery{Actor: f.users["sup"].ID}, []string{all[0]}},
		{"actor of another office", AuditQuery{Actor: "inspX"}, nil},
		{"unknown actor", AuditQuery{Actor: "nobody"}, nil},
		{"action", AuditQuery{Action: "auth.login"}, []string{all[4], all[5]}},
		{"action prefix", AuditQuery{Action: "case.*"}, []string{all[6], all[7]}},
		{"action prefix, LIKE wildcards literal", AuditQuery{Action: "case_*"}, nil},
		{"case by number", AuditQuery{Case: a}, []string{all[0], all[2], all[7]}},
		{"case by number, lower case", AuditQuery{Case: "bh" + a[2:]}, []string{all[0], all[2], all[7]}},
		{"case by id", AuditQuery{Case: f.caseB.ID}, []string{all[1], all[6]}},
		{"another office's case", AuditQuery{Case: x}, nil},
		{"from", AuditQuery{From: at(1)}, []string{all[0], all[1]}},
		{"to", AuditQuery{To: at(6)}, []string{all[7]}},
		{"from and to, and actor", AuditQuery{From: at(5), To: at(0), Actor: "insp"}, []string{all[1], all[2], all[5]}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := f.find(t, tc.q, 2)
			if !slices.Equal(got, tc.want) {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}
