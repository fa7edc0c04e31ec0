package server

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"siteinspect/domain"
)

// notesLoader is what loadEvidenceForNotes needs from the records: an
// evidence item and its case without counts, read together (one round
// trip), and a case without counts.
type notesLoader interface {
	// EvidenceWithCase returns the item and its case, or ErrNotFound.
	EvidenceWithCase(ctx context.Context, id string) (*domain.Evidence, *domain.Case, error)
	// CaseCore returns a case without its counts, or ErrNotFound.
	CaseCore(ctx context.Context, id string) (*domain.Case, error)
}

// loadEvidenceForNotes is loadEvidenceCase for the annotation hot paths:
// the case comes without its counts, which they neither check nor show.
func loadEvidenceForNotes(c echo.Context, db notesLoader) (*domain.Evidence, *domain.Case, error) {
	ev, cs, err := db.EvidenceWithCase(c.Request().Context(), c.Param("eid"))
	if err != nil {
		return nil, nil, err
	}
	if !cs.VisibleTo(currentUser(c)) || ev.RemovedAt != nil {
		return nil, nil, newError(http.StatusNotFound, "no such evidence")
	}
	return ev, cs, nil
}

// loadEvidenceForNotesFor is loadEvidenceForNotes for an action of the
// policy.
func loadEvidenceForNotesFor(c echo.Context, db notesLoader, action domain.Action) (*domain.Evidence, *domain.Case, error) {
	ev, cs, err := loadEvidenceForNotes(c, db)
	if err != nil {
		return nil, nil, err
	}
	if err := cs.Authorize(currentUser(c), action); err != nil {
		return nil, nil, err
	}
	return ev, cs, nil
}

// loadEvidenceForCreate is loadEvidenceForNotesFor for CreateAnnotation,
// which checks the case's state and the author's relation again in the
// transaction that inserts: it starts from the records' recent copy of
// the item and its case where that copy allows the action, and reads
// afresh where there is none or it refuses, so that a change it has not
// seen (an officer assigned, a state entered) never refuses a create the
// database would allow. See storage/evidence_copy.go.
func loadEvidenceForCreate(c echo.Context, db annotationStore) (*domain.Evidence, *domain.Case, error) {
	if ev, cs, ok := db.RecentEvidenceWithCase(c.Param("eid")); ok {
		if u := currentUser(c); cs.VisibleTo(u) && cs.Authorize(u, domain.ActionAnnotate) == nil {
			return ev, cs, nil
		}
	}
	return loadEvidenceForNotesFor(c, db, domain.ActionAnnotate)
}

// annotationStore is what the annotation handlers need from the records.
type annotationStore interface {
	notesLoader
	// RecentEvidenceWithCase is a copy of what EvidenceWithCase last read
	// for a ready item past its case's draft, if recent; the case may
	// have changed since (loadEvidenceForCreate).
	RecentEvidenceWithCase(id string) (*domain.Evidence, *domain.Case, bool)
	annotationLoader
	CreateAnnotation(ctx context.Context, cs *domain.Case, ev *domain.Evidence, author *domain.User, in domain.AnnotationInput) (*domain.Annotation, error)
	ListAnnotations(ctx context.Context, f domain.AnnotationFilter) ([]*domain.Annotation, error)
	UpdateAnnotation(ctx context.Context, a *domain.Annotation, ev *domain.Evidence, cs *domain.Case, editor *domain.User, ifVersion int, in domain.AnnotationInput) (*domain.Annotation, error)
	AnnotationVersions(ctx context.Context, id string) ([]json.RawMessage, error)
	DeleteAnnotation(ctx context.Context, a *domain.Annotation, by *domain.User, ifVersion int) error
	ResolveAnnotation(ctx context.Context, a *domain.Annotation, by *domain.User, resolved bool) (*domain.Annotation, error)
	AddReply(ctx context.Context, a *domain.Annotation, by *domain.User, body string) (*domain.Reply, error)
}

