package server

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"siteinspect/domain"
)

// owedStore is what the commitment and owed-material handlers need from
// the records (承诺办: commitment, delivery, acceptance or return, the
// office's escalation list).
type owedStore interface {
	caseLoader
	SignCommitment(ctx context.Context, cs *domain.Case, by *domain.User, loc *time.Location, in domain.CommitmentInput) (*domain.Commitment, error)
	Commitment(ctx context.Context, caseID string) (*domain.Commitment, error)
	ReturnOwed(ctx context.Context, cs *domain.Case, by *domain.User, owedID, reason string) error
	OfficeOwed(ctx context.Context, u *domain.User, overdueOnly bool, limit int) ([]*domain.OwedEntry, error)
}

// handleSignCommitment is the applicant signing the commitment (承诺书) on
// a draft case.
func handleSignCommitment(db owedStore, zone zoneFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		loc := zone(c.Request().Context())
		cs, err := loadCaseFor(c, db, "id", domain.ActionSignCommitment)
		if err != nil {
			return err
		}
		var in domain.CommitmentInput
		if err := bindJSON(c, &in); err != nil {
			return err
		}
		cm, err := db.SignCommitment(c.Request().Context(), cs, currentUser(c), loc, in)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusCreated, cm)
	}
}

// handleGetCommitment answers the case's commitment, or null when it has
// none.
func handleGetCommitment(db owedStore) echo.HandlerFunc {
	return func(c echo.Context) error {
		cs, err := loadCaseFor(c, db, "id", domain.ActionReadOwed)
		if err != nil {
			return err
		}
		cm, err := db.Commitment(c.Request().Context(), cs.ID)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, cm)
	}
}

// handleReturnOwed is the inspector returning a delivered material with a
// reason (退回): its slot opens again.
func handleReturnOwed(db owedStore) echo.HandlerFunc {
	return func(c echo.Context) error {
		cs, err := loadCaseFor(c, db, "id", domain.ActionConfirmOwed)
		if err != nil {
			return err
		}
		var req struct {
			Reason string `json:"reason"`
		}
		if err := bindJSON(c, &req); err != nil {
			return err
		}
		if err := db.ReturnOwed(c.Request().Context(), cs, currentUser(c), c.Param("oid"), req.Reason); err != nil {
			return err
		}
		return c.NoContent(http.StatusNoContent)
	}
}

// handleOfficeOwed is the office's list of open owed items
// (?overdue=1: only those past due with nothing delivered — the
// escalation list): the office head (supervisor) and officers see their
// office's, administrators all.
func handleOfficeOwed(db owedStore) echo.HandlerFunc {
	return func(c echo.Context) error {
		u := currentUser(c)
		switch u.Role {
		case domain.RoleAdmin, domain.RoleSupervisor, domain.RoleInspector, domain.RoleReviewer:
		default:
			return newCodedError(http.StatusForbidden, domain.CodeNotPermitted, "only the office's officers see the list of owed materials")
		}
		overdue := c.QueryParam("overdue") == "1" || c.QueryParam("overdue") == "true"
		list, err := db.OfficeOwed(c.Request().Context(), u, overdue, 500)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, list)
	}
}
