package storage

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"siteinspect/domain"
)

// statsSeed writes cases, units and audit events straight into the
// database (the chain's hashes do not matter to the figures), with the
// times in the office's zone, Asia/Shanghai.
type statsSeed struct {
	tb  testing.TB
	d   *DB
	loc *time.Location
	app *domain.User
	seq int64
}

func newStatsSeed(tb testing.TB) *statsSeed {
	tb.Helper()
	d, err := openTestDB(tb)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { d.Close() })
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		tb.Fatal(err)
	}
	s := &statsSeed{tb: tb, d: d, loc: loc}
	if err := d.SeedPermitTypes(context.Background()); err != nil {
		tb.Fatal(err)
	}
	s.app = s.user("app", domain.RoleApplicant, "")
	return s
}

func (s *statsSeed) exec(q string, args ...any) {
	s.tb.Helper()
	if _, err := s.d.SQL().ExecContext(context.Background(), q, args...); err != nil {
		s.tb.Fatalf("%.60s: %v", q, err)
	}
}

// at is Shanghai's day (YYYY-MM-DD) at hh:mm.
func (s *statsSeed) at(day, hm string) time.Time {
	s.tb.Helper()
	t, err := time.ParseInLocation("2006-01-02 15:04", day+" "+hm, s.loc)
	if err != nil {
		s.tb.Fatal(err)
	}
	return t
}

func (s *statsSeed) user(name string, role domain.Role, unit string) *domain.User {
	s.tb.Helper()
	u, err := s.d.CreateUser(context.Background(), name, "password-"+name, role, "", "binhai")
	if err != nil {
		s.tb.Fatal(err)
	}
	if unit != "" {
		s.exec(`UPDATE users SET unit_id = ? WHERE id = ?`, unit, u.ID)
	}
	return u
}

func (s *statsSeed) unit(id, zh, en string) {
	s.exec(`INSERT INTO units (id, office, name_zh, name_en, created_at) VALUES (?, 'binhai', ?, ?, 0)`, id, zh, en)
}

// newCase is a case routed to unit ("" for none) on 2026-01-01 (a
// case.routed event); its other events come from event.
func (s *statsSeed) newCase(id, unit string) {
	s.tb.Helper()
	var u any
	if unit != "" {
		u = unit
	}
	s.exec(`INSERT INTO cases (id, number, office, permit_type, status, applicant_id, applicant_org, site_name, site_address, description,
		created_at, updated_at, unit_id) VALUES (?, ?, 'binhai', 'hotel', 'submitted', ?, 'Acme', 's', 'a', '', 0, 0, ?)`, id, "BH-"+id, s.app.ID, u)
	if unit != "" {
		s.event(id, s.app.ID, "case.routed", unit, s.at("2026-01-01", "00:00"), `{"from":"","to":"`+unit+`"}`)
	}
}

// event appends an audit event of the case.
func (s *statsSeed) event(caseID, actor, action, target string, at time.Time, data string) {
	s.tb.Helper()
	if s.seq == 0 {
		if err := s.d.SQL().QueryRow(`SELECT COALESCE(MAX(seq), 0) FROM audit_events`).Scan(&s.seq); err != nil {
			s.tb.Fatal(err)
		}
	}
	s.seq++
	s.exec(`INSERT INTO audit_events (seq, case_id, actor_id, action, target, data, at, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, '', '')`,
		s.seq, caseID, actor, action, target, data, ms(at))
}

func (s *statsSeed) status(caseID, actor string, at time.Time, from, to domain.Status, decisionID string) {
	s.tb.Helper()
	data := map[string]any{"from": from, "to": to}
	if decisionID != "" {
		data["decision_id"] = decisionID
	}
	if from == domain.StatusPendingCountersign {
		data["agree"] = to == domain.StatusApproved || to == domain.StatusRejected
	}
	b, _ := json.Marshal(data)
	s.event(caseID, actor, "case.status", "", at, string(b))
}

