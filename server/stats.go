package server

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"siteinspect/domain"
)

// statsReader is what the figures need from the records.
type statsReader interface {
	Stats(ctx context.Context, office string, loc *time.Location, from, to time.Time) (*domain.Stats, error)
}

// handleStats answers GET /api/v1/stats?from=YYYY-MM-DD&to=YYYY-MM-DD: the
// supervision figures of the office for those office days (both included,
// in the office's zone loc). Supervisors of the office and admins may read
// them (domain.OfficePolicy); anyone else gets 403 office_not_permitted.
func handleStats(db statsReader, office string, zone zoneFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		loc := zone(c.Request().Context())
		if err := domain.AuthorizeOffice(currentUser(c), domain.ActionReadStats, office); err != nil {
			return err
		}
		from, err1 := time.ParseInLocation(time.DateOnly, c.QueryParam("from"), loc)
		to, err2 := time.ParseInLocation(time.DateOnly, c.QueryParam("to"), loc)
		if err1 != nil || err2 != nil {
			return newCodedError(http.StatusBadRequest, "stats_period_invalid", "give from and to as office days, YYYY-MM-DD")
		}
		st, err := db.Stats(c.Request().Context(), office, loc, from, to)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, st)
	}
}
