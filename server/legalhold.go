package server

import (
	"context"
	"net/http"

	"siteinspect/domain"
	"siteinspect/storage"

	"github.com/labstack/echo/v4"
)

// RetentionService keeps originals for their retention, holds a case's
// originals under legal hold and tells a case's retention
// (*storage.Retention).
type RetentionService interface {
	// SetLegalHold sets (on) or lifts the case's hold for reason, audited;
	// ErrConflict when it is already so, ErrInvalid without a reason.
	SetLegalHold(ctx context.Context, c *domain.Case, actor *domain.User, on bool, reason string) (storage.LegalHold, error)
	// Status is the case's retention period, hold and purge.
	Status(ctx context.Context, c *domain.Case) (storage.RetentionStatus, error)
}

type legalHoldRequest struct {
	// Reason says why: the appeal's reference, the matter the evidence is
	// kept for, or why the hold ends.
	Reason string `json:"reason"`
}

// handleLegalHold sets (POST) or lifts (DELETE) the legal hold of a case:
// while it is held none of its originals can be deleted, on MinIO even past
// their retention date, and the purge sweeper passes it by.
func handleLegalHold(db caseLoader, ret RetentionService, on bool) echo.HandlerFunc {
	return func(c echo.Context) error {
		cs, err := loadCaseFor(c, db, "id", domain.ActionLegalHold)
		if err != nil {
			return err
		}
		var req legalHoldRequest
		if err := bindOptionalJSON(c, &req); err != nil {
			return err
		}
		ctx := c.Request().Context()
		if _, err := ret.SetLegalHold(ctx, cs, currentUser(c), on, req.Reason); err != nil {
			return err
		}
		st, err := ret.Status(ctx, cs)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, st)
	}
}

// handleRetention shows a case's retention period, legal hold and purge.
func handleRetention(db caseLoader, ret RetentionService) echo.HandlerFunc {
	return func(c echo.Context) error {
		cs, err := loadCaseFor(c, db, "id", domain.ActionReadNotes)
		if err != nil {
			return err
		}
		st, err := ret.Status(c.Request().Context(), cs)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, st)
	}
}
