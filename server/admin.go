package server

import (
	"context"
	"net/http"
	"siteinspect/domain"
	"siteinspect/storage"
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
	// RenameUnit renames a unit; ErrNotFound, ErrConflict unit_name_taken.
	RenameUnit(ctx context.Context, actor *domain.User, office, id, nameZh, nameEn string) (*domain.Unit, error)
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
		f := storage.UserFilter{Text: c.QueryParam("q"), Role: domain.Role(c.QueryParam("role")), Unit: c.QueryParam("unit")}
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

// handleUpdateUser answers PATCH /api/v1/admin/users/:uid with any of
// display_name, role, unit_id ("" for none) and disabled.
func handleUpdateUser(db adminStore, office string) echo.HandlerFunc {
	return func(c echo.Context) error {
		u := currentUser(c)
		if err := domain.AuthorizeOffice(u, domain.ActionManageUsers, office); err != nil {
			return err
		}
		var e domain.UserEdit
		if err := bindJSON(c, &e); err != nil {
			return err
		}
		updated, err := db.UpdateUser(c.Request().Context(), u, c.Param("uid"), e)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, updated)
	}
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

// handleRenameUnit answers PATCH /api/v1/admin/units/:unit.
func handleRenameUnit(db adminStore, office string) echo.HandlerFunc {
	return func(c echo.Context) error {
		u := currentUser(c)
		if err := domain.AuthorizeOffice(u, domain.ActionManageUnits, office); err != nil {
			return err
		}
		var in unitInput
		if err := bindJSON(c, &in); err != nil {
			return err
		}
		unit, err := db.RenameUnit(c.Request().Context(), u, office, c.Param("unit"), in.NameZh, in.NameEn)
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
