package server

import (
	"context"
	"net/http"

	"github.com/labstack/echo/v4"

	"siteinspect/domain"
)

// coverageStore is what the coverage handler needs from the records.
type coverageStore interface {
	caseLoader
	CasePermitType(ctx context.Context, c *domain.Case) (*domain.PermitType, error)
	CaseShots(ctx context.Context, caseID string) ([]domain.ShotPlace, error)
	ListLiveSessions(ctx context.Context, caseID string) ([]*domain.LiveSession, error)
	LiveTrack(ctx context.Context, sessionID string) ([]domain.Position, error)
}

// trackJSON is one live session's GPS track and how it stands to the site.
type trackJSON struct {
	SessionID string              `json:"session_id"`
	Points    []domain.Position   `json:"points"`
	Summary   domain.TrackSummary `json:"summary"`
}

// handleCaseCoverage answers GET /cases/{id}/coverage: the checklist in
// order, each item with the footage marked as showing it (guided filming),
// and the GPS track of each live session against the site.
func handleCaseCoverage(db coverageStore, warnM float64) echo.HandlerFunc {
	return func(c echo.Context) error {
		cs, err := loadCaseFor(c, db, "id", domain.ActionReadNotes)
		if err != nil {
			return err
		}
		ctx := c.Request().Context()
		pt, err := db.CasePermitType(ctx, cs)
		if err != nil {
			return err
		}
		marks, err := db.CaseShots(ctx, cs.ID)
		if err != nil {
			return err
		}
		sessions, err := db.ListLiveSessions(ctx, cs.ID)
		if err != nil {
			return err
		}
		tracks := []trackJSON{}
		for _, ls := range sessions {
			pts, err := db.LiveTrack(ctx, ls.ID)
			if err != nil {
				return err
			}
			if len(pts) > 0 {
				tracks = append(tracks, trackJSON{SessionID: ls.ID, Points: pts, Summary: domain.SummarizeTrack(pts, cs.SiteLat, cs.SiteLon, warnM)})
			}
		}
		return c.JSON(http.StatusOK, map[string]any{"items": domain.Coverage(pt.Checklist, marks), "tracks": tracks, "site": siteOf(cs)})
	}
}