func handleCreateAnnotation(db annotationStore) echo.HandlerFunc {
	return func(c echo.Context) error {
		ev, cs, err := loadEvidenceForCreate(c, db)
		if err != nil {
			return err
		}
		u := currentUser(c)
		var in domain.AnnotationInput
		if err := bindJSON(c, &in); err != nil {
			return err
		}
		a, err := db.CreateAnnotation(c.Request().Context(), cs, ev, u, in)
		if err != nil {
			return err
		}
		c.Response().Header().Set("ETag", strconv.Itoa(a.Version))
		return writeAnnotationJSON(c, http.StatusCreated, a)
	}
}

// annotationFilter reads ?checklist_item=&severity=&state=open|resolved
// and the page: limit (1–5000, default 1000) and offset.
func annotationFilter(c echo.Context) (domain.AnnotationFilter, error) {
	f := domain.AnnotationFilter{ChecklistItem: c.QueryParam("checklist_item"), Severity: c.QueryParam("severity")}
	switch f.Severity {
	case "", domain.SeverityInfo, domain.SeverityConcern, domain.SeverityViolation:
	default:
		return f, newCodedError(http.StatusBadRequest, "bad_filter", "severity must be info, concern or violation")
	}
	var err error
	if f.Limit, err = queryLimit(c, 1000, 5000); err != nil {
		return f, err
	}
	if v := c.QueryParam("from"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return f, newError(http.StatusBadRequest, "from must be a number ≥ 0 (milliseconds, or a page)")
		}
		f.FromPosition = &n
	}
	if v := c.QueryParam("offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return f, newError(http.StatusBadRequest, "offset must be a number ≥ 0")
		}
		f.Offset = n
	}
	switch c.QueryParam("state") {
	case "":
	case "open":
		f.Resolved = new(bool)
	case "resolved":
		t := true
		f.Resolved = &t
	default:
		return f, newError(http.StatusBadRequest, "state must be open or resolved")
	}
	return f, nil
}

func handleListEvidenceAnnotations(db annotationStore) echo.HandlerFunc {
	return func(c echo.Context) error {
		ev, _, err := loadEvidenceForNotesFor(c, db, domain.ActionReadNotes)
		if err != nil {
			return err
		}
		f, err := annotationFilter(c)
		if err != nil {
			return err
		}
		// The case too: the index of a case's pages serves one item's
		// (migration 0026).
		f.CaseID, f.EvidenceID = ev.CaseID, ev.ID
		list, err := db.ListAnnotations(c.Request().Context(), f)
		if err != nil {
			return err
		}
		return writeAnnotationsJSON(c, http.StatusOK, list)
	}
}

func handleListCaseAnnotations(db annotationStore) echo.HandlerFunc {
	return func(c echo.Context) error {
		cs, err := db.CaseCore(c.Request().Context(), c.Param("id"))
		if err != nil {
			return err
		}
		if err := cs.Authorize(currentUser(c), domain.ActionReadNotes); err != nil {
			return err
		}
		f, err := annotationFilter(c)
		if err != nil {
			return err
		}
		f.CaseID, f.EvidenceID = cs.ID, c.QueryParam("evidence_id")
		list, err := db.ListAnnotations(c.Request().Context(), f)
		if err != nil {
			return err
		}
		return writeAnnotationsJSON(c, http.StatusOK, list)
	}
}

// annotationLoader is what loadAnnotation needs from the records: an
// annotation, its evidence and its case.
type annotationLoader interface {
	evidenceLoader
	Annotation(ctx context.Context, id string) (*domain.Annotation, error)
}

// loadAnnotation fetches :aid with its evidence and case, checking that the
// user may read the case's notes (404 otherwise: an annotation is a note)
// and do action.
func loadAnnotation(c echo.Context, db annotationLoader, action domain.Action) (*domain.Annotation, *domain.Evidence, *domain.Case, error) {
	a, err := db.Annotation(c.Request().Context(), c.Param("aid"))
	if err != nil {
		return nil, nil, nil, err
	}
	cs, err := db.Case(c.Request().Context(), a.CaseID)
	if err != nil {
		return nil, nil, nil, err
	}
	u := currentUser(c)
	if !cs.VisibleTo(u) || !domain.Grants(domain.ActionReadNotes, cs.Relations(u), cs.Status) {
		return nil, nil, nil, newError(http.StatusNotFound, "no such annotation")
	}
	if err := cs.Authorize(u, action); err != nil {
		return nil, nil, nil, err
	}
	ev, err := db.Evidence(c.Request().Context(), a.EvidenceID)
	if err != nil {
		return nil, nil, nil, err
	}
	return a, ev, cs, nil
}

