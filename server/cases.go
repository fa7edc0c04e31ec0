package server

import (
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"siteinspect/storage"
)

// caseJSON is a case as the API shows it.
type caseJSON struct {
	*storage.Case
	Overdue     bool `json:"overdue"`
	OwedOverdue bool `json:"owed_overdue"`
}

func showCase(c *storage.Case) caseJSON {
	now := time.Now()
	return caseJSON{Case: c, Overdue: c.Overdue(now), OwedOverdue: c.OwedOverdue(now)}
}

// loadCase fetches the case named by the :id parameter and checks that the
// user may see it. A case the user may not see is reported as missing, so
// ids of other companies' cases reveal nothing.
func loadCase(c echo.Context, db *storage.DB, param string) (*storage.Case, error) {
	cs, err := db.Case(c.Request().Context(), c.Param(param))
	if err != nil {
		return nil, err
	}
	if !cs.VisibleTo(currentUser(c)) {
		return nil, newError(http.StatusNotFound, "no such case")
	}
	return cs, nil
}

// isCompanyMember reports whether u may act for the applicant's company on cs.
func isCompanyMember(u *storage.User, cs *storage.Case) bool {
	return u.Role == storage.RoleApplicant && cs.VisibleTo(u)
}

func handleListPermitTypes(db *storage.DB) echo.HandlerFunc {
	return func(c echo.Context) error {
		pts, err := db.PermitTypes(c.Request().Context())
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, pts)
	}
}

func handleCreateCase(db *storage.DB, office, prefix string, loc *time.Location) echo.HandlerFunc {
	return func(c echo.Context) error {
		u := currentUser(c)
		if u.Role != storage.RoleApplicant {
			return newError(http.StatusForbidden, "only applicants open cases")
		}
		var in storage.NewCase
		if err := bindJSON(c, &in); err != nil {
			return err
		}
		cs, err := db.CreateCase(c.Request().Context(), u, office, prefix, loc, in)
		if err != nil {
			return err
		}
		c.Response().Header().Set(echo.HeaderLocation, "/api/v1/cases/"+cs.ID)
		return c.JSON(http.StatusCreated, showCase(cs))
	}
}

func handleListCases(db *storage.DB) echo.HandlerFunc {
	return func(c echo.Context) error {
		status := storage.Status(c.QueryParam("status"))
		if status != "" && !status.Valid() {
			return newError(http.StatusBadRequest, "unknown status "+strconv.Quote(string(status)))
		}
		limit := 500
		if v := c.QueryParam("limit"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 5000 {
				return newError(http.StatusBadRequest, "limit must be a number from 1 to 5000")
			}
			limit = n
		}
		cases, err := db.ListCases(c.Request().Context(), currentUser(c), status, limit)
		if err != nil {
			return err
		}
		out := make([]caseJSON, len(cases))
		for i, cs := range cases {
			out[i] = showCase(cs)
		}
		return c.JSON(http.StatusOK, out)
	}
}

func handleGetCase(db *storage.DB) echo.HandlerFunc {
	return func(c echo.Context) error {
		cs, err := loadCase(c, db, "id")
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, showCase(cs))
	}
}

func handleSubmitCase(db *storage.DB, loc *time.Location) echo.HandlerFunc {
	return func(c echo.Context) error {
		cs, err := loadCase(c, db, "id")
		if err != nil {
			return err
		}
		if !isCompanyMember(currentUser(c), cs) {
			return newError(http.StatusForbidden, "only the applicant's company submits a case")
		}
		if cs, err = db.SubmitCase(c.Request().Context(), cs, currentUser(c), loc); err != nil {
			return err
		}
		return c.JSON(http.StatusOK, showCase(cs))
	}
}

func handleWithdrawCase(db *storage.DB) echo.HandlerFunc {
	return func(c echo.Context) error {
		cs, err := loadCase(c, db, "id")
		if err != nil {
			return err
		}
		if !isCompanyMember(currentUser(c), cs) {
			return newError(http.StatusForbidden, "only the applicant's company withdraws a case")
		}
		if cs, err = db.WithdrawCase(c.Request().Context(), cs, currentUser(c)); err != nil {
			return err
		}
		return c.JSON(http.StatusOK, showCase(cs))
	}
}

type assignRequest struct {
	InspectorID string `json:"inspector_id"`
	ReviewerID  string `json:"reviewer_id"`
}

// handleAssignCase lets an inspector take an unassigned case (and name a
// reviewer), a reviewer take the countersigning slot, or an admin assign
// either.
func handleAssignCase(db *storage.DB) echo.HandlerFunc {
	return func(c echo.Context) error {
		cs, err := loadCase(c, db, "id")
		if err != nil {
			return err
		}
		var req assignRequest
		if err := bindOptionalJSON(c, &req); err != nil {
			return err
		}
		u := currentUser(c)
		switch u.Role {
		case storage.RoleAdmin:
			if req.InspectorID == "" && req.ReviewerID == "" {
				return newError(http.StatusBadRequest, "name inspector_id or reviewer_id")
			}
		case storage.RoleInspector:
			if req.InspectorID == "" {
				req.InspectorID = u.ID
			}
			if req.InspectorID != u.ID {
				return newError(http.StatusForbidden, "an inspector can only take a case for themself")
			}
			if cs.Inspector != nil && cs.Inspector.ID != u.ID {
				return newError(http.StatusConflict, "the case is assigned to another inspector")
			}
		case storage.RoleReviewer:
			if req.InspectorID != "" || (req.ReviewerID != "" && req.ReviewerID != u.ID) {
				return newError(http.StatusForbidden, "a reviewer can only take the reviewer slot for themself")
			}
			req.ReviewerID = u.ID
			if cs.Reviewer != nil && cs.Reviewer.ID != u.ID {
				return newError(http.StatusConflict, "the case has another reviewer")
			}
		default:
			return newError(http.StatusForbidden, "applicants cannot assign cases")
		}
		cs, err = db.AssignCase(c.Request().Context(), cs, u, req.InspectorID, req.ReviewerID)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, showCase(cs))
	}
}
