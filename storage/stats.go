package storage

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"siteinspect/domain"
)

// MaxStatsDays is the longest period Stats computes at once.
const MaxStatsDays = 366

// Stats computes the supervision figures of office for the office days from
// through to (inclusive) in loc: the events between from's midnight and the
// midnight after to. The figures come from the audit chain (see
// domain.Stats for what each counts); the overdue commitments come from the
// owed items and decisions, written in the same transactions as their
// audit events. Durations and percentiles are computed here, in Go, so
// that SQLite and PostgreSQL give the same numbers.
//
// The days before today (in loc) are closed: the audit log is append-only
// and stamps each event with the time it is written, so a closed day's
// events never change. Their tallies (counts and the raw durations the
// percentiles need) are kept per office, zone and day in stats_days
// (stats_days.go), computed from the chain the first time a period asks
// for them; today's are counted from the events every time. The result is
// exactly that of counting the whole period from the chain (statsScan),
// which a test checks.
func (d *DB) Stats(ctx context.Context, office string, loc *time.Location, from, to time.Time) (*domain.Stats, error) {
	st, start, end, err := statsPeriod(office, loc, from, to)
	if err != nil {
		return nil, err
	}
	days, err := d.statsDays(ctx, office, loc, start, end)
	if err != nil {
		return nil, err
	}
	return st, d.statsReport(ctx, office, end, st, days)
}

// statsFullScan is Stats counted from the chain alone, without the kept
// tallies of closed days: what Stats must equal.
func (d *DB) statsFullScan(ctx context.Context, office string, loc *time.Location, from, to time.Time) (*domain.Stats, error) {
	st, start, end, err := statsPeriod(office, loc, from, to)
	if err != nil {
		return nil, err
	}
	days, err := d.statsScan(ctx, office, loc, start, end)
	if err != nil {
		return nil, err
	}
	return st, d.statsReport(ctx, office, end, st, days)
}

// statsPeriod checks the period and gives the figures' frame and its
// instants: start inclusive, end exclusive.
func statsPeriod(office string, loc *time.Location, from, to time.Time) (st *domain.Stats, start, end time.Time, err error) {
	fy, fm, fd := from.Date()
	ty, tm, td := to.Date()
	start = time.Date(fy, fm, fd, 0, 0, 0, 0, loc)
	end = time.Date(ty, tm, td+1, 0, 0, 0, 0, loc)
	if !end.After(start) {
		return nil, start, end, domain.Coded(domain.ErrInvalid, "stats_period_invalid", "from must be on or before to")
	}
	if days := int(math.Round(end.Sub(start).Hours() / 24)); days > MaxStatsDays {
		return nil, start, end, domain.Coded(domain.ErrInvalid, "stats_period_invalid", fmt.Sprintf("a period has at most %d days, not %d", MaxStatsDays, days))
	}
	st = &domain.Stats{Office: office, Zone: loc.String(), From: start.Format(time.DateOnly), To: to.Format(time.DateOnly),
		Start: start.UTC(), End: end.UTC(), Officers: []domain.OfficerStats{}, Units: []domain.UnitStats{}}
	return st, start, end, nil
}

