package server

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"siteinspect/domain"
	"siteinspect/storage"
)

// caseJSON is a case as the API shows it, with what the asking user may do
// to it now (the policy's answer, so the UI's buttons never disagree with
// the server) and the server's overdue flags (so the UI needs no rule of
// its own).
type caseJSON struct {
	*domain.Case
	Overdue        bool            `json:"overdue"`
	OwedOverdue    bool            `json:"owed_overdue"`
	AllowedActions []domain.Action `json:"allowed_actions"`
	// TimestampPending says whether an RFC 3161 token over the case's
	// evidence or decisions is still being obtained; only GET of one case
	// reads it (other answers leave it out).
	TimestampPending *bool `json:"timestamp_pending,omitempty"`
	// Permit is the version of the permit type the case was opened with
	// (its checklist and materials, which may differ from the current
	// catalogue's); only GET of one case reads it.
	Permit *domain.PermitType `json:"permit,omitempty"`
}

func showCase(c *domain.Case, u *domain.User) caseJSON {
	now := time.Now()
	return caseJSON{Case: c, Overdue: c.Overdue(now), OwedOverdue: c.OwedOverdue(now), AllowedActions: c.AllowedActions(u)}
}

// caseLoader is what loadCase needs from the records: a case by its id.
type caseLoader interface {
	Case(ctx context.Context, id string) (*domain.Case, error)
}

// loadCase fetches the case named by the :id parameter and checks that the
// user may see it. A case the user may not see is reported as missing, so
// ids of other companies' cases reveal nothing.
func loadCase(c echo.Context, db caseLoader, param string) (*domain.Case, error) {
	return loadCaseFor(c, db, param, domain.ActionView)
}

// loadCaseFor is loadCase for an action: the policy (domain/policy.go)
// answers 404 to who may not see the case, 403 to who may never do the
// action, and 422 when the case's state does not allow it now.
func loadCaseFor(c echo.Context, db caseLoader, param string, action domain.Action) (*domain.Case, error) {
	cs, err := db.Case(c.Request().Context(), c.Param(param))
	if err != nil {
		return nil, err
	}
	if err := cs.Authorize(currentUser(c), action); err != nil {
		return nil, err
	}
	return cs, nil
}

// caseStore is what the case handlers need from the records.
type caseStore interface {
	caseLoader
	PermitTypes(ctx context.Context) ([]domain.PermitType, error)
	// CasePermitType is the version of its type the case was opened with.
	CasePermitType(ctx context.Context, c *domain.Case) (*domain.PermitType, error)
	CreateCase(ctx context.Context, applicant *domain.User, office, prefix string, loc *time.Location, in domain.NewCase) (*domain.Case, error)
	FindCases(ctx context.Context, u *domain.User, q storage.CaseQuery) ([]*domain.Case, *storage.CaseCursor, error)
	SubmitCase(ctx context.Context, c *domain.Case, actor *domain.User, loc *time.Location) (*domain.Case, error)
	WithdrawCase(ctx context.Context, c *domain.Case, actor *domain.User) (*domain.Case, error)
	AssignCase(ctx context.Context, c *domain.Case, actor *domain.User, inspectorID, reviewerID string) (*domain.Case, error)
	ReleaseReview(ctx context.Context, c *domain.Case, actor *domain.User) (*domain.Case, error)
	// TimestampPending reports whether any of the case's time-stamps still
	// waits for its token.
	TimestampPending(ctx context.Context, caseID string) (bool, error)
	// AuditHead is the newest audit event's seq (and hash).
	AuditHead(ctx context.Context) (int64, string, error)
}

func handleListPermitTypes(db caseStore) echo.HandlerFunc {
	return func(c echo.Context) error {
		pts, err := db.PermitTypes(c.Request().Context())
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, pts)
	}
}

func handleCreateCase(db caseStore, office, prefix string, zone zoneFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		loc := zone(c.Request().Context())
		u := currentUser(c)
		if u.Role != domain.RoleApplicant {
			return newCodedError(http.StatusForbidden, "applicants_only", "only applicants open cases")
		}
		var in domain.NewCase
		if err := bindJSON(c, &in); err != nil {
			return err
		}
		cs, err := db.CreateCase(c.Request().Context(), u, office, prefix, loc, in)
		if err != nil {
			return err
		}
		c.Response().Header().Set(echo.HeaderLocation, "/api/v1/cases/"+cs.ID)
		return c.JSON(http.StatusCreated, showCase(cs, currentUser(c)))
	}
}

