package domain

import (
	"math"
	"slices"
	"time"
)

// Stats are the supervision figures of one office over a period of whole
// office days (GET /api/v1/stats). They are computed from the audit chain
// (and the owed items written in the same transactions), so every replica
// gives the same figures and any past period can be computed again.
//
// What is counted, for an event in [From 00:00, To+1 00:00) of the office's
// zone:
//   - Received: first submissions (a draft becoming submitted); a resubmission
//     after a supplement request is not a new case.
//   - Decided: final decisions, that is countersigns that agreed (the case
//     became approved or rejected).
//   - DecidedSameDay: of those, the ones whose final decision fell on the
//     office day of the case's first submission (马上办).
//   - SubmitToDecisionHours: first submission → the inspector's decision that
//     was countersigned, for each decided case.
//   - Countersigned: the reviewers' answers, agreeing or returning.
//   - DecisionToCountersignHours: the decision → its countersign, for every
//     answer.
//   - Returned: countersigns that disagreed (the case went back to review).
//   - LiveInspections: live inspections that went live (the site's phone
//     published) in the period.
//   - Rated, RatedBad: the applicants' ratings (好差评, event case.rated),
//     and those of level 4 (不满意) or worse; an officer's are the ratings
//     of the cases they decided or countersigned.
//   - FollowupsOpened, FollowupsClosed: the follow-ups (整改) of bad
//     ratings opened and closed; an officer's are those of their rated cases.
//   - UrgentReceived: cases marked urgent (特事特办, case.urgent_set) for the
//     first time; UrgentDecided: final decisions of cases urgent at the
//     time; UrgentWithinTarget: of those, decided within the target hours
//     counted from the marking.
//   - Overdue: commitments (approvals with materials owed, countersigned by
//     the period's end) with items still open past their due time at the
//     period's end, or now if that is earlier.
type Stats struct {
	Office string `json:"office"`
	// Zone is the IANA name of the office's time zone the days are in.
	Zone string `json:"zone"`
	// From and To are the first and last office days, YYYY-MM-DD.
	From string `json:"from"`
	To   string `json:"to"`
	// Start and End are the period's instants: Start inclusive, End
	// exclusive (To's next midnight in Zone).
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	// Totals are the office's figures.
	Totals StatsFigures `json:"totals"`
	// Units are the figures per unit (分中心) of the office: the events of
	// the cases routed to the unit at the time of the event (case.routed,
	// or case.assigned to an inspector of the unit), by unit id; the events
	// of a case of no unit then are counted in Totals only. Overdue
	// commitments go to the case's unit now.
	Units []UnitStats `json:"units"`
	// Officers are the figures per officer who decided, countersigned or
	// held a live inspection in the period (or has overdue commitments),
	// by username.
	Officers []OfficerStats `json:"officers"`
	// Overdue is the office's open commitments past due.
	Overdue OverdueStats `json:"overdue"`

	// The figures under API.md's names ("Office"), for outside clients:
	// the same numbers as Totals, Overdue and Officers, set by Contract.
	Received    int     `json:"received"`
	Decided     int     `json:"decided"`
	SameDay     int     `json:"same_day"`
	SameDayRate float64 `json:"same_day_rate"` // SameDay / Decided, a fraction 0…1 to 0.01
	// HoursToDecision and HoursToCountersign are
	// Totals.SubmitToDecisionHours and Totals.DecisionToCountersignHours.
	HoursToDecision         Percentiles `json:"hours_to_decision"`
	HoursToCountersign      Percentiles `json:"hours_to_countersign"`
	ReturnedByCountersigner int         `json:"returned_by_countersigner"`
	LiveSessions            int         `json:"live_sessions"`
	// OverdueOwed is Overdue.Items: the owed items of commitments open
	// past due at the period's end (or now).
	OverdueOwed int              `json:"overdue_owed"`
	ByOfficer   []OfficerSummary `json:"by_officer"`
	Ratings     RatingCounts     `json:"ratings"`
}

// Percentiles are hours' median (p50) and 90th percentile, as API.md
// names them; 0 when there are none.
type Percentiles struct {
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
}

// OfficerSummary is an officer's row of Stats.ByOfficer: User is the
// username; the figures are those of OfficerStats.
type OfficerSummary struct {
	User            string      `json:"user"`
	UserID          string      `json:"user_id"`
	DisplayName     string      `json:"display_name"`
	Role            Role        `json:"role"`
	Decided         int         `json:"decided"`
	SameDay         int         `json:"same_day"`
	HoursToDecision Percentiles `json:"hours_to_decision"`
}

// RatingCounts are the period's ratings and of those the bad ones: score
// ≤ 2, that is level ≥ 4 (Totals.Rated and Totals.RatedBad).
type RatingCounts struct {
	Count int `json:"count"`
	Bad   int `json:"bad"`
}

// percentiles are d's median and p90.
func (d Durations) percentiles() Percentiles { return Percentiles{P50: d.Median, P90: d.P90} }