// decided walks a case from submission to an agreed countersign.
func (s *statsSeed) decided(caseID string, insp, rev *domain.User, sub, dec, cs time.Time) {
	s.tb.Helper()
	s.status(caseID, s.app.ID, sub, domain.StatusDraft, domain.StatusSubmitted, "")
	s.status(caseID, insp.ID, sub.Add(time.Minute), domain.StatusSubmitted, domain.StatusInReview, "")
	s.status(caseID, insp.ID, dec, domain.StatusInReview, domain.StatusPendingCountersign, "d-"+caseID)
	s.status(caseID, rev.ID, cs, domain.StatusPendingCountersign, domain.StatusApproved, "d-"+caseID)
}

func (s *statsSeed) rated(caseID string, at time.Time, level int, insp, rev *domain.User) {
	s.event(caseID, s.app.ID, "case.rated", "", at, fmt.Sprintf(`{"inspector_id":%q,"level":%d,"reviewer_id":%q}`, insp.ID, level, rev.ID))
}

func (s *statsSeed) urgent(caseID string, by *domain.User, at time.Time, hours int) {
	s.event(caseID, by.ID, "case.urgent_set", "", at, fmt.Sprintf(`{"reason":"flood","target_hours":%d}`, hours))
}

// statsJSON gives the JSON of the figures, as the API sends them, failing
// tb on an error.
func statsJSON(tb testing.TB) func(*domain.Stats, error) string {
	return func(st *domain.Stats, err error) string {
		tb.Helper()
		if err != nil {
			tb.Fatal(err)
		}
		b, err := json.Marshal(st)
		if err != nil {
			tb.Fatal(err)
		}
		return string(b)
	}
}

