package server

import (
	"context"
	"net/http"

	"github.com/labstack/echo/v4"

	"siteinspect/domain"
)

// slotStore is what the draft's file handlers need from the records.
type slotStore interface {
	caseLoader
	// SetEvidenceSlot files a draft's item under a material; ErrInvalid
	// (slot_invalid), ErrInvalidState (evidence_locked), ErrNotFound.
	SetEvidenceSlot(ctx context.Context, cs *domain.Case, by *domain.User, evID, slot string) (*domain.Evidence, error)
	// RemoveEvidence soft-removes a draft's item; ErrInvalidState
	// (evidence_locked), ErrNotFound.
	RemoveEvidence(ctx context.Context, cs *domain.Case, by *domain.User, evID string) error
}

// handleSetEvidenceSlot files a draft's evidence item under a document
// slot: {"slot": "营业执照"} (either language; "" takes it out).
func handleSetEvidenceSlot(db slotStore) echo.HandlerFunc {
	return func(c echo.Context) error {
		cs, err := loadCaseFor(c, db, "id", domain.ActionEditEvidence)
		if err != nil {
			return err
		}
		var req struct {
			Slot string `json:"slot"`
		}
		if err := bindJSON(c, &req); err != nil {
			return err
		}
		ev, err := db.SetEvidenceSlot(c.Request().Context(), cs, currentUser(c), c.Param("eid"), req.Slot)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, ev)
	}
}

// handleRemoveEvidence removes a file from a draft (kept in the store,
// gone from the case's lists, report and bundle).
func handleRemoveEvidence(db slotStore) echo.HandlerFunc {
	return func(c echo.Context) error {
		cs, err := loadCaseFor(c, db, "id", domain.ActionEditEvidence)
		if err != nil {
			return err
		}
		if err := db.RemoveEvidence(c.Request().Context(), cs, currentUser(c), c.Param("eid")); err != nil {
			return err
		}
		return c.NoContent(http.StatusNoContent)
	}
}