// Contract sets the figures under API.md's names from Totals, Overdue and
// Officers, once those are complete.
func (st *Stats) Contract() {
	t := st.Totals
	st.Received, st.Decided, st.SameDay, st.SameDayRate = t.Received, t.Decided, t.DecidedSameDay, t.SameDayRate
	st.HoursToDecision = t.SubmitToDecisionHours.percentiles()
	st.HoursToCountersign = t.DecisionToCountersignHours.percentiles()
	st.ReturnedByCountersigner, st.LiveSessions = t.Returned, t.LiveInspections
	st.OverdueOwed = st.Overdue.Items
	st.Ratings = RatingCounts{Count: t.Rated, Bad: t.RatedBad}
	st.ByOfficer = make([]OfficerSummary, 0, len(st.Officers))
	for _, o := range st.Officers {
		st.ByOfficer = append(st.ByOfficer, OfficerSummary{User: o.Username, UserID: o.ID, DisplayName: o.DisplayName, Role: o.Role,
			Decided: o.Decided, SameDay: o.DecidedSameDay, HoursToDecision: o.SubmitToDecisionHours.percentiles()})
	}
}

// StatsFigures are the counts and durations of the office or one officer.
type StatsFigures struct {
	Received       int `json:"received"`
	Decided        int `json:"decided"`
	DecidedSameDay int `json:"decided_same_day"`
	// SameDayRate is DecidedSameDay / Decided, 0 when nothing was decided.
	SameDayRate                float64   `json:"same_day_rate"`
	SubmitToDecisionHours      Durations `json:"submit_to_decision_hours"`
	DecisionToCountersignHours Durations `json:"decision_to_countersign_hours"`
	Countersigned              int       `json:"countersigned"`
	Returned                   int       `json:"returned"`
	LiveInspections            int       `json:"live_inspections"`
	Rated                      int       `json:"rated"`
	RatedBad                   int       `json:"rated_bad"`
	// BadRate is RatedBad / Rated, 0 when nothing was rated.
	BadRate            float64 `json:"bad_rate"`
	FollowupsOpened    int     `json:"followups_opened"`
	FollowupsClosed    int     `json:"followups_closed"`
	UrgentReceived     int     `json:"urgent_received"`
	UrgentDecided      int     `json:"urgent_decided"`
	UrgentWithinTarget int     `json:"urgent_within_target"`
}

// UnitStats are the figures of the cases routed to one unit.
type UnitStats struct {
	ID     string `json:"id"`
	NameZh string `json:"name_zh"`
	NameEn string `json:"name_en"`
	StatsFigures
	OverdueCommitments int `json:"overdue_commitments"`
}

// Durations summarises hours: how many, their median and 90th percentile
// (linear interpolation between the closest ranks), 0 when there are none.
type Durations struct {
	Count  int     `json:"count"`
	Median float64 `json:"median"`
	P90    float64 `json:"p90"`
}

// OfficerStats are one officer's figures: as the inspector who decided
// (Decided, DecidedSameDay, SubmitToDecisionHours, LiveInspections,
// Overdue), and as the reviewer who countersigned (Countersigned, Returned,
// DecisionToCountersignHours). Received is always 0: a case is received by
// the office, not by an officer.
type OfficerStats struct {
	ID          string `json:"id"`
	Username    string `json:"username"`
	DisplayName string `json:"display_name"`
	Role        Role   `json:"role"`
	StatsFigures
	OverdueCommitments int `json:"overdue_commitments"`
}

// OverdueStats are the commitments with items past due.
type OverdueStats struct {
	// Commitments is how many cases have at least one item overdue.
	Commitments int `json:"commitments"`
	// Items is how many items are overdue.
	Items int `json:"items"`
	// Days are how long each overdue item has been overdue, in days.
	Days DurationsDays `json:"days"`
}

// DurationsDays is Durations in days, with the longest.
type DurationsDays struct {
	Median float64 `json:"median"`
	P90    float64 `json:"p90"`
	Max    float64 `json:"max"`
}

// Summarize is the Durations of d, in hours rounded to 0.01.
func Summarize(d []time.Duration) Durations {
	h := make([]float64, len(d))
	for i, v := range d {
		h[i] = v.Hours()
	}
	slices.Sort(h)
	return Durations{Count: len(h), Median: Round2(percentileSorted(h, 50)), P90: Round2(percentileSorted(h, 90))}
}

// Percentile is the p-th percentile of v (0 ≤ p ≤ 100) by linear
// interpolation between the closest ranks (the common "type 7"): the
// median of an even count is the mean of the middle two. It is 0 for an
// empty v, and does not change v.
func Percentile(v []float64, p float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return percentileSorted(s, p)
}

// percentileSorted is Percentile of s sorted in increasing order.
func percentileSorted(s []float64, p float64) float64 {
	if len(s) == 0 {
		return 0
	}
	pos := p / 100 * float64(len(s)-1)
	lo := int(math.Floor(pos))
	if lo >= len(s)-1 {
		return s[len(s)-1]
	}
	return s[lo] + (pos-float64(lo))*(s[lo+1]-s[lo])
}

// Round2 rounds f to two decimals, as the figures are shown.
func Round2(f float64) float64 { return math.Round(f*100) / 100 }
