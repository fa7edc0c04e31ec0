package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"siteinspect/domain"
)

// decisionStore is what the findings, decision and owed-item handlers need
// from the records.
type decisionStore interface {
	caseLoader
	SetFinding(ctx context.Context, cs *domain.Case, by *domain.User, f domain.Finding) (*domain.Finding, error)
	Findings(ctx context.Context, caseID string) ([]*domain.Finding, error)
	Decide(ctx context.Context, cs *domain.Case, by *domain.User, loc *time.Location, in domain.DecisionInput) (*domain.Case, error)
	CountersignReason(ctx context.Context, cs *domain.Case, by *domain.User, agree bool, comment, reason string) (*domain.Case, error)
	// ReviewSummary is what userID confirms against before deciding or
	// countersigning: failed items, open violations, evidence not opened.
	ReviewSummary(ctx context.Context, caseID, userID string) (*domain.ReviewSummary, error)
	Decisions(ctx context.Context, caseID string) ([]*domain.Decision, error)
	OwedItems(ctx context.Context, caseID string) ([]*domain.Owed, error)
	FulfillOwed(ctx context.Context, cs *domain.Case, by *domain.User, owedID string) error
}

func handleSetFinding(db decisionStore) echo.HandlerFunc {
	return func(c echo.Context) error {
		cs, err := loadCaseFor(c, db, "id", domain.ActionRecordFinding)
		if err != nil {
			return err
		}
		u := currentUser(c)
		var f domain.Finding
		if err := bindJSON(c, &struct {
			ChecklistItem *string   `json:"checklist_item"`
			Result        *string   `json:"result"`
			Note          *string   `json:"note"`
			AnnotationIDs *[]string `json:"annotation_ids"`
		}{&f.ChecklistItem, &f.Result, &f.Note, &f.AnnotationIDs}); err != nil {
			return err
		}
		out, err := db.SetFinding(c.Request().Context(), cs, u, f)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusCreated, out)
	}
}

func handleListFindings(db decisionStore) echo.HandlerFunc {
	return func(c echo.Context) error {
		cs, err := loadCaseFor(c, db, "id", domain.ActionReadOutcome)
		if err != nil {
			return err
		}
		list, err := db.Findings(c.Request().Context(), cs.ID)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, list)
	}
}

func handleDecide(db decisionStore, zone zoneFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		loc := zone(c.Request().Context())
		cs, err := loadCaseFor(c, db, "id", domain.ActionDecide)
		if err != nil {
			return err
		}
		u := currentUser(c)
		var in domain.DecisionInput
		if err := bindJSON(c, &in); err != nil {
			return err
		}
		if cs, err = db.Decide(c.Request().Context(), cs, u, loc, in); err != nil {
			return err
		}
		return c.JSON(http.StatusOK, showCase(cs, currentUser(c)))
	}
}

func handleCountersign(db decisionStore) echo.HandlerFunc {
	return func(c echo.Context) error {
		cs, err := loadCaseFor(c, db, "id", domain.ActionCountersign)
		if err != nil {
			return err
		}
		u := currentUser(c)
		var req struct {
			Agree   *bool  `json:"agree"`
			Comment string `json:"comment"`
			Reason  string `json:"reason"`
		}
		if err := bindJSON(c, &req); err != nil {
			return err
		}
		if req.Agree == nil {
			return newCodedError(http.StatusBadRequest, "agree_required", "agree (true or false) is required")
		}
		if cs, err = db.CountersignReason(c.Request().Context(), cs, u, *req.Agree, req.Comment, req.Reason); err != nil {
			return err
		}
		return c.JSON(http.StatusOK, showCase(cs, currentUser(c)))
	}
}

// handleReviewSummary answers what the signed-in officer confirms against
// before deciding or countersigning (domain.ReviewSummary).
func handleReviewSummary(db decisionStore) echo.HandlerFunc {
	return func(c echo.Context) error {
		cs, err := loadCaseFor(c, db, "id", domain.ActionReadNotes)
		if err != nil {
			return err
		}
		s, err := db.ReviewSummary(c.Request().Context(), cs.ID, currentUser(c).ID)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, s)
	}
}