// handleListCases answers a page of the cases the user may see: a JSON
// array, and when more follow, their address in a Link header (RFC 8288,
// section 3: `<uri>; rel="next"`). Pages follow a keyset cursor
// (storage.FindCases), so every case is reached once however deep the
// list, and cases opened meanwhile never repeat a row. Dates in from and
// to are days in the office's zone, both included.
func handleListCases(db caseStore, zone zoneFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		loc := zone(c.Request().Context())
		params := c.QueryParams()
		text, err := searchParam(c, "q")
		if err != nil {
			return err
		}
		q := storage.CaseQuery{Limit: 500, Sort: storage.CaseSort(c.QueryParam("sort")),
			PermitType: c.QueryParam("permit_type"), Officer: c.QueryParam("officer"), Unit: c.QueryParam("unit"), Text: text}
		for _, v := range params["status"] {
			for _, st := range strings.Split(v, ",") {
				status := domain.Status(st)
				if !status.Valid() {
					return newError(http.StatusBadRequest, "unknown status "+strconv.Quote(st))
				}
				q.Statuses = append(q.Statuses, status)
			}
		}
		if q.Sort == "" {
			q.Sort = storage.SortDue
		}
		if !q.Sort.Valid() {
			return newCodedError(http.StatusBadRequest, "bad_sort", "sort is due or newest")
		}
		n, err := queryLimit(c, q.Limit, 5000)
		if err != nil {
			return err
		}
		q.Limit = n
		for _, d := range []struct {
			name  string
			into  *time.Time
			after int
		}{{"from", &q.From, 0}, {"to", &q.To, 1}} {
			v := c.QueryParam(d.name)
			if v == "" {
				continue
			}
			day, err := time.ParseInLocation("2006-01-02", v, loc)
			if err != nil {
				return newCodedError(http.StatusBadRequest, "bad_date", d.name+" must be a date, YYYY-MM-DD")
			}
			*d.into = day.AddDate(0, 0, d.after) // to includes its whole day
		}
		if v := c.QueryParam("cursor"); v != "" {
			cur, err := storage.ParseCaseCursor(v, q.Sort)
			if err != nil {
				return newCodedError(http.StatusBadRequest, "bad_cursor", "the cursor is not one this server gave for this order; start from the first page")
			}
			q.After = cur
		}
		cases, next, err := db.FindCases(c.Request().Context(), currentUser(c), q)
		if err != nil {
			return err
		}
		if next != nil {
			setNextLink(c, "cursor", next.String())
		}
		out := make([]caseJSON, len(cases))
		for i, cs := range cases {
			out[i] = showCase(cs, currentUser(c))
		}
		return c.JSON(http.StatusOK, out)
	}
}

// handleGetCase answers GET /api/v1/cases/:id. Its X-Events-After header
// is the audit chain's head, read before the case: every event up to it
// is in what the page reads from here on, so the page opens the case's
// event stream with ?after= it and is told only of later changes,
// instead of the whole history replayed (and every part reloaded) on
// connect. An event committed meanwhile is above it and still comes.
func handleGetCase(db caseStore) echo.HandlerFunc {
	return func(c echo.Context) error {
		head, _, err := db.AuditHead(c.Request().Context())
		if err != nil {
			return err
		}
		cs, err := loadCase(c, db, "id")
		if err != nil {
			return err
		}
		c.Response().Header().Set("X-Events-After", strconv.FormatInt(head, 10))
		out := showCase(cs, currentUser(c))
		pending, err := db.TimestampPending(c.Request().Context(), cs.ID)
		if err != nil {
			return err
		}
		out.TimestampPending = &pending
		if out.Permit, err = db.CasePermitType(c.Request().Context(), cs); err != nil {
			return err
		}
		return c.JSON(http.StatusOK, out)
	}
}

func handleSubmitCase(db caseStore, zone zoneFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		loc := zone(c.Request().Context())
		cs, err := loadCaseFor(c, db, "id", domain.ActionSubmit)
		if err != nil {
			return err
		}
		if cs, err = db.SubmitCase(c.Request().Context(), cs, currentUser(c), loc); err != nil {
			return err
		}
		return c.JSON(http.StatusOK, showCase(cs, currentUser(c)))
	}
}

func handleWithdrawCase(db caseStore) echo.HandlerFunc {
	return func(c echo.Context) error {
		cs, err := loadCaseFor(c, db, "id", domain.ActionWithdraw)
		if err != nil {
			return err
		}
		if cs, err = db.WithdrawCase(c.Request().Context(), cs, currentUser(c)); err != nil {
			return err
		}
		return c.JSON(http.StatusOK, showCase(cs, currentUser(c)))
	}
}

type assignRequest struct {
	InspectorID string `json:"inspector_id"`
	ReviewerID  string `json:"reviewer_id"`
}

// handleAssignCase lets an inspector take an unassigned case (and name a
// reviewer), a reviewer take the countersigning slot, or an admin assign
// either.
func handleAssignCase(db caseStore) echo.HandlerFunc {
	return func(c echo.Context) error {
		cs, err := loadCase(c, db, "id")
		if err != nil {
			return err
		}
		var req assignRequest
		if err := bindOptionalJSON(c, &req); err != nil {
			return err
		}
		// Who may take which slot is the policy's and the four-eyes rule's
		// (storage/assign.go); each refusal carries its code.
		u := currentUser(c)
		cs, err = db.AssignCase(c.Request().Context(), cs, u, req.InspectorID, req.ReviewerID)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, showCase(cs, currentUser(c)))
	}
}

// handleReleaseReview gives the reviewer slot back before the countersign.
func handleReleaseReview(db caseStore) echo.HandlerFunc {
	return func(c echo.Context) error {
		cs, err := loadCaseFor(c, db, "id", domain.ActionReleaseReview)
		if err != nil {
			return err
		}
		if cs, err = db.ReleaseReview(c.Request().Context(), cs, currentUser(c)); err != nil {
			return err
		}
		return c.JSON(http.StatusOK, showCase(cs, currentUser(c)))
	}
}
