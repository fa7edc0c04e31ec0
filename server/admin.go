package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"siteinspect/domain"
	"siteinspect/storage"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"
)

// adminStore is what the administration routes need from the records
// (storage/admin.go, storage/settings.go). Each change is audited in the
// same transaction.
type adminStore interface {
	// ListUsers returns the accounts a filter selects.
	ListUsers(ctx context.Context, f storage.UserFilter) ([]*domain.User, error)
	// CreateUserAs creates an account; ErrConflict username_taken.
	CreateUserAs(ctx context.Context, actor *domain.User, in storage.NewUserInput) (*domain.User, error)
	// UpdateUser edits an account; ErrNotFound, ErrForbidden
	// cannot_disable_self, ErrConflict last_admin, ErrInvalid unknown_unit.
	UpdateUser(ctx context.Context, actor *domain.User, id string, e domain.UserEdit) (*domain.User, error)
	// ResetPassword sets a temporary password; ErrNotFound.
	ResetPassword(ctx context.Context, actor *domain.User, id, password string) error
	// Units lists the office's units.
	Units(ctx context.Context, office string) ([]*domain.Unit, error)
	// CreateUnit adds a unit; ErrConflict unit_name_taken.
	CreateUnit(ctx context.Context, actor *domain.User, office, nameZh, nameEn string) (*domain.Unit, error)
	// PatchUnit renames a unit, keeping a nil name as it is; ErrNotFound,
	// ErrInvalid unit_name_invalid, ErrConflict unit_name_taken.
	PatchUnit(ctx context.Context, actor *domain.User, office, id string, nameZh, nameEn *string) (*domain.Unit, error)
	// SaveOfficeSettings changes the office's settings; ErrInvalid
	// bad_timezone, bad_retention.
	SaveOfficeSettings(ctx context.Context, actor *domain.User, in domain.OfficeSettings) (domain.OfficeSettings, error)
	// RouteCase routes a case to a unit ("" the whole office).
	RouteCase(ctx context.Context, c *domain.Case, actor *domain.User, unitID string) (*domain.Case, error)
}

// handleListUsers answers GET /api/v1/admin/users?q=&role=&unit=&disabled=:
// the accounts, for admins (domain.ActionManageUsers).
func handleListUsers(db adminStore, office string) echo.HandlerFunc {
	return func(c echo.Context) error {
		if err := domain.AuthorizeOffice(currentUser(c), domain.ActionManageUsers, office); err != nil {
			return err
		}
		text, err := searchParam(c, "q")
		if err != nil {
			return err
		}
		f := storage.UserFilter{Text: text, Role: domain.Role(c.QueryParam("role")), Unit: c.QueryParam("unit")}
		switch c.QueryParam("disabled") {
		case "":
		case "true", "1":
			t := true
			f.Disabled = &t
		case "false", "0":
			t := false
			f.Disabled = &t
		default:
			return newCodedError(http.StatusBadRequest, "bad_filter", "disabled is true or false")
		}
		users, err := db.ListUsers(c.Request().Context(), f)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, users)
	}
}

// handleCreateUser answers POST /api/v1/admin/users: an admin creates an
// account with an initial password. An officer's, supervisor's or admin's
// org defaults to this office; an applicant's is their company (required).
func handleCreateUser(db adminStore, office string) echo.HandlerFunc {
	return func(c echo.Context) error {
		u := currentUser(c)
		if err := domain.AuthorizeOffice(u, domain.ActionManageUsers, office); err != nil {
			return err
		}
		var in storage.NewUserInput
		if err := bindJSON(c, &in); err != nil {
			return err
		}
		if strings.TrimSpace(in.Org) == "" {
			if in.Role == domain.RoleApplicant {
				return newCodedError(http.StatusBadRequest, "org_required", "an applicant needs their company's name (org)")
			}
			in.Org = office
		}
		created, err := db.CreateUserAs(c.Request().Context(), u, in)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusCreated, created)
	}
}