func handleListDecisions(db decisionStore) echo.HandlerFunc {
	return func(c echo.Context) error {
		cs, err := loadCaseFor(c, db, "id", domain.ActionReadProgress)
		if err != nil {
			return err
		}
		list, err := db.Decisions(c.Request().Context(), cs.ID)
		if err != nil {
			return err
		}
		if cs.Authorize(currentUser(c), domain.ActionReadNotes) != nil {
			// The applicant sees final rounds only, not the office's drafts.
			shown := []*domain.Decision{}
			for _, d := range list {
				if d.Agree != nil && *d.Agree || d.Outcome == "request_supplement" {
					shown = append(shown, d)
				}
			}
			list = shown
		}
		return c.JSON(http.StatusOK, list)
	}
}

func handleListOwed(db decisionStore) echo.HandlerFunc {
	return func(c echo.Context) error {
		cs, err := loadCaseFor(c, db, "id", domain.ActionReadOwed)
		if err != nil {
			return err
		}
		list, err := db.OwedItems(c.Request().Context(), cs.ID)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, list)
	}
}

func handleFulfillOwed(db decisionStore) echo.HandlerFunc {
	return func(c echo.Context) error {
		cs, err := loadCaseFor(c, db, "id", domain.ActionConfirmOwed)
		if err != nil {
			return err
		}
		u := currentUser(c)
		if err := db.FulfillOwed(c.Request().Context(), cs, u, c.Param("oid")); err != nil {
			return err
		}
		return c.NoContent(http.StatusNoContent)
	}
}

// applicantSees filters the audit stream for the applicant: the case's
// progress and their uploads, not the office's working notes.
func applicantSees(e *domain.AuditEvent) bool {
	switch e.Action {
	case "case.status", "case.created", "evidence.uploaded", "evidence.playable",
		"case.commitment_signed", "owed.delivered", "owed.fulfilled", "owed.returned", "owed.reminder", "case.owed_closed",
		"case.rated", "followup.opened", "followup.closed":
		return true
	}
	return false
}

// applicantEvent is e as the company sees it: a case.status event keeps
// only what the company is told of the move (the notifications say as
// much), not the office's working record of it. The inspector's summary,
// reason and review (failed items, open violations, files never opened)
// stay with the office until a countersign agrees; a reviewer's comment
// when returning the decision stays with the office always. A request for
// supplements is the company's to read whole: it is addressed to them.
// Any other event is returned as it is. The projected event carries no
// hashes: they covered the whole record, which only the office reads.
func applicantEvent(e *domain.AuditEvent) *domain.AuditEvent {
	if e.Action != "case.status" {
		return e
	}
	var data map[string]any
	if err := json.Unmarshal(e.Data, &data); err != nil {
		data = map[string]any{}
	}
	keep := []string{"from", "to", "due_at", "decision_id", "outcome"}
	switch {
	case data["outcome"] == "request_supplement":
		keep = append(keep, "summary", "owed", "owed_due")
	case data["agree"] == true:
		// The final round, as GET …/decisions shows it to the company.
		keep = append(keep, "agree", "comment", "reason")
	}
	shown := map[string]any{}
	for _, k := range keep {
		if v, ok := data[k]; ok {
			shown[k] = v
		}
	}
	out := *e
	out.Data, _ = json.Marshal(shown)
	out.PrevHash, out.Hash = "", ""
	return &out
}

// auditReader is what readers of a case's audit events need from the
// records: the events after a sequence number, in chain order.
type auditReader interface {
	CaseAudit(ctx context.Context, caseID string, after int64, limit int) ([]*domain.AuditEvent, error)
}

// caseEventStore is what the audit trail and event stream handlers need
// from the records.
type caseEventStore interface {
	caseLoader
	auditReader
	sessionFinder
	// Changed is closed at the next committed change.
	Changed() <-chan struct{}
}

func handleCaseAudit(db caseEventStore) echo.HandlerFunc {
	return func(c echo.Context) error {
		cs, err := loadCaseFor(c, db, "id", domain.ActionReadNotes)
		if err != nil {
			return err
		}
		after, err := queryAfter(c)
		if err != nil {
			return err
		}
		list, err := db.CaseAudit(c.Request().Context(), cs.ID, after, 10000)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, hideRatings(list, cs, currentUser(c)))
	}
}