// TestStatsNewFiguresHandCount: ratings, follow-ups, urgent cases and
// units against a hand count, in Asia/Shanghai, across its midnight (the
// test machine's zone is irrelevant), with the clock on 03-12 12:00 so that
// 03-10 and 03-11 come from the kept tallies and 03-12 is counted live.
//
//	K1 unit U1: submitted 03-10 09:00, urgent 09:10 (4 h), insp1 decides 11:00, rev1 agrees 12:00: urgent within target;
//	   rated 5 on 03-11 10:00, follow-up opened then, closed 03-12 09:00
//	K2 unit U2: submitted 03-10 23:30, urgent 23:40 (2 h), insp2 decides 03-11 00:20, rev1 agrees 02:00 (03-10 in UTC):
//	   decided 03-11, not the same day, not within target; rated 2 on 03-11 09:00
//	K3 no unit: submitted 03-10 10:00, urgent 10:05 (8 h), cleared 10:30, insp1 decides 11:00, rev1 agrees 11:30:
//	   not an urgent decision; rated 4 on 03-10 20:00, follow-up opened then
//	K4 unit U1: submitted 03-11 08:00, urgent 08:10, cleared 09:00, urgent again 10:00 (24 h; received once),
//	   insp1 decides 03-12 09:00, rev1 agrees 09:30: urgent within target (23.5 h)
func TestStatsNewFiguresHandCount(t *testing.T) {
	s := newStatsSeed(t)
	ctx := context.Background()
	s.unit("u1", "东区分中心", "East unit")
	s.unit("u2", "西区分中心", "West unit")
	insp1, insp2 := s.user("insp1", domain.RoleInspector, "u1"), s.user("insp2", domain.RoleInspector, "u2")
	rev1 := s.user("rev1", domain.RoleReviewer, "u1")
	for id, unit := range map[string]string{"K1": "u1", "K2": "u2", "K3": "", "K4": "u1"} {
		s.newCase(id, unit)
	}
	s.status("K1", s.app.ID, s.at("2026-03-10", "09:00"), domain.StatusDraft, domain.StatusSubmitted, "")
	s.urgent("K1", insp1, s.at("2026-03-10", "09:10"), 4)
	s.status("K1", insp1.ID, s.at("2026-03-10", "11:00"), domain.StatusInReview, domain.StatusPendingCountersign, "d-K1")
	s.status("K1", rev1.ID, s.at("2026-03-10", "12:00"), domain.StatusPendingCountersign, domain.StatusApproved, "d-K1")
	s.status("K3", s.app.ID, s.at("2026-03-10", "10:00"), domain.StatusDraft, domain.StatusSubmitted, "")
	s.urgent("K3", insp1, s.at("2026-03-10", "10:05"), 8)
	s.event("K3", insp1.ID, "case.urgent_cleared", "", s.at("2026-03-10", "10:30"), `{}`)
	s.status("K3", insp1.ID, s.at("2026-03-10", "11:00"), domain.StatusInReview, domain.StatusPendingCountersign, "d-K3")
	s.status("K3", rev1.ID, s.at("2026-03-10", "11:30"), domain.StatusPendingCountersign, domain.StatusApproved, "d-K3")
	s.rated("K3", s.at("2026-03-10", "20:00"), 4, insp1, rev1)
	s.event("K3", "", "followup.opened", "f3", s.at("2026-03-10", "20:00"), `{}`)
	s.status("K2", s.app.ID, s.at("2026-03-10", "23:30"), domain.StatusDraft, domain.StatusSubmitted, "")
	s.urgent("K2", insp2, s.at("2026-03-10", "23:40"), 2)
	s.status("K2", insp2.ID, s.at("2026-03-11", "00:20"), domain.StatusInReview, domain.StatusPendingCountersign, "d-K2")
	s.status("K2", rev1.ID, s.at("2026-03-11", "02:00"), domain.StatusPendingCountersign, domain.StatusApproved, "d-K2")
	s.status("K4", s.app.ID, s.at("2026-03-11", "08:00"), domain.StatusDraft, domain.StatusSubmitted, "")
	s.urgent("K4", insp1, s.at("2026-03-11", "08:10"), 24)
	s.event("K4", insp1.ID, "case.urgent_cleared", "", s.at("2026-03-11", "09:00"), `{}`)
	s.rated("K2", s.at("2026-03-11", "09:00"), 2, insp2, rev1)
	s.urgent("K4", insp1, s.at("2026-03-11", "10:00"), 24)
	s.rated("K1", s.at("2026-03-11", "10:00"), 5, insp1, rev1)
	s.event("K1", "", "followup.opened", "f1", s.at("2026-03-11", "10:00"), `{}`)
	s.event("K1", rev1.ID, "followup.closed", "f1", s.at("2026-03-12", "09:00"), `{}`)
	s.status("K4", insp1.ID, s.at("2026-03-12", "09:00"), domain.StatusInReview, domain.StatusPendingCountersign, "d-K4")
	s.status("K4", rev1.ID, s.at("2026-03-12", "09:30"), domain.StatusPendingCountersign, domain.StatusApproved, "d-K4")
	now := s.at("2026-03-12", "12:00")
	s.d.SetClock(func() time.Time { return now })

	type counts struct {
		received, decided, sameDay, rated, bad, fo, fc, ur, ud, uw int
		badRate                                                    float64
	}
	of := func(f domain.StatsFigures) counts {
		return counts{f.Received, f.Decided, f.DecidedSameDay, f.Rated, f.RatedBad, f.FollowupsOpened, f.FollowupsClosed,
			f.UrgentReceived, f.UrgentDecided, f.UrgentWithinTarget, f.BadRate}
	}
	for _, p := range []struct {
		from, to string
		want     counts
	}{
		{"2026-03-10", "2026-03-10", counts{received: 3, decided: 2, sameDay: 2, rated: 1, bad: 1, fo: 1, ur: 3, ud: 1, uw: 1, badRate: 1}},
		{"2026-03-11", "2026-03-11", counts{received: 1, decided: 1, rated: 2, bad: 1, fo: 1, ur: 1, ud: 1, badRate: 0.5}},
		{"2026-03-12", "2026-03-12", counts{decided: 1, fc: 1, ud: 1, uw: 1}},
	} {
		from, _ := time.Parse(time.DateOnly, p.from)
		to, _ := time.Parse(time.DateOnly, p.to)
		st, err := s.d.Stats(ctx, "binhai", s.loc, from, to)
		if err != nil {
			t.Fatal(err)
		}
		if got := of(st.Totals); got != p.want {
			t.Errorf("%s totals:\n got %+v\nwant %+v", p.from, got, p.want)
		}
	}
	from, to := s.at("2026-03-10", "00:00"), s.at("2026-03-12", "00:00")
	st, err := s.d.Stats(ctx, "binhai", s.loc, from, to)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := of(st.Totals), (counts{received: 4, decided: 4, sameDay: 2, rated: 3, bad: 2, fo: 2, fc: 1, ur: 4, ud: 3, uw: 2, badRate: 0.67}); got != want {
		t.Errorf("03-10..03-12 totals:\n got %+v\nwant %+v", got, want)
	}
	wantUnits := map[string]counts{
		"u1": {received: 2, decided: 2, sameDay: 1, rated: 1, bad: 1, fo: 1, fc: 1, ur: 2, ud: 2, uw: 2, badRate: 1},
		"u2": {received: 1, decided: 1, rated: 1, ur: 1, ud: 1},
	}
	if len(st.Units) != 2 || st.Units[0].NameEn != "East unit" || st.Units[1].NameZh != "西区分中心" {
		t.Errorf("units: got %+v, want u1 East unit then u2 西区分中心", st.Units)
	}
	for _, u := range st.Units {
		if got := of(u.StatsFigures); got != wantUnits[u.ID] {
			t.Errorf("unit %s:\n got %+v\nwant %+v", u.ID, got, wantUnits[u.ID])
		}
	}
	wantOfficers := map[string]counts{
		"insp1": {decided: 3, sameDay: 2, rated: 2, bad: 2, fo: 2, fc: 1, ud: 2, uw: 2, badRate: 1},
		"insp2": {decided: 1, rated: 1, ud: 1},
		"rev1":  {rated: 3, bad: 2, fo: 2, fc: 1, badRate: 0.67},
	}
	if len(st.Officers) != 3 {
		t.Errorf("officers: got %d, want 3", len(st.Officers))
	}
	for _, o := range st.Officers {
		if got := of(o.StatsFigures); got != wantOfficers[o.Username] {
			t.Errorf("officer %s:\n got %+v\nwant %+v", o.Username, got, wantOfficers[o.Username])
		}
	}
	if o := st.Officers[2]; o.Username != "rev1" || o.Countersigned != 4 {
		t.Errorf("rev1: got %s countersigned %d, want rev1 4", o.Username, o.Countersigned)
	}
	var kept int
	if err := s.d.SQL().QueryRow(`SELECT COUNT(*) FROM stats_days`).Scan(&kept); err != nil || kept != 2 {
		t.Errorf("kept days: got %d (%v), want 2 (03-10, 03-11; 03-12 is today)", kept, err)
	}
	if full := statsJSON(t)(s.d.statsFullScan(ctx, "binhai", s.loc, from, to)); full != statsJSON(t)(st, nil) {
		t.Errorf("kept tallies differ from the chain:\n kept %s\n full %s", statsJSON(t)(st, nil), full)
	}
	// Until five minutes past midnight the day before is still open (an
	// event stamped before midnight may commit after it): not kept.
	if _, err := s.d.exec(ctx, `DELETE FROM stats_days`); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		hm   string
		want int
	}{{"00:03", 1}, {"00:06", 2}} {
		now = s.at("2026-03-12", c.hm)
		if _, err := s.d.Stats(ctx, "binhai", s.loc, from, to); err != nil {
			t.Fatal(err)
		}
		if err := s.d.SQL().QueryRow(`SELECT COUNT(*) FROM stats_days`).Scan(&kept); err != nil || kept != c.want {
			t.Errorf("kept days at 03-12 %s: got %d (%v), want %d", c.hm, kept, err, c.want)
		}
	}
}