// handleUpdateUser answers PATCH /api/v1/users/:uid and PATCH
// /api/v1/admin/users/:uid, a JSON Merge Patch (RFC 7396) of any of
// display_name, role, unit_id, disabled and password (userEdit).
func handleUpdateUser(db adminStore, office string) echo.HandlerFunc {
	return func(c echo.Context) error {
		u := currentUser(c)
		if err := domain.AuthorizeOffice(u, domain.ActionManageUsers, office); err != nil {
			return err
		}
		patch, err := readMergePatch(c)
		if err != nil {
			return err
		}
		e, err := userEdit(patch)
		if err != nil {
			return err
		}
		updated, err := db.UpdateUser(c.Request().Context(), u, c.Param("uid"), e)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, updated)
	}
}

// userEdit reads a merge patch on an account. A member left out stays as
// it is; null removes what is optional: "unit_id": null takes the user out
// of their unit (as ""), "disabled": null enables the account (as false).
// The display name, role and password cannot be removed: null is refused
// with the field's own code. "password" sets a temporary password as POST
// /api/v1/admin/users/:uid/password does, in the same transaction.
func userEdit(patch map[string]any) (domain.UserEdit, error) {
	var e domain.UserEdit
	doc := make(map[string]any, len(patch))
	for k, v := range patch {
		if v == nil {
			switch k {
			case "unit_id":
				v = ""
			case "disabled":
				v = false
			case "display_name":
				return e, newCodedError(http.StatusBadRequest, "display_name_invalid", "the display name cannot be removed")
			case "role":
				return e, newCodedError(http.StatusBadRequest, "unknown_role", "the role cannot be removed")
			case "password":
				return e, newCodedError(http.StatusBadRequest, "password_length", "the password cannot be removed; send a new one")
			}
		}
		doc[k] = v
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return e, fmt.Errorf("user patch to JSON: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		return e, newError(http.StatusBadRequest, "the patch is not valid: "+err.Error())
	}
	return e, nil
}

// handleResetPassword answers POST /api/v1/admin/users/:uid/password
// {"password"}: the admin sets a temporary password, which the admin
// hands to the user; the user's sessions end at once.
func handleResetPassword(db adminStore, office string) echo.HandlerFunc {
	return func(c echo.Context) error {
		u := currentUser(c)
		if err := domain.AuthorizeOffice(u, domain.ActionManageUsers, office); err != nil {
			return err
		}
		var in struct {
			Password string `json:"password"`
		}
		if err := bindJSON(c, &in); err != nil {
			return err
		}
		if err := db.ResetPassword(c.Request().Context(), u, c.Param("uid"), in.Password); err != nil {
			return err
		}
		return c.NoContent(http.StatusNoContent)
	}
}

// handleListUnits answers GET /api/v1/units: the office's units, for any
// logged-in user (their names are not secret; the queue's unit filter and
// the admin page show them).
func handleListUnits(db adminStore, office string) echo.HandlerFunc {
	return func(c echo.Context) error {
		units, err := db.Units(c.Request().Context(), office)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, units)
	}
}

// unitInput is a unit's names.
type unitInput struct {
	NameZh string `json:"name_zh"`
	NameEn string `json:"name_en"`
}

// handleCreateUnit answers POST /api/v1/admin/units {"name_zh","name_en"}.
func handleCreateUnit(db adminStore, office string) echo.HandlerFunc {
	return func(c echo.Context) error {
		u := currentUser(c)
		if err := domain.AuthorizeOffice(u, domain.ActionManageUnits, office); err != nil {
			return err
		}
		var in unitInput
		if err := bindJSON(c, &in); err != nil {
			return err
		}
		unit, err := db.CreateUnit(c.Request().Context(), u, office, in.NameZh, in.NameEn)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusCreated, unit)
	}
}