// handleCaseEvents streams the case's events as Server-Sent Events. Each
// event's id is its audit seq, so a client that reconnects with
// Last-Event-ID (browsers do so by themselves) misses nothing. A client
// that has just read the case starts with ?after= its X-Events-After
// (handleGetCase); on reconnection its Last-Event-ID, when sent, wins over
// that start; one that is not a seq is refused as such an ?after= is. The
// stream ends when ending is closed (the server shuts
// down): the client goes on from another replica.
func handleCaseEvents(db caseEventStore, ending <-chan struct{}) echo.HandlerFunc {
	return func(c echo.Context) error {
		cs, err := loadCaseFor(c, db, "id", domain.ActionReadProgress)
		if err != nil {
			return err
		}
		access := streamAccessOf(cs, currentUser(c))
		after, err := queryAfter(c)
		if err != nil {
			return err
		}
		if v := strings.TrimSpace(c.Request().Header.Get("Last-Event-ID")); v != "" {
			if after, err = eventSeq(v, "Last-Event-ID"); err != nil {
				return err
			}
		}
		w := c.Response()
		w.Header().Set(echo.HeaderContentType, "text/event-stream")
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("X-Accel-Buffering", "no")
		w.WriteHeader(http.StatusOK)
		fmt.Fprintf(w, "retry: 1000\n\n")
		w.Flush()
		ctx := c.Request().Context()
		heartbeat := time.NewTicker(15 * time.Second)
		defer heartbeat.Stop()
		// fresh: access was decided by this request's own reads (the
		// first round needs no second look).
		fresh := true
		for {
			changed := db.Changed()
			events, err := db.CaseAudit(ctx, cs.ID, after, 500)
			if err != nil {
				return nil
			}
			if len(events) > 0 && !fresh {
				// Who may read what is decided again before anything is
				// sent: the session may have ended, the user been
				// disabled or the case given to another officer since the
				// stream began.
				if access, err = recheckStream(c, db, cs.ID); err != nil {
					return nil
				}
			}
			fresh = false
			for _, e := range events {
				after = e.Seq
				if !access.whole {
					if !applicantSees(e) {
						continue
					}
					e = applicantEvent(e)
				}
				if ratingEvent(e) && !access.ratings {
					continue
				}
				b, _ := json.Marshal(e)
				fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", e.Seq, e.Action, b)
			}
			w.Flush()
			if len(events) == 500 {
				continue
			}
			select {
			case <-ctx.Done():
				return nil
			case <-ending:
				return nil
			case <-changed: // on PostgreSQL, other replicas' commits too (storage.DB.Listen)
			case <-heartbeat.C:
				if _, err := recheckStream(c, db, cs.ID); err != nil {
					return nil
				}
				fmt.Fprintf(w, ": keep-alive\n\n")
			}
		}
	}
}

// queryAfter reads ?after=, the seq of the last event a reader has (0 when
// absent): a number ≥ 0, else 400 bad_cursor.
func queryAfter(c echo.Context) (int64, error) {
	v := c.QueryParam("after")
	if v == "" {
		return 0, nil
	}
	return eventSeq(v, "after")
}

// eventSeq reads the seq of the last event a reader has, given as ?after=
// or Last-Event-ID (named by what): a number ≥ 0, else 400 bad_cursor.
// What cannot be read is refused, never taken as 0: that would send the
// whole trail again as if it were new.
func eventSeq(v, what string) (int64, error) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, newCodedError(http.StatusBadRequest, "bad_cursor", what+" is the seq of an event, a number ≥ 0")
	}
	return n, nil
}

// streamAccess is what a case's event stream may send its reader: the
// whole trail (the office) or the case's progress (the company), with or
// without the service ratings.
type streamAccess struct{ whole, ratings bool }

func streamAccessOf(cs *domain.Case, u *domain.User) streamAccess {
	return streamAccess{
		whole:   cs.Authorize(u, domain.ActionReadNotes) == nil,
		ratings: cs.Authorize(u, domain.ActionReadRating) == nil,
	}
}

// recheckStream reads the stream's session and case afresh and decides
// again what the stream may send; an error (the session ended, the user
// may no longer read the case) ends the stream. A browser's EventSource
// then reconnects and is refused.
func recheckStream(c echo.Context, db caseEventStore, caseID string) (streamAccess, error) {
	sess, err := sessionNow(c, db)
	if err != nil {
		return streamAccess{}, err
	}
	cs, err := db.Case(c.Request().Context(), caseID)
	if err != nil {
		return streamAccess{}, err
	}
	if err := cs.Authorize(sess.User, domain.ActionReadProgress); err != nil {
		return streamAccess{}, err
	}
	return streamAccessOf(cs, sess.User), nil
}