// TestStatsKeptEqualsScan: over a month of generated cases (returns, live
// inspections, ratings, follow-ups, urgent cases, units, events near
// midnight), the figures from the kept tallies of closed days are exactly,
// byte for byte in JSON, those counted from the whole chain, for periods
// wholly closed, partly kept, and reaching today and beyond; asked first
// (filling stats_days) and again (reading it).
func TestStatsKeptEqualsScan(t *testing.T) {
	s := newStatsSeed(t)
	ctx := context.Background()
	s.unit("u1", "东区", "East")
	s.unit("u2", "西区", "West")
	units := []string{"", "u1", "u2"}
	var insp, rev []*domain.User
	for i := range 4 {
		insp = append(insp, s.user(fmt.Sprint("insp", i), domain.RoleInspector, units[i%3]))
		rev = append(rev, s.user(fmt.Sprint("rev", i), domain.RoleReviewer, units[(i+1)%3]))
	}
	r := rand.New(rand.NewPCG(20, 26))
	first := s.at("2026-03-01", "00:00")
	minute := func(n int) time.Duration { return time.Duration(n) * time.Minute }
	// Events are appended in time order, as the chain has them.
	type ev struct {
		at time.Time
		fn func(at time.Time)
	}
	var evs []ev
	for i := range 400 {
		id := fmt.Sprintf("C%03d", i)
		s.newCase(id, units[i%3])
		in, rv := insp[r.IntN(4)], rev[r.IntN(4)]
		sub := first.Add(minute(r.IntN(30 * 24 * 60)))
		t := sub
		add := func(d time.Duration, fn func(at time.Time)) { t = t.Add(d); evs = append(evs, ev{t, fn}) }
		add(0, func(at time.Time) { s.status(id, s.app.ID, at, domain.StatusDraft, domain.StatusSubmitted, "") })
		if r.IntN(4) == 0 {
			add(minute(r.IntN(60)), func(at time.Time) { s.urgent(id, in, at, 1+r.IntN(30)) })
			if r.IntN(3) == 0 {
				add(minute(r.IntN(60)), func(at time.Time) { s.event(id, in.ID, "case.urgent_cleared", "", at, `{}`) })
			}
		}
		switch i % 5 {
		case 1: // routed elsewhere after the submission: later events count there
			to := units[(i+1)%3]
			add(minute(r.IntN(300)), func(at time.Time) { s.event(id, s.app.ID, "case.routed", to, at, `{"from":"x","to":"`+to+`"}`) })
		case 2: // taken unrouted by an inspector of a unit
			add(minute(r.IntN(300)), func(at time.Time) {
				s.event(id, in.ID, "case.assigned", "", at, `{"by":"self","inspector_id":"x","unit_id":"u2"}`)
			})
		}
		add(minute(1+r.IntN(600)), func(at time.Time) { s.status(id, in.ID, at, domain.StatusSubmitted, domain.StatusInReview, "") })
		if r.IntN(3) == 0 {
			live := "L" + id
			add(minute(r.IntN(120)), func(at time.Time) { s.event(id, in.ID, "live.created", live, at, `{}`) })
			add(minute(1+r.IntN(5)), func(at time.Time) { s.event(id, "", "live.published", live, at, `{}`) })
			add(minute(1+r.IntN(5)), func(at time.Time) { s.event(id, "", "live.published", live, at, `{}`) })
		}
		if r.IntN(5) == 0 {
			add(minute(r.IntN(900)), func(at time.Time) {
				s.status(id, in.ID, at, domain.StatusInReview, domain.StatusPendingCountersign, "a-"+id)
			})
			add(minute(r.IntN(900)), func(at time.Time) {
				s.status(id, rv.ID, at, domain.StatusPendingCountersign, domain.StatusInReview, "a-"+id)
			})
		}
		if r.IntN(6) == 0 {
			continue // still in review
		}
		add(minute(r.IntN(2000)), func(at time.Time) {
			s.status(id, in.ID, at, domain.StatusInReview, domain.StatusPendingCountersign, "d-"+id)
		})
		add(minute(r.IntN(900)), func(at time.Time) {
			s.status(id, rv.ID, at, domain.StatusPendingCountersign, domain.StatusApproved, "d-"+id)
		})
		if r.IntN(2) == 0 {
			level := 1 + r.IntN(5)
			add(minute(r.IntN(3000)), func(at time.Time) { s.rated(id, at, level, in, rv) })
			if domain.OpensFollowUp(level) {
				add(0, func(at time.Time) { s.event(id, "", "followup.opened", "F"+id, at, `{}`) })
				if r.IntN(2) == 0 {
					add(minute(r.IntN(3000)), func(at time.Time) { s.event(id, rv.ID, "followup.closed", "F"+id, at, `{}`) })
				}
			}
		}
	}
	slices.SortStableFunc(evs, func(a, b ev) int { return a.at.Compare(b.at) })
	for _, e := range evs {
		e.fn(e.at)
	}
	now := s.at("2026-03-25", "15:00")
	s.d.SetClock(func() time.Time { return now })
	day := func(d string) time.Time { t, _ := time.Parse(time.DateOnly, d); return t }
	for _, p := range [][2]string{
		{"2026-03-05", "2026-03-09"}, // wholly closed, kept first
		{"2026-03-01", "2026-03-20"}, // partly kept
		{"2026-02-20", "2026-04-10"}, // all, today and later
		{"2026-03-25", "2026-03-25"}, // today only
		{"2026-03-01", "2026-03-31"}, // everything kept now
	} {
		full := statsJSON(t)(s.d.statsFullScan(ctx, "binhai", s.loc, day(p[0]), day(p[1])))
		for round := range 2 {
			if got := statsJSON(t)(s.d.Stats(ctx, "binhai", s.loc, day(p[0]), day(p[1]))); got != full {
				t.Errorf("%s..%s round %d: kept tallies differ from the chain:\n got %s\nwant %s", p[0], p[1], round, got, full)
			}
		}
	}
	var kept int
	if err := s.d.SQL().QueryRow(`SELECT COUNT(*) FROM stats_days`).Scan(&kept); err != nil || kept != 33 {
		t.Errorf("kept days: got %d (%v), want 33 (02-20 to 03-24)", kept, err)
	}
	// The job a server runs: it keeps the 40 days before today a month at
	// a time, and nothing the second time.
	if _, err := s.d.exec(ctx, `DELETE FROM stats_days`); err != nil {
		t.Fatal(err)
	}
	for round, want := range []int{40, 0} {
		if n, err := s.d.FillStatsDays(ctx, "binhai", s.loc, 40); err != nil || n != want {
			t.Errorf("FillStatsDays round %d: got %d (%v), want %d", round, n, err, want)
		}
	}
	if err := s.d.SQL().QueryRow(`SELECT COUNT(*) FROM stats_days`).Scan(&kept); err != nil || kept != 40 {
		t.Errorf("kept days after the fill: got %d (%v), want 40 (02-13 to 03-24)", kept, err)
	}
	full := statsJSON(t)(s.d.statsFullScan(ctx, "binhai", s.loc, day("2026-03-01"), day("2026-03-31")))
	if got := statsJSON(t)(s.d.Stats(ctx, "binhai", s.loc, day("2026-03-01"), day("2026-03-31"))); got != full {
		t.Errorf("after the fill: kept tallies differ from the chain:\n got %s\nwant %s", got, full)
	}
	st, err := s.d.Stats(ctx, "binhai", s.loc, day("2026-03-01"), day("2026-03-31"))
	if err != nil {
		t.Fatal(err)
	}
	// The seed must exercise every figure, or equality proves little.
	f := st.Totals
	for name, v := range map[string]int{"received": f.Received, "decided": f.Decided, "same day": f.DecidedSameDay, "returned": f.Returned,
		"live": f.LiveInspections, "rated": f.Rated, "bad": f.RatedBad, "opened": f.FollowupsOpened, "closed": f.FollowupsClosed,
		"urgent": f.UrgentReceived, "urgent decided": f.UrgentDecided, "within": f.UrgentWithinTarget, "units": len(st.Units)} {
		if v == 0 {
			t.Errorf("%s: got 0, want some", name)
		}
	}
}
