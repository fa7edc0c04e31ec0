package server

import (
	"context"
	"errors"
	"net/http"
	"siteinspect/domain"
	"strconv"

	"github.com/labstack/echo/v4"
)

// catalogueStore is what the admins' catalogue routes need from the
// records (storage/permit.go).
type catalogueStore interface {
	// Catalogue returns every type with all its versions.
	Catalogue(ctx context.Context) ([]domain.CatalogueEntry, error)
	// CreatePermitType adds a type as its version 1: ErrInvalid,
	// ErrConflict when the code is taken.
	CreatePermitType(ctx context.Context, actor *domain.User, in domain.PermitType) (*domain.PermitType, error)
	// PublishPermitType publishes the next version after base:
	// ErrNotFound, ErrInvalid, ErrConflict when base is not current.
	PublishPermitType(ctx context.Context, actor *domain.User, code string, base int, in domain.PermitType) (*domain.PermitType, error)
	// RetirePermitType retires (true) or reactivates a type: ErrNotFound.
	RetirePermitType(ctx context.Context, actor *domain.User, code string, retire bool) (*domain.PermitType, error)
}

// permitTypeInput is the body of a create (with Code) or of a publish
// (with BaseVersion, the version the admin edited).
type permitTypeInput struct {
	Code              string                 `json:"code"`
	BaseVersion       int                    `json:"base_version"`
	Name              domain.Text            `json:"name"`
	CommitmentAllowed bool                   `json:"commitment_allowed"`
	SupplementDays    int                    `json:"supplement_days"`
	TargetDays        int                    `json:"target_days"`
	Checklist         []domain.ChecklistItem `json:"checklist"`
	Materials         []domain.Text          `json:"materials"`
	SlotsRequired     bool                   `json:"slots_required"`
}

func (in permitTypeInput) permitType() domain.PermitType {
	return domain.PermitType{Code: in.Code, Name: in.Name, CommitmentAllowed: in.CommitmentAllowed,
		SupplementDays: in.SupplementDays, TargetDays: in.TargetDays, Checklist: in.Checklist, Materials: in.Materials,
		SlotsRequired: in.SlotsRequired}
}

// catalogueAdmin refuses anyone but an admin (domain.OfficePolicy's
// ActionManageCatalogue).
func catalogueAdmin(c echo.Context) (*domain.User, error) {
	u := currentUser(c)
	return u, domain.AuthorizeCatalogue(u)
}

func handleAdminCatalogue(db catalogueStore) echo.HandlerFunc {
	return func(c echo.Context) error {
		if _, err := catalogueAdmin(c); err != nil {
			return err
		}
		entries, err := db.Catalogue(c.Request().Context())
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, entries)
	}
}

func handleCreatePermitType(db catalogueStore) echo.HandlerFunc {
	return func(c echo.Context) error {
		u, err := catalogueAdmin(c)
		if err != nil {
			return err
		}
		var in permitTypeInput
		if err := bindJSON(c, &in); err != nil {
			return err
		}
		pt, err := db.CreatePermitType(c.Request().Context(), u, in.permitType())
		if err != nil {
			return err
		}
		return c.JSON(http.StatusCreated, pt)
	}
}

// handlePublishPermitType answers POST
// /api/v1/admin/permit-types/:code/versions and PUT
// /api/v1/permit-types/:code: the type's next version, after the version
// the admin edited, named by the body's base_version or by If-Match (RFC
// 9110 §13.1.1; both, when given, must agree). A stale base named by
// If-Match is 412, by base_version 409 (permit_version_conflict both).
func handlePublishPermitType(db catalogueStore) echo.HandlerFunc {
	return func(c echo.Context) error {
		u, err := catalogueAdmin(c)
		if err != nil {
			return err
		}
		ifMatch, err := ifMatchVersion(c, "the type")
		if err != nil {
			return err
		}
		var in permitTypeInput
		if err := bindJSON(c, &in); err != nil {
			return err
		}
		code := c.Param("code")
		if in.Code != "" && in.Code != code {
			return newCodedError(http.StatusBadRequest, domain.CodePermitCodeInvalid, "a type's code does not change; create a new type instead")
		}
		if ifMatch != 0 {
			if in.BaseVersion != 0 && in.BaseVersion != ifMatch {
				return newError(http.StatusBadRequest, "If-Match and base_version name different versions")
			}
			in.BaseVersion = ifMatch
		}
		pt, err := db.PublishPermitType(c.Request().Context(), u, code, in.BaseVersion, in.permitType())
		var de *domain.Error
		if ifMatch != 0 && errors.As(err, &de) && de.Code == domain.CodePermitVersionConflict {
			return newCodedError(http.StatusPreconditionFailed, de.Code, de.Message)
		}
		if err != nil {
			return err
		}
		c.Response().Header().Set("ETag", `"`+strconv.Itoa(pt.Version)+`"`)
		return c.JSON(http.StatusCreated, pt)
	}
}

func handleRetirePermitType(db catalogueStore, retire bool) echo.HandlerFunc {
	return func(c echo.Context) error {
		u, err := catalogueAdmin(c)
		if err != nil {
			return err
		}
		pt, err := db.RetirePermitType(c.Request().Context(), u, c.Param("code"), retire)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, pt)
	}
}