// statsScan counts the events of [start, end) from the chain, per office
// day of loc. Every counted event, up to end, of the cases of the office
// that had one in the period is read: the earlier ones say when a case was
// first submitted, who made the decision countersigned, when it was marked
// urgent and who a rating was about.
func (d *DB) statsScan(ctx context.Context, office string, loc *time.Location, start, end time.Time) (map[string]*statsDay, error) {
	c := newStatsCounter(loc, start, end)
	rows, err := d.query(ctx, `SELECT e.case_id, COALESCE(e.actor_id, ''), e.action, e.target, e.data, e.at FROM audit_events e
		WHERE e.at < ? AND e.action IN (`+statsActions+`, 'live.created', 'case.routed', 'case.assigned') AND e.case_id IN (
			SELECT x.case_id FROM audit_events x JOIN cases c ON c.id = x.case_id
			WHERE c.office = ? AND x.at >= ? AND x.at < ? AND x.action IN (`+statsActions+`))
		ORDER BY e.seq`, ms(end), office, ms(start), ms(end))
	if err != nil {
		return nil, fmt.Errorf("stats events: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var ev statsEvent
		var at int64
		if err := rows.Scan(&ev.caseID, &ev.actor, &ev.action, &ev.target, &ev.data, &at); err != nil {
			return nil, fmt.Errorf("stats events: %w", err)
		}
		ev.at = time.UnixMilli(at)
		if ev.action == "case.status" {
			ev.from, ev.to, ev.decisionID = domain.Status(jsonString(ev.data, "from")), domain.Status(jsonString(ev.data, "to")), jsonString(ev.data, "decision_id")
		}
		c.add(ev)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("stats events: %w", err)
	}
	return c.days, nil
}

// statsActions are the audit actions the figures count.
const statsActions = `'case.status', 'live.published', 'case.rated', 'followup.opened', 'followup.closed', 'case.urgent_set', 'case.urgent_cleared'`

// statsCaseUnit is the unit a case is routed to now, empty for none: the
// overdue commitments' unit (the events' is the unit at the event's time).
const statsCaseUnit = `COALESCE(c.unit_id, '')`

// statsReport fills st from the days' tallies and the overdue commitments
// at the period's end.
func (d *DB) statsReport(ctx context.Context, office string, end time.Time, st *domain.Stats, days map[string]*statsDay) error {
	all := newStatsDay()
	for _, day := range days {
		all.merge(day)
	}
	if err := d.overdue(ctx, office, end, st, all); err != nil {
		return err
	}
	st.Totals = all.Total.figures()
	for id, o := range all.Officers {
		u, err := d.UserByID(ctx, id)
		if err != nil {
			return fmt.Errorf("stats officer %s: %w", id, err)
		}
		st.Officers = append(st.Officers, domain.OfficerStats{ID: u.ID, Username: u.Username, DisplayName: u.DisplayName, Role: u.Role,
			StatsFigures: o.figures(), OverdueCommitments: o.overdue})
	}
	slices.SortFunc(st.Officers, func(a, b domain.OfficerStats) int { return cmp.Compare(a.Username, b.Username) })
	for id, u := range all.Units {
		us := domain.UnitStats{ID: id, StatsFigures: u.figures(), OverdueCommitments: u.overdue}
		if err := d.unitNames(ctx, &us); err != nil {
			return err
		}
		st.Units = append(st.Units, us)
	}
	slices.SortFunc(st.Units, func(a, b domain.UnitStats) int {
		return cmp.Or(cmp.Compare(a.NameZh, b.NameZh), cmp.Compare(a.ID, b.ID))
	})
	st.Contract()
	return nil
}

// unitNames fills in the unit's names.
func (d *DB) unitNames(ctx context.Context, u *domain.UnitStats) error {
	err := d.queryRow(ctx, `SELECT name_zh, name_en FROM units WHERE id = ?`, u.ID).Scan(&u.NameZh, &u.NameEn)
	return notFound(err, "stats unit "+u.ID)
}

// overdue adds the commitments with items open past due at the period's
// end (or now, if sooner): approvals with owed items whose countersign
// agreed before then. It depends on the period's end, so it is asked of
// the owed items every time (owed_open_due serves the open ones).
func (d *DB) overdue(ctx context.Context, office string, end time.Time, st *domain.Stats, all *statsDay) error {
	asOf := end
	if now := d.now(); now.Before(asOf) {
		asOf = now
	}
	rows, err := d.query(ctx, `SELECT o.case_id, o.due_at, d.inspector_id, `+statsCaseUnit+` FROM owed_items o
		JOIN decisions d ON d.case_id = o.case_id AND d.decided_at = o.created_at
		JOIN cases c ON c.id = o.case_id
		WHERE c.office = ? AND d.outcome = 'approve' AND d.agree = 1 AND d.countersigned_at < ?
		AND o.due_at < ? AND (o.fulfilled_at IS NULL OR o.fulfilled_at > ?)`, office, ms(asOf), ms(asOf), ms(asOf))
	if err != nil {
		return fmt.Errorf("stats overdue: %w", err)
	}
	defer rows.Close()
	type owner struct{ inspector, unit string }
	cases := map[string]owner{}
	var days []float64
	for rows.Next() {
		var caseID string
		var o owner
		var due int64
		if err := rows.Scan(&caseID, &due, &o.inspector, &o.unit); err != nil {
			return fmt.Errorf("stats overdue: %w", err)
		}
		cases[caseID] = o
		days = append(days, asOf.Sub(time.UnixMilli(due)).Hours()/24)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("stats overdue: %w", err)
	}
	st.Overdue.Commitments, st.Overdue.Items = len(cases), len(days)
	if len(days) > 0 {
		st.Overdue.Days = domain.DurationsDays{Median: domain.Round2(domain.Percentile(days, 50)),
			P90: domain.Round2(domain.Percentile(days, 90)), Max: domain.Round2(slices.Max(days))}
	}
	for _, o := range cases {
		all.officer(o.inspector).overdue++
		if o.unit != "" {
			all.unit(o.unit).overdue++
		}
	}
	return nil
}

// statsEvent is one audit event as the figures read it: for a status
// change, its from, to and decision_id; the unit of its case.
type statsEvent struct {
	caseID, actor, action, target, data, unit string
	at                                        time.Time
	from, to                                  domain.Status
	decisionID                                string
}

// jsonString is the value of the string field key of the JSON object data
// as json.Marshal writes it (no spaces), "" when it has none. Inside a
// JSON string every quote is escaped, so `"key":"` never matches within a
// value (a comment quoting one), and the values read here (statuses, ids)
// hold nothing json.Marshal escapes. A fifth of the time json.Unmarshal
// took over a year's events.
func jsonString(data, key string) string {
	i := strings.Index(data, `"`+key+`":"`)
	if i < 0 {
		return ""
	}
	rest := data[i+len(key)+4:]
	j := strings.IndexByte(rest, '"')
	if j < 0 {
		return ""
	}
	return rest[:j]
}

// statsCounter walks the events in chain order, tallying each counted
// event in the office day it happened.
type statsCounter struct {
	loc        *time.Location
	start, end time.Time
	// submitted is each case's first submission.
	submitted map[string]time.Time
	// decisions are the inspectors' decisions, by id.
	decisions map[string]statsDecision
	// liveBy is who opened each live session; published, those that went live.
	liveBy    map[string]string
	published map[string]bool
	// urgent is when each case urgent now was marked, and its target.
	urgent map[string]statsUrgent
	// urgentOnce are the cases ever marked urgent.
	urgentOnce map[string]bool
	// ratedBy are the officers of each case's last rating.
	ratedBy map[string][2]string
	// unitOf is the unit each case is routed to, as the events go.
	unitOf map[string]string
	// days are the tallies per office day (YYYY-MM-DD).
	days map[string]*statsDay
}

type statsDecision struct {
	by string
	at time.Time
}

type statsUrgent struct {
	at     time.Time
	target time.Duration
}

// statsDay is what one office day (or a period) counts: the office's
// tallies, each officer's by user id and each unit's by unit id. Closed
// days are kept as its JSON in stats_days.
type statsDay struct {
	Total    *statsTally            `json:"t"`
	Officers map[string]*statsTally `json:"o,omitempty"`
	Units    map[string]*statsTally `json:"u,omitempty"`
}

func newStatsDay() *statsDay {
	return &statsDay{Total: &statsTally{}, Officers: map[string]*statsTally{}, Units: map[string]*statsTally{}}
}

func (s *statsDay) officer(id string) *statsTally { return tallyOf(s.Officers, id) }
func (s *statsDay) unit(id string) *statsTally    { return tallyOf(s.Units, id) }

func tallyOf(m map[string]*statsTally, id string) *statsTally {
	t := m[id]
	if t == nil {
		t = &statsTally{}
		m[id] = t
	}
	return t
}

// merge adds o's tallies to s.
func (s *statsDay) merge(o *statsDay) {
	s.Total.merge(o.Total)
	for id, t := range o.Officers {
		s.officer(id).merge(t)
	}
	for id, t := range o.Units {
		s.unit(id).merge(t)
	}
}

// statsTally is what is counted for the office, an officer or a unit;
// durations are in milliseconds, in the order of the events.
type statsTally struct {
	Received           int    `json:"rc,omitempty"`
	Decided            int    `json:"d,omitempty"`
	SameDay            int    `json:"sd,omitempty"`
	Countersigned      int    `json:"cs,omitempty"`
	Returned           int    `json:"rt,omitempty"`
	Live               int    `json:"l,omitempty"`
	Rated              int    `json:"r,omitempty"`
	RatedBad           int    `json:"rb,omitempty"`
	FollowupsOpened    int    `json:"fo,omitempty"`
	FollowupsClosed    int    `json:"fc,omitempty"`
	UrgentReceived     int    `json:"ur,omitempty"`
	UrgentDecided      int    `json:"ud,omitempty"`
	UrgentWithinTarget int    `json:"uw,omitempty"`
	ToDecision         msList `json:"td,omitempty"`
	ToCountersign      msList `json:"tc,omitempty"`
	// overdue depends on the period's end: never kept.
	overdue int
}

func (t *statsTally) merge(o *statsTally) {
	t.Received += o.Received
	t.Decided += o.Decided
	t.SameDay += o.SameDay
	t.Countersigned += o.Countersigned
	t.Returned += o.Returned
	t.Live += o.Live
	t.Rated += o.Rated
	t.RatedBad += o.RatedBad
	t.FollowupsOpened += o.FollowupsOpened
	t.FollowupsClosed += o.FollowupsClosed
	t.UrgentReceived += o.UrgentReceived
	t.UrgentDecided += o.UrgentDecided
	t.UrgentWithinTarget += o.UrgentWithinTarget
	t.ToDecision = append(t.ToDecision, o.ToDecision...)
	t.ToCountersign = append(t.ToCountersign, o.ToCountersign...)
	t.overdue += o.overdue
}

func newStatsCounter(loc *time.Location, start, end time.Time) *statsCounter {
	return &statsCounter{loc: loc, start: start, end: end, submitted: map[string]time.Time{}, decisions: map[string]statsDecision{},
		liveBy: map[string]string{}, published: map[string]bool{}, urgent: map[string]statsUrgent{}, urgentOnce: map[string]bool{},
		ratedBy: map[string][2]string{}, unitOf: map[string]string{}, days: map[string]*statsDay{}}
}

// day is the office day of t.
func (c *statsCounter) day(t time.Time) string { return t.In(c.loc).Format(time.DateOnly) }

// tallies are where an event of ev's case counts: the office's and its
// unit's that day, then those of the officers ids ("" skipped, each once).
func (c *statsCounter) tallies(ev statsEvent, ids ...string) []*statsTally {
	key := c.day(ev.at)
	day := c.days[key]
	if day == nil {
		day = newStatsDay()
		c.days[key] = day
	}
	out := []*statsTally{day.Total}
	if ev.unit != "" {
		out = append(out, day.unit(ev.unit))
	}
	for i, id := range ids {
		if id != "" && !slices.Contains(ids[:i], id) {
			out = append(out, day.officer(id))
		}
	}
	return out
}

// statsData are the fields of the rating and urgency events.
type statsData struct {
	Level       int     `json:"level"`
	InspectorID string  `json:"inspector_id"`
	ReviewerID  string  `json:"reviewer_id"`
	TargetHours float64 `json:"target_hours"`
}

func (c *statsCounter) add(ev statsEvent) {
	in := !ev.at.Before(c.start) && ev.at.Before(c.end)
	// The case's unit at the time of the event: routed by an admin, or
	// to the unit of the inspector who took it unrouted (storage/admin.go,
	// storage/assign.go). Not cases.unit_id, which changes after the fact
	// and would change the kept days' figures.
	switch ev.action {
	case "case.routed":
		c.unitOf[ev.caseID] = jsonString(ev.data, "to")
		return
	case "case.assigned":
		if u := jsonString(ev.data, "unit_id"); u != "" {
			c.unitOf[ev.caseID] = u
		}
		return
	}
	ev.unit = c.unitOf[ev.caseID]
	var data statsData
	switch ev.action {
	case "case.rated", "case.urgent_set":
		// Rare next to status changes: decoded in full.
		json.Unmarshal([]byte(ev.data), &data)
	}
	switch ev.action {
	case "live.created":
		c.liveBy[ev.target] = ev.actor
	case "live.published":
		if c.published[ev.target] {
			return // a reconnect
		}
		c.published[ev.target] = true
		if in {
			for _, t := range c.tallies(ev, c.liveBy[ev.target]) {
				t.Live++
			}
		}
	case "case.rated":
		c.ratedBy[ev.caseID] = [2]string{data.InspectorID, data.ReviewerID}
		if in {
			for _, t := range c.tallies(ev, data.InspectorID, data.ReviewerID) {
				t.Rated++
				if domain.OpensFollowUp(data.Level) {
					t.RatedBad++
				}
			}
		}
	case "followup.opened", "followup.closed":
		if in {
			by := c.ratedBy[ev.caseID]
			for _, t := range c.tallies(ev, by[0], by[1]) {
				if ev.action == "followup.opened" {
					t.FollowupsOpened++
				} else {
					t.FollowupsClosed++
				}
			}
		}
	case "case.urgent_set":
		c.urgent[ev.caseID] = statsUrgent{at: ev.at, target: time.Duration(data.TargetHours * float64(time.Hour))}
		if c.urgentOnce[ev.caseID] {
			return
		}
		c.urgentOnce[ev.caseID] = true
		if in {
			for _, t := range c.tallies(ev) {
				t.UrgentReceived++
			}
		}
	case "case.urgent_cleared":
		delete(c.urgent, ev.caseID)
	case "case.status":
		switch {
		case ev.from == domain.StatusDraft && ev.to == domain.StatusSubmitted:
			if _, again := c.submitted[ev.caseID]; again {
				return
			}
			c.submitted[ev.caseID] = ev.at
			if in {
				for _, t := range c.tallies(ev) {
					t.Received++
				}
			}
		case ev.to == domain.StatusPendingCountersign && ev.decisionID != "":
			c.decisions[ev.decisionID] = statsDecision{by: ev.actor, at: ev.at}
		case ev.from == domain.StatusPendingCountersign && in:
			dec, ok := c.decisions[ev.decisionID]
			for _, t := range c.tallies(ev, ev.actor) {
				t.Countersigned++
				if ok {
					t.ToCountersign = append(t.ToCountersign, ev.at.Sub(dec.at).Milliseconds())
				}
			}
			if ev.to != domain.StatusApproved && ev.to != domain.StatusRejected {
				for _, t := range c.tallies(ev, ev.actor) {
					t.Returned++
				}
				return
			}
			sub, submitted := c.submitted[ev.caseID]
			urgent, isUrgent := c.urgent[ev.caseID]
			for _, t := range c.tallies(ev, dec.by) {
				t.Decided++
				if submitted && c.day(sub) == c.day(ev.at) {
					t.SameDay++
				}
				if submitted && ok {
					t.ToDecision = append(t.ToDecision, dec.at.Sub(sub).Milliseconds())
				}
				if isUrgent {
					t.UrgentDecided++
					if ev.at.Sub(urgent.at) <= urgent.target {
						t.UrgentWithinTarget++
					}
				}
			}
		}
	}
}

func (t *statsTally) figures() domain.StatsFigures {
	f := domain.StatsFigures{Received: t.Received, Decided: t.Decided, DecidedSameDay: t.SameDay, Countersigned: t.Countersigned,
		Returned: t.Returned, LiveInspections: t.Live, Rated: t.Rated, RatedBad: t.RatedBad,
		FollowupsOpened: t.FollowupsOpened, FollowupsClosed: t.FollowupsClosed,
		UrgentReceived: t.UrgentReceived, UrgentDecided: t.UrgentDecided, UrgentWithinTarget: t.UrgentWithinTarget,
		SubmitToDecisionHours: summarizeMS(t.ToDecision), DecisionToCountersignHours: summarizeMS(t.ToCountersign)}
	if t.Decided > 0 {
		f.SameDayRate = domain.Round2(float64(t.SameDay) / float64(t.Decided))
	}
	if t.Rated > 0 {
		f.BadRate = domain.Round2(float64(t.RatedBad) / float64(t.Rated))
	}
	return f
}

// summarizeMS is domain.Summarize of durations in milliseconds.
func summarizeMS(v []int64) domain.Durations {
	d := make([]time.Duration, len(v))
	for i, m := range v {
		d[i] = time.Duration(m) * time.Millisecond
	}
	return domain.Summarize(d)
}