// handleUpdateAnnotation edits an annotation: If-Match must name the
// version the editor saw (RFC 9110 §13.1.1); a stale one is 412. The body
// is a JSON Merge Patch (RFC 7396) on the annotation's editable fields.
func handleUpdateAnnotation(db annotationStore) echo.HandlerFunc {
	return func(c echo.Context) error {
		a, ev, cs, err := loadAnnotation(c, db, domain.ActionAnnotate)
		if err != nil {
			return err
		}
		u := currentUser(c)
		if a.Author.ID != u.ID {
			return newCodedError(http.StatusForbidden, "not_annotation_author", "only the author edits an annotation; reply instead")
		}
		version, err := ifMatchVersion(c, "the annotation")
		if err != nil {
			return err
		}
		if version == 0 {
			return newError(http.StatusBadRequest, "send If-Match with the version you are editing")
		}
		if version != a.Version {
			return newCodedError(http.StatusPreconditionFailed, "annotation_changed", "the annotation changed (now version "+strconv.Itoa(a.Version)+"); reload it")
		}
		// A JSON Merge Patch (RFC 7396): fields left out stay, null
		// removes an optional field.
		patch, err := readMergePatch(c)
		if err != nil {
			return err
		}
		in, err := patchAnnotation(a, patch)
		if err != nil {
			return err
		}
		a, err = db.UpdateAnnotation(c.Request().Context(), a, ev, cs, u, version, in)
		if err != nil {
			return err
		}
		c.Response().Header().Set("ETag", strconv.Itoa(a.Version))
		return c.JSON(http.StatusOK, a)
	}
}

func handleAnnotationVersions(db annotationStore) echo.HandlerFunc {
	return func(c echo.Context) error {
		a, _, _, err := loadAnnotation(c, db, domain.ActionReadNotes)
		if err != nil {
			return err
		}
		versions, err := db.AnnotationVersions(c.Request().Context(), a.ID)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, versions)
	}
}

func handleDeleteAnnotation(db annotationStore) echo.HandlerFunc {
	return func(c echo.Context) error {
		a, _, _, err := loadAnnotation(c, db, domain.ActionAnnotate)
		if err != nil {
			return err
		}
		u := currentUser(c)
		if a.Author.ID != u.ID {
			return newCodedError(http.StatusForbidden, "not_annotation_author", "only the author deletes an annotation")
		}
		// If-Match is optional here (a delete loses no edit of the
		// caller's own), but when sent it must name the version now.
		version, err := ifMatchVersion(c, "the annotation")
		if err != nil {
			return err
		}
		if err := db.DeleteAnnotation(c.Request().Context(), a, u, version); err != nil {
			return err
		}
		return c.NoContent(http.StatusNoContent)
	}
}

func handleResolveAnnotation(db annotationStore, resolved bool) echo.HandlerFunc {
	return func(c echo.Context) error {
		a, _, _, err := loadAnnotation(c, db, domain.ActionAnnotate)
		if err != nil {
			return err
		}
		u := currentUser(c)
		if a, err = db.ResolveAnnotation(c.Request().Context(), a, u, resolved); err != nil {
			return err
		}
		return c.JSON(http.StatusOK, a)
	}
}

func handleReply(db annotationStore) echo.HandlerFunc {
	return func(c echo.Context) error {
		a, _, _, err := loadAnnotation(c, db, domain.ActionAnnotate)
		if err != nil {
			return err
		}
		u := currentUser(c)
		var req struct {
			Body string `json:"body"`
		}
		if err := bindJSON(c, &req); err != nil {
			return err
		}
		r, err := db.AddReply(c.Request().Context(), a, u, req.Body)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusCreated, r)
	}
}
