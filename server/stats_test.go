package server

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"siteinspect/domain"
	"siteinspect/internal/testenv"
	"siteinspect/storage"
	"siteinspect/storage/objects"
)

// statsEnv is a server in Asia/Shanghai on a database whose clock the test
// sets, so that every event lands at a chosen instant.
type statsEnv struct {
	t      *testing.T
	s      *Server
	db     *storage.DB
	ups    *storage.Uploads
	loc    *time.Location
	now    time.Time
	users  map[string]*domain.User
	tokens map[string]string
}

func newStatsEnv(t *testing.T) *statsEnv {
	t.Helper()
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	e := &statsEnv{t: t, db: testenv.NewDB(t), loc: loc, users: map[string]*domain.User{}, tokens: map[string]string{}}
	e.now = time.Date(2026, 3, 1, 9, 0, 0, 0, loc)
	e.db.SetClock(func() time.Time { return e.now })
	d, err := objects.NewDisk(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	e.ups, err = storage.NewUploads(e.db, d, domain.UploadConfig{SpoolDir: t.TempDir(), PartSize: objects.MinPartSize})
	if err != nil {
		t.Fatal(err)
	}
	e.s, err = New(Config{DB: e.db, Objects: d, Uploads: e.ups, Office: "binhai", NumberPrefix: "BH", Location: loc,
		LoginLimit: RateLimit{Failures: 100, Window: time.Minute}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.s.Close(context.Background()) })
	for _, u := range []struct{ name, role, org string }{
		{"appA", "applicant", "Acme"}, {"insp", "inspector", "binhai"}, {"insp2", "inspector", "binhai"},
		{"rev", "reviewer", "binhai"}, {"rev2", "reviewer", "binhai"}, {"admin", "admin", ""},
		{"sup", "supervisor", "binhai"}, {"supOther", "supervisor", "elsewhere"},
	} {
		usr, err := e.db.CreateUser(context.Background(), u.name, "password-"+u.name, domain.Role(u.role), "", u.org)
		e.must(err)
		tok, _, err := e.db.CreateSession(context.Background(), usr.ID, 24*365*time.Hour)
		e.must(err)
		e.users[u.name], e.tokens[u.name] = usr, tok
	}
	return e
}

func (e *statsEnv) must(err error) {
	e.t.Helper()
	if err != nil {
		e.t.Fatal(err)
	}
}

// at sets the clock to day (YYYY-MM-DD) hh:mm in Shanghai.
func (e *statsEnv) at(day, hm string) {
	e.t.Helper()
	t, err := time.ParseInLocation("2006-01-02 15:04", day+" "+hm, e.loc)
	e.must(err)
	e.now = t
}

func (e *statsEnv) reload(cs *domain.Case) *domain.Case {
	e.t.Helper()
	c, err := e.db.Case(context.Background(), cs.ID)
	e.must(err)
	return c
}

// submit opens a case with one video and submits it at day hm.
func (e *statsEnv) submit(day, hm string) *domain.Case {
	e.t.Helper()
	ctx := context.Background()
	e.at(day, hm)
	cs, err := e.db.CreateCase(ctx, e.users["appA"], "binhai", "BH", e.loc, domain.NewCase{PermitType: "hotel", SiteName: "Harbour Hotel", SiteAddress: "1 Harbour Rd"})
	e.must(err)
	up, err := e.ups.Create(ctx, cs, e.users["appA"], domain.UploadSpec{Length: 2000, Metadata: map[string]string{"filename": "site.mp4", "filetype": "video/mp4"}})
	e.must(err)
	_, _, err = e.ups.Append(ctx, up.ID, 0, bytes.NewReader(mp4(2000)), nil)
	e.must(err)
	_, err = e.db.SubmitCase(ctx, e.reload(cs), e.users["appA"], e.loc)
	e.must(err)
	return e.reload(cs)
}

// take gives the case to inspector at the clock's time.
func (e *statsEnv) take(cs *domain.Case, inspector string) {
	e.t.Helper()
	_, err := e.db.AssignCase(context.Background(), e.reload(cs), e.users[inspector], "", "")
	e.must(err)
}

// decide records every finding and the inspector's decision at day hm.
func (e *statsEnv) decide(cs *domain.Case, inspector, day, hm, outcome string, owed []string, due *time.Time) {
	e.t.Helper()
	ctx := context.Background()
	e.at(day, hm)
	pt, err := e.db.PermitType(ctx, "hotel")
	e.must(err)
	if outcome != "request_supplement" {
		for _, item := range pt.Checklist {
			_, err = e.db.SetFinding(ctx, e.reload(cs), e.users[inspector], domain.Finding{ChecklistItem: item.ID, Result: "pass"})
			e.must(err)
		}
	}
	_, err = e.db.Decide(ctx, e.reload(cs), e.users[inspector], e.loc, domain.DecisionInput{Outcome: outcome, Summary: "seen", Owed: owed, SupplementDue: due})
	e.must(err)
}

// countersign answers the pending decision at day hm.
func (e *statsEnv) countersign(cs *domain.Case, reviewer, day, hm string, agree bool) {
	e.t.Helper()
	e.at(day, hm)
	_, err := e.db.Countersign(context.Background(), e.reload(cs), e.users[reviewer], agree, "not yet")
	e.must(err)
}

func (e *statsEnv) get(user, path string) (int, []byte) {
	r := httptest.NewRequest(http.MethodGet, path, nil)
	r.Header.Set("Authorization", "Bearer "+e.tokens[user])
	w := httptest.NewRecorder()
	e.s.ServeHTTP(w, r)
	return w.Code, w.Body.Bytes()
}

func (e *statsEnv) stats(from, to string) *domain.Stats {
	e.t.Helper()
	code, body := e.get("sup", "/api/v1/stats?from="+from+"&to="+to)
	if code != http.StatusOK {
		e.t.Fatalf("stats %s..%s: got %d %s, want 200", from, to, code, body)
	}
	var st domain.Stats
	e.must(json.Unmarshal(body, &st))
	return &st
}

func officer(st *domain.Stats, username string) domain.OfficerStats {
	for _, o := range st.Officers {
		if o.Username == username {
			return o
		}
	}
	return domain.OfficerStats{}
}

// TestStatsHandCount seeds cases through the storage calls with the clock
// at chosen Shanghai times (the test machine's zone is irrelevant: the
// server is told the office's) and compares the figures with a hand count.
//
// Office day 2026-03-10 in Asia/Shanghai is 2026-03-09T16:00Z to
// 2026-03-10T16:00Z:
//
//	A  submitted 03-10 09:00, insp decides 11:00, rev agrees 15:00     same day; 2 h, 4 h; a live inspection 10:00
//	B  submitted 03-10 23:00, insp decides 23:30, rev agrees 03-11 00:30 (still 03-10 in UTC): decided on 03-11, not same day
//	C  submitted 03-10 00:30 (03-09 in UTC), insp2 decides 01:00, rev2 agrees 02:00   same day; 0.5 h, 1 h
//	D  submitted 03-10 10:00, insp decides 10:30, rev returns 12:00, insp decides 13:00, rev agrees 14:00
//	   same day; submission → the countersigned decision 3 h; answers 1.5 h and 1 h
//	H  submitted 03-09 22:00, insp decides 03-10 09:30, rev agrees 10:00   decided 03-10, not same day; 11.5 h, 0.5 h
//	E  submitted 03-05, insp approves 03-05 10:00 owing a certificate due 03-07 10:00, rev agrees 11:00; never handed in:
//	   overdue by 03-11 00:00 − 03-07 10:00 = 3 d 14 h = 3.58 days at the end of 03-10
//	F  submitted 03-10 11:00, insp asks for a supplement due 12:00 at 11:30: overdue, but not a commitment
func TestStatsHandCount(t *testing.T) {
	e := newStatsEnv(t)
	ctx := context.Background()
	// E, the overdue commitment.
	csE := e.submit("2026-03-05", "09:00")
	e.take(csE, "insp")
	dueE := time.Date(2026, 3, 7, 10, 0, 0, 0, e.loc)
	e.decide(csE, "insp", "2026-03-05", "10:00", "approve", []string{"fire certificate"}, &dueE)
	e.countersign(csE, "rev", "2026-03-05", "11:00", true)
	// H.
	csH := e.submit("2026-03-09", "22:00")
	e.take(csH, "insp")
	e.decide(csH, "insp", "2026-03-10", "09:30", "approve", nil, nil)
	e.countersign(csH, "rev", "2026-03-10", "10:00", true)
	// C, across the UTC date line.
	csC := e.submit("2026-03-10", "00:30")
	e.take(csC, "insp2")
	e.decide(csC, "insp2", "2026-03-10", "01:00", "reject", nil, nil)
	e.countersign(csC, "rev2", "2026-03-10", "02:00", true)
	// A, with a live inspection that went live.
	csA := e.submit("2026-03-10", "09:00")
	e.take(csA, "insp")
	e.at("2026-03-10", "10:00")
	ls, _, err := e.db.CreateLiveSession(ctx, e.reload(csA), e.users["insp"], nil, time.Hour)
	e.must(err)
	e.at("2026-03-10", "10:05")
	e.must(e.db.MarkLivePublishing(ctx, ls, "h264", false))
	e.at("2026-03-10", "10:06")
	e.must(e.db.MarkLivePublishing(ctx, ls, "h264", true)) // a reconnect is the same inspection
	e.at("2026-03-10", "10:20")
	_, _, err = e.db.EndLiveSession(ctx, ls, e.users["insp"].ID, "test", nil)
	e.must(err)
	e.decide(csA, "insp", "2026-03-10", "11:00", "approve", nil, nil)
	e.countersign(csA, "rev", "2026-03-10", "15:00", true)
	// D, returned once.
	csD := e.submit("2026-03-10", "10:00")
	e.take(csD, "insp")
	e.decide(csD, "insp", "2026-03-10", "10:30", "approve", nil, nil)
	e.countersign(csD, "rev", "2026-03-10", "12:00", false)
	e.decide(csD, "insp", "2026-03-10", "13:00", "approve", nil, nil)
	e.countersign(csD, "rev", "2026-03-10", "14:00", true)
	// F, a supplement request past due.
	csF := e.submit("2026-03-10", "11:00")
	e.take(csF, "insp")
	dueF := time.Date(2026, 3, 10, 12, 0, 0, 0, e.loc)
	e.decide(csF, "insp", "2026-03-10", "11:30", "request_supplement", []string{"site plan"}, &dueF)
	// B, decided across Shanghai's midnight.
	csB := e.submit("2026-03-10", "23:00")
	e.take(csB, "insp")
	e.decide(csB, "insp", "2026-03-10", "23:30", "approve", nil, nil)
	e.countersign(csB, "rev", "2026-03-11", "00:30", true)
	e.at("2026-03-12", "09:00")

	st := e.stats("2026-03-10", "2026-03-10")
	if st.Zone != "Asia/Shanghai" || !st.Start.Equal(time.Date(2026, 3, 9, 16, 0, 0, 0, time.UTC)) || !st.End.Equal(time.Date(2026, 3, 10, 16, 0, 0, 0, time.UTC)) {
		t.Errorf("period: got %s %s..%s, want Asia/Shanghai 2026-03-09T16:00Z..2026-03-10T16:00Z", st.Zone, st.Start, st.End)
	}
	want := domain.StatsFigures{Received: 5, Decided: 4, DecidedSameDay: 3, SameDayRate: 0.75,
		SubmitToDecisionHours:      domain.Durations{Count: 4, Median: 2.5, P90: 8.95},
		DecisionToCountersignHours: domain.Durations{Count: 5, Median: 1, P90: 3},
		Countersigned:              5, Returned: 1, LiveInspections: 1}
	if st.Totals != want {
		t.Errorf("03-10 totals:\n got %+v\nwant %+v", st.Totals, want)
	}
	wantOverdue := domain.OverdueStats{Commitments: 1, Items: 1, Days: domain.DurationsDays{Median: 3.58, P90: 3.58, Max: 3.58}}
	if st.Overdue != wantOverdue {
		t.Errorf("03-10 overdue: got %+v, want %+v", st.Overdue, wantOverdue)
	}
	for name, w := range map[string]domain.StatsFigures{
		"insp":  {Decided: 3, DecidedSameDay: 2, SameDayRate: 0.67, SubmitToDecisionHours: domain.Durations{Count: 3, Median: 3, P90: 9.8}, LiveInspections: 1},
		"insp2": {Decided: 1, DecidedSameDay: 1, SameDayRate: 1, SubmitToDecisionHours: domain.Durations{Count: 1, Median: 0.5, P90: 0.5}},
		"rev":   {Countersigned: 4, Returned: 1, DecisionToCountersignHours: domain.Durations{Count: 4, Median: 1.25, P90: 3.25}},
		"rev2":  {Countersigned: 1, DecisionToCountersignHours: domain.Durations{Count: 1, Median: 1, P90: 1}},
	} {
		if got := officer(st, name).StatsFigures; got != w {
			t.Errorf("03-10 %s:\n got %+v\nwant %+v", name, got, w)
		}
	}
	if got := officer(st, "insp").OverdueCommitments; got != 1 {
		t.Errorf("insp's overdue commitments: got %d, want 1", got)
	}
	if len(st.Officers) != 4 {
		t.Errorf("officers: got %d rows, want 4 (insp, insp2, rev, rev2)", len(st.Officers))
	}

	// 03-11: only B's countersign, the day after its submission.
	st = e.stats("2026-03-11", "2026-03-11")
	want = domain.StatsFigures{Decided: 1, SubmitToDecisionHours: domain.Durations{Count: 1, Median: 0.5, P90: 0.5},
		DecisionToCountersignHours: domain.Durations{Count: 1, Median: 1, P90: 1}, Countersigned: 1}
	if st.Totals != want {
		t.Errorf("03-11 totals:\n got %+v\nwant %+v", st.Totals, want)
	}
	// At the end of 03-11 the certificate is a day later still.
	if st.Overdue.Days.Max != 4.58 {
		t.Errorf("03-11 overdue: got %.2f days, want 4.58", st.Overdue.Days.Max)
	}
	// The whole stretch: E's events and everyone's, counted once.
	st = e.stats("2026-03-01", "2026-03-11")
	if st.Totals.Received != 7 || st.Totals.Decided != 6 || st.Totals.DecidedSameDay != 4 || st.Totals.Returned != 1 {
		t.Errorf("03-01..03-11: got received %d, decided %d (same day %d), returned %d; want 7, 6 (4), 1",
			st.Totals.Received, st.Totals.Decided, st.Totals.DecidedSameDay, st.Totals.Returned)
	}
	// Before the commitment was due nothing is overdue.
	if st = e.stats("2026-03-06", "2026-03-06"); st.Overdue.Items != 0 || st.Totals.Received != 0 {
		t.Errorf("03-06: got %d overdue items, %d received; want 0, 0", st.Overdue.Items, st.Totals.Received)
	}
	// Handed in, it is no longer overdue at the end of a later day, but
	// still was on 03-10.
	e.at("2026-03-12", "10:00")
	owed, err := e.db.OwedItems(ctx, csE.ID)
	e.must(err)
	e.must(e.db.FulfillOwed(ctx, e.reload(csE), e.users["insp"], owed[0].ID))
	if st = e.stats("2026-03-12", "2026-03-12"); st.Overdue.Items != 0 {
		t.Errorf("03-12 after the hand-in: got %d overdue items, want 0", st.Overdue.Items)
	}
	if st = e.stats("2026-03-10", "2026-03-10"); st.Overdue.Items != 1 {
		t.Errorf("03-10 recomputed after the hand-in: got %d overdue items, want 1", st.Overdue.Items)
	}
}

// TestStatsAccess: supervisors of the office and admins read the figures;
// officers, applicants and another office's supervisor are refused with
// office_not_permitted; a bad period is stats_period_invalid. The supervisor
// lists every case its office holds, drafts excepted.
func TestStatsAccess(t *testing.T) {
	e := newStatsEnv(t)
	e.submit("2026-03-10", "09:00")
	e.submit("2026-03-10", "10:00")
	_, err := e.db.CreateCase(context.Background(), e.users["appA"], "binhai", "BH", e.loc, domain.NewCase{PermitType: "hotel", SiteName: "Draft", SiteAddress: "2 Harbour Rd"})
	e.must(err)
	for user, want := range map[string]int{"sup": 200, "admin": 200, "insp": 403, "rev": 403, "appA": 403, "supOther": 403} {
		code, body := e.get(user, "/api/v1/stats?from=2026-03-10&to=2026-03-10")
		var ae apiError
		json.Unmarshal(body, &ae)
		if code != want || (want == 403 && ae.Error.Code != domain.CodeOfficeNotPermitted) {
			t.Errorf("stats as %s: got %d %s, want %d", user, code, ae.Error.Code, want)
		}
	}
	for _, q := range []string{"", "?from=2026-03-10", "?from=2026-03-11&to=2026-03-10", "?from=10/03/2026&to=2026-03-10", "?from=2024-01-01&to=2026-03-10"} {
		code, body := e.get("sup", "/api/v1/stats"+q)
		var ae apiError
		json.Unmarshal(body, &ae)
		if code != http.StatusBadRequest || ae.Error.Code != "stats_period_invalid" {
			t.Errorf("stats%s: got %d %s, want 400 stats_period_invalid", q, code, ae.Error.Code)
		}
	}
	for user, want := range map[string]int{"sup": 2, "supOther": 0} {
		code, body := e.get(user, "/api/v1/cases")
		var list []json.RawMessage
		json.Unmarshal(body, &list)
		if code != http.StatusOK || len(list) != want {
			t.Errorf("cases as %s: got %d, %d cases; want 200, %d", user, code, len(list), want)
		}
	}
}

// TestStatsRatingsAndUrgent counts through the real calls of 好差评 and
// 特事特办 (storage/rating.go), so that the figures read the events as they
// are written: a case marked urgent (4 h) by the supervisor at 09:10,
// decided 11:00 and agreed 12:00 on 03-10 (within target); rated 5 by the
// applicant on 03-11 10:00, which opens a follow-up the supervisor closes
// on 03-12 09:00. A second case is marked urgent (1 h) on 03-11 23:30,
// cleared, marked again (2 h) on 03-12 00:10 and decided 03-12 03:00: urgent
// once, not within target.
func TestStatsRatingsAndUrgent(t *testing.T) {
	e := newStatsEnv(t)
	ctx := context.Background()
	cs := e.submit("2026-03-10", "09:00")
	e.at("2026-03-10", "09:10")
	_, err := e.db.SetUrgent(ctx, e.reload(cs), e.users["sup"], domain.UrgentInput{Reason: "防汛", TargetHours: 4})
	e.must(err)
	e.take(cs, "insp")
	e.decide(cs, "insp", "2026-03-10", "11:00", "approve", nil, nil)
	e.countersign(cs, "rev", "2026-03-10", "12:00", true)
	e.at("2026-03-11", "10:00")
	r, err := e.db.RateCase(ctx, e.reload(cs), e.users["appA"], e.loc, 5, domain.RatingInput{Level: 5, Comment: "太慢"})
	e.must(err)
	if r.FollowUp == nil {
		t.Fatalf("a rating of 5: got no follow-up, want one")
	}
	cs2 := e.submit("2026-03-11", "23:00")
	e.at("2026-03-11", "23:30")
	_, err = e.db.SetUrgent(ctx, e.reload(cs2), e.users["sup"], domain.UrgentInput{Reason: "抢险", TargetHours: 1})
	e.must(err)
	e.at("2026-03-11", "23:40")
	_, err = e.db.ClearUrgent(ctx, e.reload(cs2), e.users["sup"])
	e.must(err)
	e.at("2026-03-12", "00:10")
	_, err = e.db.SetUrgent(ctx, e.reload(cs2), e.users["sup"], domain.UrgentInput{Reason: "抢险", TargetHours: 2})
	e.must(err)
	e.take(cs2, "insp2")
	e.decide(cs2, "insp2", "2026-03-12", "02:00", "approve", nil, nil)
	e.countersign(cs2, "rev2", "2026-03-12", "03:00", true)
	e.at("2026-03-12", "09:00")
	_, err = e.db.CloseFollowUp(ctx, e.users["sup"], r.FollowUp.ID, "已约谈并整改")
	e.must(err)
	e.at("2026-03-13", "09:00")

	type counts struct{ rated, bad, opened, closed, urgent, urgentDecided, within int }
	of := func(f domain.StatsFigures) counts {
		return counts{f.Rated, f.RatedBad, f.FollowupsOpened, f.FollowupsClosed, f.UrgentReceived, f.UrgentDecided, f.UrgentWithinTarget}
	}
	for _, c := range []struct {
		from, to string
		want     counts
	}{
		{"2026-03-10", "2026-03-10", counts{urgent: 1, urgentDecided: 1, within: 1}},
		{"2026-03-11", "2026-03-11", counts{rated: 1, bad: 1, opened: 1, urgent: 1}},
		{"2026-03-12", "2026-03-12", counts{closed: 1, urgentDecided: 1}},
		{"2026-03-10", "2026-03-13", counts{rated: 1, bad: 1, opened: 1, closed: 1, urgent: 2, urgentDecided: 2, within: 1}},
	} {
		st := e.stats(c.from, c.to)
		if got := of(st.Totals); got != c.want {
			t.Errorf("%s..%s totals: got %+v, want %+v", c.from, c.to, got, c.want)
		}
		if c.from == "2026-03-10" && c.to == "2026-03-13" {
			if got, want := of(officer(st, "insp").StatsFigures), (counts{rated: 1, bad: 1, opened: 1, closed: 1, urgentDecided: 1, within: 1}); got != want {
				t.Errorf("insp: got %+v, want %+v", got, want)
			}
			if got, want := of(officer(st, "rev").StatsFigures), (counts{rated: 1, bad: 1, opened: 1, closed: 1}); got != want {
				t.Errorf("rev: got %+v, want %+v", got, want)
			}
			if got := officer(st, "sup"); got.ID != "" {
				t.Errorf("the supervisor who marked and closed: got a row %+v, want none", got)
			}
		}
	}
}

// TestStatsContract reads GET /api/v1/stats as API.md's clients do: the
// top-level received, decided, same_day, same_day_rate (a fraction),
// hours_to_decision and hours_to_countersign {p50, p90} in hours,
// returned_by_countersigner, live_sessions, overdue_owed, by_officer and
// ratings {count, bad} (bad = score ≤ 2), beside the totals our pages read.
//
// Office day 2026-03-10 in Asia/Shanghai:
//
//	A  submitted 09:00, insp decides 11:00, rev agrees 15:00: same day; 2 h, 4 h; live 10:05; rated score 2 at 16:00 (bad)
//	D  submitted 10:00, insp decides 10:30, rev returns 12:00, insp decides 13:00, rev agrees 14:00:
//	   same day; 3 h; answers 1.5 h and 1 h; rated score 5 at 16:30
//	E  submitted 03-05, approved owing a certificate due 03-07 10:00, never handed in: one owed item overdue
//
// hours to decision 2, 3: p50 2.5, p90 2.9; hours to countersign 1, 1.5,
// 4: p50 1.5, p90 3.5.
func TestStatsContract(t *testing.T) {
	e := newStatsEnv(t)
	ctx := context.Background()
	csE := e.submit("2026-03-05", "09:00")
	e.take(csE, "insp")
	dueE := time.Date(2026, 3, 7, 10, 0, 0, 0, e.loc)
	e.decide(csE, "insp", "2026-03-05", "10:00", "approve", []string{"fire certificate"}, &dueE)
	e.countersign(csE, "rev", "2026-03-05", "11:00", true)
	csA := e.submit("2026-03-10", "09:00")
	e.take(csA, "insp")
	e.at("2026-03-10", "10:00")
	ls, _, err := e.db.CreateLiveSession(ctx, e.reload(csA), e.users["insp"], nil, time.Hour)
	e.must(err)
	e.at("2026-03-10", "10:05")
	e.must(e.db.MarkLivePublishing(ctx, ls, "h264", false))
	e.at("2026-03-10", "10:20")
	_, _, err = e.db.EndLiveSession(ctx, ls, e.users["insp"].ID, "test", nil)
	e.must(err)
	e.decide(csA, "insp", "2026-03-10", "11:00", "approve", nil, nil)
	e.countersign(csA, "rev", "2026-03-10", "15:00", true)
	csD := e.submit("2026-03-10", "10:00")
	e.take(csD, "insp")
	e.decide(csD, "insp", "2026-03-10", "10:30", "approve", nil, nil)
	e.countersign(csD, "rev", "2026-03-10", "12:00", false)
	e.decide(csD, "insp", "2026-03-10", "13:00", "approve", nil, nil)
	e.countersign(csD, "rev", "2026-03-10", "14:00", true)
	rate := func(cs *domain.Case, hm, body string) {
		t.Helper()
		e.at("2026-03-10", hm)
		r := httptest.NewRequest(http.MethodPost, "/api/v1/cases/"+cs.ID+"/rating", bytes.NewReader([]byte(body)))
		r.Header.Set("Authorization", "Bearer "+e.tokens["appA"])
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		e.s.ServeHTTP(w, r)
		if w.Code != http.StatusCreated {
			t.Fatalf("rating %s: got %d %s, want 201", body, w.Code, w.Body)
		}
	}
	rate(csA, "16:00", `{"score":2,"comment":"太慢"}`)
	rate(csD, "16:30", `{"level":1}`)
	e.at("2026-03-12", "09:00")

	code, body := e.get("sup", "/api/v1/stats?from=2026-03-10&to=2026-03-10")
	if code != http.StatusOK {
		t.Fatalf("stats: got %d %s, want 200", code, body)
	}
	var got map[string]any
	e.must(json.Unmarshal(body, &got))
	pcts := func(p50, p90 float64) map[string]any { return map[string]any{"p50": p50, "p90": p90} }
	for k, want := range map[string]any{
		"received": 2.0, "decided": 2.0, "same_day": 2.0, "same_day_rate": 1.0,
		"hours_to_decision": pcts(2.5, 2.9), "hours_to_countersign": pcts(1.5, 3.5),
		"returned_by_countersigner": 1.0, "live_sessions": 1.0, "overdue_owed": 1.0,
		"ratings": map[string]any{"count": 2.0, "bad": 1.0},
	} {
		if g, ok := got[k]; !ok || !equalJSON(g, want) {
			t.Errorf("stats %s: got %v (present %v), want %v", k, g, ok, want)
		}
	}
	byOfficer, _ := got["by_officer"].([]any)
	rows := map[string]map[string]any{}
	for _, r := range byOfficer {
		if m, ok := r.(map[string]any); ok {
			u, _ := m["user"].(string)
			rows[u] = m
		}
	}
	for user, want := range map[string]map[string]any{
		"insp": {"decided": 2.0, "same_day": 2.0, "hours_to_decision": pcts(2.5, 2.9)},
		"rev":  {"decided": 0.0, "same_day": 0.0, "hours_to_decision": pcts(0, 0)},
	} {
		for k, w := range want {
			if g, ok := rows[user][k]; !ok || !equalJSON(g, w) {
				t.Errorf("by_officer %s %s: got %v, want %v (rows %v)", user, k, g, w, byOfficer)
			}
		}
	}
	if len(byOfficer) != 2 {
		t.Errorf("by_officer: got %d rows, want 2 (insp, rev): %v", len(byOfficer), byOfficer)
	}
	// What our pages read stays.
	var st domain.Stats
	e.must(json.Unmarshal(body, &st))
	if st.Totals.Received != 2 || st.Totals.DecidedSameDay != 2 || st.Totals.SameDayRate != 1 || st.Totals.Rated != 2 || st.Totals.RatedBad != 1 ||
		st.Totals.BadRate != 0.5 || st.Overdue.Commitments != 1 || st.Overdue.Items != 1 || len(st.Officers) != 2 ||
		st.Totals.DecisionToCountersignHours != (domain.Durations{Count: 3, Median: 1.5, P90: 3.5}) {
		t.Errorf("the figures our pages read: got totals %+v, overdue %+v, %d officers", st.Totals, st.Overdue, len(st.Officers))
	}
	// An empty period: zeros and an empty list, not nulls.
	_, body = e.get("sup", "/api/v1/stats?from=2026-02-01&to=2026-02-01")
	got = nil
	e.must(json.Unmarshal(body, &got))
	if l, ok := got["by_officer"].([]any); !ok || len(l) != 0 || !equalJSON(got["hours_to_decision"], pcts(0, 0)) || !equalJSON(got["ratings"], map[string]any{"count": 0.0, "bad": 0.0}) {
		t.Errorf("an empty period: got by_officer %v, hours_to_decision %v, ratings %v; want [], zeros", got["by_officer"], got["hours_to_decision"], got["ratings"])
	}
}

// equalJSON compares two decoded JSON values.
func equalJSON(a, b any) bool {
	x, err1 := json.Marshal(a)
	y, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(x, y)
}
