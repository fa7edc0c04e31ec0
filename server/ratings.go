package server

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"siteinspect/domain"
)

// ratingStore is what the 好差评 and urgent-case handlers need from the
// records.
type ratingStore interface {
	caseLoader
	RateCase(ctx context.Context, cs *domain.Case, by *domain.User, loc *time.Location, followUpDays int, in domain.RatingInput) (*domain.Rating, error)
	CaseRating(ctx context.Context, caseID string) (*domain.Rating, error)
	FollowUps(ctx context.Context, u *domain.User, openOnly bool, limit int) ([]*domain.FollowUp, error)
	CloseFollowUp(ctx context.Context, by *domain.User, id, outcome string) (*domain.FollowUp, error)
	RatingAggregate(ctx context.Context, officerID string) (*domain.RatingAggregate, error)
	SetUrgent(ctx context.Context, cs *domain.Case, by *domain.User, in domain.UrgentInput) (*domain.Case, error)
	ClearUrgent(ctx context.Context, cs *domain.Case, by *domain.User) (*domain.Case, error)
}

// handleRateCase is the applicant rating the case's final decision
// (好差评): 201 with the rating and the follow-up it opened, if any. The
// body gives the contract's score (5 best) or our pages' level (1 best),
// or both when they agree (domain.RatingRequest).
func handleRateCase(db ratingStore, zone zoneFunc, followUpDays int) echo.HandlerFunc {
	return func(c echo.Context) error {
		loc := zone(c.Request().Context())
		cs, err := loadCaseFor(c, db, "id", domain.ActionRate)
		if err != nil {
			return err
		}
		var req domain.RatingRequest
		if err := bindJSON(c, &req); err != nil {
			return err
		}
		in, err := req.Input()
		if err != nil {
			return err
		}
		r, err := db.RateCase(c.Request().Context(), cs, currentUser(c), loc, followUpDays, in)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusCreated, r)
	}
}

// handleGetRating answers the case's rating with its follow-up and
// outcome, or null: to the company, the office's supervisors and admins,
// never to the case's officers (ActionReadRating).
func handleGetRating(db ratingStore) echo.HandlerFunc {
	return func(c echo.Context) error {
		cs, err := loadCaseFor(c, db, "id", domain.ActionReadRating)
		if err != nil {
			return err
		}
		r, err := db.CaseRating(c.Request().Context(), cs.ID)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, r)
	}
}

// handleFollowUps lists the office's follow-ups of bad ratings, open ones
// first (?open=1: only those): supervisors of the office and admins.
func handleFollowUps(db ratingStore, office string) echo.HandlerFunc {
	return func(c echo.Context) error {
		u := currentUser(c)
		if err := domain.AuthorizeOffice(u, domain.ActionReadFollowUps, office); err != nil {
			return err
		}
		open := c.QueryParam("open") == "1" || c.QueryParam("open") == "true"
		list, err := db.FollowUps(c.Request().Context(), u, open, 1000)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, list)
	}
}

// handleCloseFollowUp is a supervisor closing a follow-up with its
// outcome, which the applicant then sees on the case.
func handleCloseFollowUp(db ratingStore) echo.HandlerFunc {
	return func(c echo.Context) error {
		var req struct {
			Outcome string `json:"outcome"`
		}
		if err := bindJSON(c, &req); err != nil {
			return err
		}
		f, err := db.CloseFollowUp(c.Request().Context(), currentUser(c), c.Param("fid"), req.Outcome)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, f)
	}
}

// handleMyRatings answers the calling officer's own rating aggregate:
// counts and the mean, never who rated nor what they wrote, and the mean
// only over at least domain.RatingAggregateMin ratings.
func handleMyRatings(db ratingStore, office string) echo.HandlerFunc {
	return func(c echo.Context) error {
		u := currentUser(c)
		if err := domain.AuthorizeOffice(u, domain.ActionReadOwnRatings, office); err != nil {
			return err
		}
		a, err := db.RatingAggregate(c.Request().Context(), u.ID)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, a.WithholdFew())
	}
}

// handleSetUrgent marks the case urgent (特事特办) with a reason and a
// target in hours; handleClearUrgent (DELETE) takes the mark off. Both
// answer the case.
func handleSetUrgent(db ratingStore) echo.HandlerFunc {
	return func(c echo.Context) error {
		cs, err := loadCaseFor(c, db, "id", domain.ActionMarkUrgent)
		if err != nil {
			return err
		}
		var in domain.UrgentInput
		if err := bindJSON(c, &in); err != nil {
			return err
		}
		cs, err = db.SetUrgent(c.Request().Context(), cs, currentUser(c), in)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, showCase(cs, currentUser(c)))
	}
}

func handleClearUrgent(db ratingStore) echo.HandlerFunc {
	return func(c echo.Context) error {
		cs, err := loadCaseFor(c, db, "id", domain.ActionMarkUrgent)
		if err != nil {
			return err
		}
		cs, err = db.ClearUrgent(c.Request().Context(), cs, currentUser(c))
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, showCase(cs, currentUser(c)))
	}
}

// ratingEvent reports whether e is part of a rating's record: the
// company, supervisors and admins see it in the case's trail, the case's
// officers never (they would learn who rated and how).
func ratingEvent(e *domain.AuditEvent) bool {
	switch e.Action {
	case "case.rated", "followup.opened", "followup.closed":
		return true
	}
	return false
}

// hideRatings drops the rating events from events unless u may read the
// case's rating (ActionReadRating): the case's officers see the rest of
// the trail, not who rated it nor how.
func hideRatings(events []*domain.AuditEvent, cs *domain.Case, u *domain.User) []*domain.AuditEvent {
	if cs.Authorize(u, domain.ActionReadRating) == nil {
		return events
	}
	out := events[:0:0]
	for _, e := range events {
		if !ratingEvent(e) {
			out = append(out, e)
		}
	}
	return out
}