// handleRenameUnit answers PATCH /api/v1/admin/units/:unit, a JSON Merge
// Patch of name_zh and name_en: a name left out stays as it is; both are
// required, so null is refused (unit_name_invalid).
func handleRenameUnit(db adminStore, office string) echo.HandlerFunc {
	return func(c echo.Context) error {
		u := currentUser(c)
		if err := domain.AuthorizeOffice(u, domain.ActionManageUnits, office); err != nil {
			return err
		}
		patch, err := readMergePatch(c)
		if err != nil {
			return err
		}
		var names [2]*string
		for k, v := range patch {
			i := slices.Index([]string{"name_zh", "name_en"}, k)
			if i < 0 {
				return newError(http.StatusBadRequest, fmt.Sprintf("a unit has no field %q; send name_zh or name_en", k))
			}
			name, ok := v.(string)
			if !ok {
				return newCodedError(http.StatusBadRequest, "unit_name_invalid", k+" is a name (a string) and cannot be removed")
			}
			names[i] = &name
		}
		unit, err := db.PatchUnit(c.Request().Context(), u, office, c.Param("unit"), names[0], names[1])
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, unit)
	}
}

// settingsBody is GET/PUT /api/v1/admin/settings: what an admin set (zero:
// not set), and the values in force with the flags' defaults.
type settingsBody struct {
	domain.OfficeSettings
	Effective settingsEffective `json:"effective"`
	Defaults  settingsEffective `json:"defaults"`
}

type settingsEffective struct {
	NameZh        string `json:"name_zh"`
	NameEn        string `json:"name_en"`
	Timezone      string `json:"timezone"`
	RetentionDays int    `json:"retention_days"`
}

func showSettings(ctx context.Context, off *office) settingsBody {
	v := off.current(ctx)
	return settingsBody{OfficeSettings: v.Set,
		Effective: settingsEffective{NameZh: v.NameZh, NameEn: v.NameEn, Timezone: v.Location.String(), RetentionDays: v.RetentionDays},
		Defaults:  settingsEffective{NameZh: off.name, NameEn: off.name, Timezone: off.loc.String(), RetentionDays: off.retentionDays}}
}

// handleGetSettings answers GET /api/v1/admin/settings.
func handleGetSettings(db adminStore, off *office) echo.HandlerFunc {
	return func(c echo.Context) error {
		if err := domain.AuthorizeOffice(currentUser(c), domain.ActionManageSettings, off.code); err != nil {
			return err
		}
		return c.JSON(http.StatusOK, showSettings(c.Request().Context(), off))
	}
}

// handleSaveSettings answers PUT /api/v1/admin/settings {"name_zh",
// "name_en","timezone","retention_days"}; an empty or zero field falls
// back to the server's flag. The change applies at once on every replica.
func handleSaveSettings(db adminStore, off *office) echo.HandlerFunc {
	return func(c echo.Context) error {
		u := currentUser(c)
		if err := domain.AuthorizeOffice(u, domain.ActionManageSettings, off.code); err != nil {
			return err
		}
		var in struct {
			NameZh        string `json:"name_zh"`
			NameEn        string `json:"name_en"`
			Timezone      string `json:"timezone"`
			RetentionDays int    `json:"retention_days"`
		}
		if err := bindJSON(c, &in); err != nil {
			return err
		}
		_, err := db.SaveOfficeSettings(c.Request().Context(), u, domain.OfficeSettings{Office: off.code,
			NameZh: in.NameZh, NameEn: in.NameEn, Timezone: in.Timezone, RetentionDays: in.RetentionDays})
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, showSettings(c.Request().Context(), off))
	}
}

// handleRouteCase answers POST /api/v1/cases/:id/route {"unit_id"}: an
// admin routes the case to a unit ("" back to the whole office).
func handleRouteCase(db interface {
	caseLoader
	adminStore
}) echo.HandlerFunc {
	return func(c echo.Context) error {
		cs, err := loadCaseFor(c, db, "id", domain.ActionRoute)
		if err != nil {
			return err
		}
		var in struct {
			UnitID string `json:"unit_id"`
		}
		if err := bindJSON(c, &in); err != nil {
			return err
		}
		if cs, err = db.RouteCase(c.Request().Context(), cs, currentUser(c), in.UnitID); err != nil {
			return err
		}
		return c.JSON(http.StatusOK, showCase(cs, currentUser(c)))
	}
}
