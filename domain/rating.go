package domain

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// 好差评: after a case's final decision its applicant rates the service once
// per decision on the national scheme's five levels. A rating of 不满意 or
// worse opens a follow-up (整改) for the office's supervisors, with a
// deadline, which a supervisor closes with a recorded outcome that the
// applicant then sees. docs/RATINGS.md describes the whole loop.

// The five levels of a rating, best first.
const (
	LevelVerySatisfied    = 1 // 非常满意
	LevelSatisfied        = 2 // 满意
	LevelFair             = 3 // 基本满意
	LevelDissatisfied     = 4 // 不满意
	LevelVeryDissatisfied = 5 // 非常不满意
)

// The codes of the rating, follow-up and urgent-case errors.
const (
	// CodeRatingExists: the decision was rated already (once per decision).
	CodeRatingExists = "rating_exists"
	// CodeRatingLevelInvalid: the level is not one of 1…5.
	CodeRatingLevelInvalid = "rating_level_invalid"
	// CodeRatingScoreInvalid: the score is not one of 1…5.
	CodeRatingScoreInvalid = "rating_score_invalid"
	// CodeRatingScoreRequired: the body gives neither score nor level.
	CodeRatingScoreRequired = "rating_score_required"
	// CodeRatingScoreConflict: the body gives a score and a level that
	// disagree (level = 6 − score).
	CodeRatingScoreConflict = "rating_score_level_conflict"
	// CodeRatingApplicantOnly: only the person who applied rates the case.
	CodeRatingApplicantOnly = "rating_applicant_only"
	// CodeFollowUpClosed: the follow-up was closed already.
	CodeFollowUpClosed = "followup_closed"
	// CodeUrgentTargetInvalid: the target is not 1…720 hours.
	CodeUrgentTargetInvalid = "urgent_target_invalid"
	// CodeCaseNotUrgent: clearing the mark of a case that has none.
	CodeCaseNotUrgent = "case_not_urgent"
)

// ScoreOf is the contract's score (API.md: 5 非常满意 … 1 非常不满意) of a
// level (1 非常满意 … 5 非常不满意), and LevelOf its inverse: each is
// 6 minus the other, so a score ≤ 2 is a level ≥ 4 (OpensFollowUp).
func ScoreOf(level int) int { return 6 - level }

// LevelOf is the level of a score; see ScoreOf.
func LevelOf(score int) int { return 6 - score }

// RatingRequest is the body of POST /api/v1/cases/{id}/rating: the
// contract's score (API.md, 5 best), or the level our own pages send (1
// best), or both when they agree.
type RatingRequest struct {
	Score   *int   `json:"score"`
	Level   *int   `json:"level"`
	Comment string `json:"comment"`
}

// Input is the request as a RatingInput: the level given, or that of the
// score. Neither is rating_score_required, a score outside 1…5
// rating_score_invalid, a score and a level that disagree
// rating_score_level_conflict; the level and comment are checked by
// RatingInput.Check.
func (r RatingRequest) Input() (RatingInput, error) {
	in := RatingInput{Comment: r.Comment}
	switch {
	case r.Score == nil && r.Level == nil:
		return in, Coded(ErrInvalid, CodeRatingScoreRequired, "give score, 5 (非常满意) to 1 (非常不满意)")
	case r.Score == nil:
		in.Level = *r.Level
		return in, nil
	}
	if *r.Score < 1 || *r.Score > 5 {
		return in, Coded(ErrInvalid, CodeRatingScoreInvalid, "score is 5 (非常满意) to 1 (非常不满意)")
	}
	in.Level = LevelOf(*r.Score)
	if r.Level != nil && *r.Level != in.Level {
		return in, Coded(ErrInvalid, CodeRatingScoreConflict, fmt.Sprintf("score %d is level %d, not %d (level = 6 − score); give one of them", *r.Score, in.Level, *r.Level))
	}
	return in, nil
}

// RatingInput is what the applicant sends, as a level.
type RatingInput struct {
	Level   int    `json:"level"`
	Comment string `json:"comment"`
}

// Check validates the level and the comment.
func (in RatingInput) Check() error {
	if in.Level < LevelVerySatisfied || in.Level > LevelVeryDissatisfied {
		return Coded(ErrInvalid, CodeRatingLevelInvalid, "level is 1 (非常满意) to 5 (非常不满意)")
	}
	return CheckText("comment", in.Comment, false, 2000)
}

// OpensFollowUp reports whether a rating of level opens a follow-up
// (不满意 or worse).
func OpensFollowUp(level int) bool { return level >= LevelDissatisfied }

