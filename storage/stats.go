package storage

import (
	"cmp"
	"context"
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
func (d *DB) Stats(ctx context.Context, office string, loc *time.Location, from, to time.Time) (*domain.Stats, error) {
	fy, fm, fd := from.Date()
	ty, tm, td := to.Date()
	start := time.Date(fy, fm, fd, 0, 0, 0, 0, loc)
	end := time.Date(ty, tm, td+1, 0, 0, 0, 0, loc)
	if !end.After(start) {
		return nil, domain.Coded(domain.ErrInvalid, "stats_period_invalid", "from must be on or before to")
	}
	if days := int(math.Round(end.Sub(start).Hours() / 24)); days > MaxStatsDays {
		return nil, domain.Coded(domain.ErrInvalid, "stats_period_invalid", fmt.Sprintf("a period has at most %d days, not %d", MaxStatsDays, days))
	}
	st := &domain.Stats{Office: office, Zone: loc.String(), From: start.Format(time.DateOnly), To: to.Format(time.DateOnly),
		Start: start.UTC(), End: end.UTC(), Officers: []domain.OfficerStats{}}
	c := newStatsCounter(loc, start, end)
	// Every status and live event, up to the period's end, of the cases of
	// the office that had one in the period: the earlier ones say when a
	// case was first submitted and who made the decision countersigned.
	rows, err := d.query(ctx, `SELECT e.case_id, COALESCE(e.actor_id, ''), e.action, e.target, e.data, e.at FROM audit_events e
		WHERE e.at < ? AND e.action IN ('case.status', 'live.created', 'live.published') AND e.case_id IN (
			SELECT x.case_id FROM audit_events x JOIN cases c ON c.id = x.case_id
			WHERE c.office = ? AND x.at >= ? AND x.at < ? AND x.action IN ('case.status', 'live.published'))
		ORDER BY e.seq`, ms(end), office, ms(start), ms(end))
	if err != nil {
		return nil, fmt.Errorf("stats events: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var ev statsEvent
		var data string
		var at int64
		if err := rows.Scan(&ev.caseID, &ev.actor, &ev.action, &ev.target, &data, &at); err != nil {
			return nil, fmt.Errorf("stats events: %w", err)
		}
		ev.at = time.UnixMilli(at)
		if ev.action == "case.status" {
			ev.from, ev.to, ev.decisionID = domain.Status(jsonString(data, "from")), domain.Status(jsonString(data, "to")), jsonString(data, "decision_id")
		}
		c.add(ev)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("stats events: %w", err)
	}
	rows.Close()
	if err := d.overdue(ctx, office, end, st, c); err != nil {
		return nil, err
	}
	st.Totals = c.total.figures()
	for id, o := range c.officers {
		u, err := d.UserByID(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("stats officer %s: %w", id, err)
		}
		st.Officers = append(st.Officers, domain.OfficerStats{ID: u.ID, Username: u.Username, DisplayName: u.DisplayName, Role: u.Role,
			StatsFigures: o.figures(), OverdueCommitments: o.overdue})
	}
	slices.SortFunc(st.Officers, func(a, b domain.OfficerStats) int { return cmp.Compare(a.Username, b.Username) })
	return st, nil
}

// overdue adds the commitments with items open past due at the period's
// end (or now, if sooner): approvals with owed items whose countersign
// agreed before then.
func (d *DB) overdue(ctx context.Context, office string, end time.Time, st *domain.Stats, c *statsCounter) error {
	asOf := end
	if now := d.now(); now.Before(asOf) {
		asOf = now
	}
	rows, err := d.query(ctx, `SELECT o.case_id, o.due_at, d.inspector_id FROM owed_items o
		JOIN decisions d ON d.case_id = o.case_id AND d.decided_at = o.created_at
		JOIN cases c ON c.id = o.case_id
		WHERE c.office = ? AND d.outcome = 'approve' AND d.agree = 1 AND d.countersigned_at < ?
		AND o.due_at < ? AND (o.fulfilled_at IS NULL OR o.fulfilled_at > ?)`, office, ms(asOf), ms(asOf), ms(asOf))
	if err != nil {
		return fmt.Errorf("stats overdue: %w", err)
	}
	defer rows.Close()
	cases := map[string]string{}
	var days []float64
	for rows.Next() {
		var caseID, inspector string
		var due int64
		if err := rows.Scan(&caseID, &due, &inspector); err != nil {
			return fmt.Errorf("stats overdue: %w", err)
		}
		cases[caseID] = inspector
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
	for _, inspector := range cases {
		c.officer(inspector).overdue++
	}
	return nil
}

// statsEvent is one audit event as the figures read it: for a status
// change, its from, to and decision_id.
type statsEvent struct {
	caseID, actor, action, target string
	at                            time.Time
	from, to                      domain.Status
	decisionID                    string
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

// statsCounter walks the events in chain order.
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
	total     *statsTally
	officers  map[string]*statsTally
}

type statsDecision struct {
	by string
	at time.Time
}

// statsTally is what is counted for the office or an officer.
type statsTally struct {
	received, decided, sameDay, countersigned, returned, live, overdue int
	toDecision, toCountersign                                          []time.Duration
}

func newStatsCounter(loc *time.Location, start, end time.Time) *statsCounter {
	return &statsCounter{loc: loc, start: start, end: end, submitted: map[string]time.Time{}, decisions: map[string]statsDecision{},
		liveBy: map[string]string{}, published: map[string]bool{}, total: &statsTally{}, officers: map[string]*statsTally{}}
}

func (c *statsCounter) officer(id string) *statsTally {
	t := c.officers[id]
	if t == nil {
		t = &statsTally{}
		c.officers[id] = t
	}
	return t
}

// day is the office day of t.
func (c *statsCounter) day(t time.Time) string { return t.In(c.loc).Format(time.DateOnly) }

func (c *statsCounter) add(ev statsEvent) {
	in := !ev.at.Before(c.start) && ev.at.Before(c.end)
	switch ev.action {
	case "live.created":
		c.liveBy[ev.target] = ev.actor
	case "live.published":
		if c.published[ev.target] {
			return // a reconnect
		}
		c.published[ev.target] = true
		if in {
			c.total.live++
			if by := c.liveBy[ev.target]; by != "" {
				c.officer(by).live++
			}
		}
	case "case.status":
		switch {
		case ev.from == domain.StatusDraft && ev.to == domain.StatusSubmitted:
			if _, again := c.submitted[ev.caseID]; again {
				return
			}
			c.submitted[ev.caseID] = ev.at
			if in {
				c.total.received++
			}
		case ev.to == domain.StatusPendingCountersign && ev.decisionID != "":
			c.decisions[ev.decisionID] = statsDecision{by: ev.actor, at: ev.at}
		case ev.from == domain.StatusPendingCountersign && in:
			dec, ok := c.decisions[ev.decisionID]
			reviewer := c.officer(ev.actor)
			for _, t := range []*statsTally{c.total, reviewer} {
				t.countersigned++
				if ok {
					t.toCountersign = append(t.toCountersign, ev.at.Sub(dec.at))
				}
			}
			if ev.to != domain.StatusApproved && ev.to != domain.StatusRejected {
				c.total.returned++
				reviewer.returned++
				return
			}
			tallies := []*statsTally{c.total}
			if ok {
				tallies = append(tallies, c.officer(dec.by))
			}
			sub, submitted := c.submitted[ev.caseID]
			for _, t := range tallies {
				t.decided++
				if submitted && c.day(sub) == c.day(ev.at) {
					t.sameDay++
				}
				if submitted && ok {
					t.toDecision = append(t.toDecision, dec.at.Sub(sub))
				}
			}
		}
	}
}

func (t *statsTally) figures() domain.StatsFigures {
	f := domain.StatsFigures{Received: t.received, Decided: t.decided, DecidedSameDay: t.sameDay, Countersigned: t.countersigned,
		Returned: t.returned, LiveInspections: t.live,
		SubmitToDecisionHours: domain.Summarize(t.toDecision), DecisionToCountersignHours: domain.Summarize(t.toCountersign)}
	if t.decided > 0 {
		f.SameDayRate = domain.Round2(float64(t.sameDay) / float64(t.decided))
	}
	return f
}