// Rating is the applicant's rating of one decision of a case.
type Rating struct {
	ID         string    `json:"id"`
	CaseID     string    `json:"case_id"`
	DecisionID string    `json:"decision_id"`
	Level      int       `json:"level"`
	Score      int       `json:"score"` // ScoreOf(Level), API.md's figure (5 best); MarshalJSON sets it
	Comment    string    `json:"comment"`
	RatedAt    time.Time `json:"rated_at"`
	// FollowUp is the follow-up the rating opened, nil for a rating of
	// 基本满意 or better.
	FollowUp *FollowUp `json:"followup"`
}

// MarshalJSON writes the rating with its score beside its level.
func (r Rating) MarshalJSON() ([]byte, error) {
	type plain Rating
	p := plain(r)
	p.Score = ScoreOf(r.Level)
	return json.Marshal(p)
}

// FollowUp is the office's answer to a bad rating (整改): open until a
// supervisor closes it with an outcome, due by DueAt.
type FollowUp struct {
	ID         string     `json:"id"`
	CaseID     string     `json:"case_id"`
	CaseNumber string     `json:"case_number,omitempty"`
	Office     string     `json:"office"`
	Level      int        `json:"level"`
	Score      int        `json:"score"` // ScoreOf(Level); MarshalJSON sets it
	Comment    string     `json:"comment"`
	OpenedAt   time.Time  `json:"opened_at"`
	DueAt      time.Time  `json:"due_at"`
	ClosedAt   *time.Time `json:"closed_at"`
	ClosedBy   *UserRef   `json:"closed_by"`
	Outcome    string     `json:"outcome"`
	// Overdue is whether it is open past DueAt when read.
	Overdue bool `json:"overdue"`
}

// MarshalJSON writes the follow-up with its score beside its level.
func (f FollowUp) MarshalJSON() ([]byte, error) {
	type plain FollowUp
	p := plain(f)
	p.Score = ScoreOf(f.Level)
	return json.Marshal(p)
}

// RatingAggregate is an officer's own figure: how the cases they inspected
// or countersigned were rated, with nothing that names a rater or a case.
type RatingAggregate struct {
	Count int `json:"count"`
	// Average is the mean level (1 best, 5 worst); 0 when Count is 0.
	Average float64 `json:"average"`
	// Dissatisfied counts ratings of 不满意 or worse; Share is its share
	// of Count (0…1).
	Dissatisfied int     `json:"dissatisfied"`
	Share        float64 `json:"share"`
	// Withheld says the figures are hidden because fewer than MinCount
	// ratings stand behind them (WithholdFew); Count still shows.
	Withheld bool `json:"withheld"`
	MinCount int  `json:"min_count"`
}

// RatingAggregateMin is how many ratings an officer's own figure needs
// before it shows: with fewer, a mean read after each decision would tell
// the officer how the last applicant rated them.
const RatingAggregateMin = 5

// WithholdFew is the aggregate as its officer may read it: the count, and
// the figures only once at least RatingAggregateMin ratings stand behind
// them.
func (a RatingAggregate) WithholdFew() RatingAggregate {
	a.MinCount = RatingAggregateMin
	if a.Count < RatingAggregateMin {
		a.Average, a.Dissatisfied, a.Share, a.Withheld = 0, 0, 0, true
	}
	return a
}

// UrgentInput is an officer or supervisor marking a case urgent
// (特事特办 / 应急审批).
type UrgentInput struct {
	Reason      string `json:"reason"`
	TargetHours int    `json:"target_hours"`
}

// MaxUrgentHours is the longest target an urgent case may have (30 days).
const MaxUrgentHours = 720

// Check validates the reason and the target.
func (in *UrgentInput) Check() error {
	in.Reason = strings.TrimSpace(in.Reason)
	if err := CheckText("reason", in.Reason, true, 1000); err != nil {
		return err
	}
	if in.TargetHours < 1 || in.TargetHours > MaxUrgentHours {
		return Coded(ErrInvalid, CodeUrgentTargetInvalid, fmt.Sprintf("target_hours is 1 to %d", MaxUrgentHours))
	}
	return nil
}

// Urgent is a case's urgent mark.
type Urgent struct {
	Reason      string    `json:"reason"`
	TargetHours int       `json:"target_hours"`
	SetAt       time.Time `json:"set_at"`
	// TargetAt is SetAt plus TargetHours: what the queue counts down to.
	TargetAt time.Time `json:"target_at"`
	// Active is whether the case still heads the queue: false once it is
	// decided or withdrawn (the mark stays on record).
	Active bool `json:"active"`
}
