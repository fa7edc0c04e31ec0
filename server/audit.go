package server

import (
	"context"
	"encoding/csv"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"siteinspect/domain"
	"siteinspect/storage"
)

// officeAuditStore is what the office's audit search needs from the
// records: pages of the trail, and recording that someone read it.
type officeAuditStore interface {
	EachAudit(ctx context.Context, q storage.AuditQuery, fn func(*storage.OfficeAuditEvent) error) (int64, error)
	auditRecorder
}

// Page sizes of the office's audit search.
const (
	auditPageDefault = 100
	auditPageMax     = 1000
	// auditExportPage is how many events the CSV export reads per query:
	// each page is one index seek below the last, written and flushed
	// before the next is read, so the export holds one page at most
	// however long the trail.
	auditExportPage = 1000
)

// auditFilter reads the search's filters from the query string. Times:
// from and to are either office days (YYYY-MM-DD in the office's zone
// loc, both included: from's midnight to the midnight after to) or RFC
// 3339 instants (both included, to the millisecond).
func auditFilter(c echo.Context, office string, loc *time.Location) (storage.AuditQuery, error) {
	action, err := searchParam(c, "action")
	if err != nil {
		return storage.AuditQuery{}, err
	}
	q := storage.AuditQuery{Office: office, Actor: strings.TrimSpace(c.QueryParam("actor")),
		Action: strings.TrimSpace(action), Case: strings.TrimSpace(c.QueryParam("case")),
		// The company's drafts are an admin's to read, not a
		// supervisor's (TestOfficeAuditHidesDrafts).
		HideDrafts: currentUser(c).Role != domain.RoleAdmin}
	for _, d := range []struct {
		name string
		into *time.Time
		end  bool
	}{{"from", &q.From, false}, {"to", &q.To, true}} {
		v := strings.TrimSpace(c.QueryParam(d.name))
		if v == "" {
			continue
		}
		if day, err := time.ParseInLocation(time.DateOnly, v, loc); err == nil {
			if d.end {
				day = day.AddDate(0, 0, 1) // to includes its whole day
			}
			*d.into = day
			continue
		}
		at, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return q, newCodedError(http.StatusBadRequest, "bad_time", d.name+" must be an office day (YYYY-MM-DD) or an RFC 3339 time")
		}
		if d.end {
			at = at.Truncate(time.Millisecond).Add(time.Millisecond) // to includes its instant
		}
		*d.into = at
	}
	return q, nil
}

// filterData is what an audit.searched or audit.exported event records of
// the search: the filters as given.
func filterData(c echo.Context, extra map[string]any) map[string]any {
	out := map[string]any{}
	for _, k := range []string{"actor", "action", "case", "from", "to", "cursor"} {
		if v := c.QueryParam(k); v != "" {
			out[k] = v
		}
	}
	for k, v := range extra {
		out[k] = v
	}
	return out
}

// handleOfficeAudit answers GET /api/v1/audit: a page of the office's
// audit trail, newest first, as a JSON array, filtered by actor (id or
// username), action (exact, or a prefix ending in *), case (id or number)
// and time (auditFilter); when more follow, their address in a Link
// header (RFC 8288, section 3: `<uri>; rel="next"`). Supervisors of the
// office and admins may search (domain.OfficePolicy); every search is
// itself an audit event (audit.searched), recorded before the page is
// sent, so nobody reads the trail unrecorded. A client whose Accept
// prefers text/csv (acceptsCSV) gets the same filters' events streamed as
// CSV, as GET /api/v1/audit.csv (handleOfficeAuditCSV).
func handleOfficeAudit(db officeAuditStore, office string, zone zoneFunc) echo.HandlerFunc {
	asCSV := handleOfficeAuditCSV(db, office, zone)
	return func(c echo.Context) error {
		c.Response().Header().Add("Vary", "Accept")
		if acceptsCSV(c.Request().Header.Get(echo.HeaderAccept)) {
			return asCSV(c)
		}
		loc := zone(c.Request().Context())
		u := currentUser(c)
		if err := domain.AuthorizeOffice(u, domain.ActionReadAudit, office); err != nil {
			return err
		}
		q, err := auditFilter(c, office, loc)
		if err != nil {
			return err
		}
		if q.Limit, err = queryLimit(c, auditPageDefault, auditPageMax); err != nil {
			return err
		}
		if v := c.QueryParam("cursor"); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 1 {
				return newCodedError(http.StatusBadRequest, "bad_cursor", "the cursor is not one this server gave; start from the first page")
			}
			q.Before = n
		}
		ctx := c.Request().Context()
		out := []*storage.OfficeAuditEvent{}
		next, err := db.EachAudit(ctx, q, func(e *storage.OfficeAuditEvent) error {
			out = append(out, e)
			return nil
		})
		if err != nil {
			return err
		}
		// Recorded after the read, so a search never finds itself, and
		// before the answer, so nothing is shown unrecorded.
		if _, err := db.RecordAudit(ctx, storage.Audit{ActorID: u.ID, Action: "audit.searched",
			Data: filterData(c, map[string]any{"office": office, "events": len(out)})}); err != nil {
			return err
		}
		if next != 0 {
			setNextLink(c, "cursor", strconv.FormatInt(next, 10))
		}
		return c.JSON(http.StatusOK, out)
	}
}

// acceptsCSV tells whether an Accept header (RFC 9110 §12.5.1) prefers
// text/csv to application/json: each type takes the q of the most
// specific range that matches it (text/csv over text/* over */*), and CSV
// wins when its q is higher, or equal and named while JSON is only
// matched by a wildcard. No Accept, */* or a tie otherwise: JSON.
func acceptsCSV(accept string) bool {
	if accept == "" {
		return false
	}
	csvQ, csvSpec := acceptQ(accept, "text", "csv")
	jsonQ, jsonSpec := acceptQ(accept, "application", "json")
	return csvQ > 0 && (csvQ > jsonQ || csvQ == jsonQ && csvSpec == 3 && jsonSpec < 3)
}

// acceptQ is the q that accept gives the type typ/sub, and how specific
// its range is (3 typ/sub, 2 typ/*, 1 */*, 0 none: q 0).
func acceptQ(accept, typ, sub string) (float64, int) {
	q, spec := 0.0, 0
	for _, part := range strings.Split(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		t, st, _ := strings.Cut(mt, "/")
		s := 0
		switch {
		case t == typ && st == sub:
			s = 3
		case t == typ && st == "*":
			s = 2
		case t == "*" && st == "*":
			s = 1
		}
		if s <= spec {
			continue
		}
		v := 1.0
		if qs, ok := params["q"]; ok {
			if v, err = strconv.ParseFloat(qs, 64); err != nil || v < 0 || v > 1 {
				continue
			}
		}
		q, spec = v, s
	}
	return q, spec
}

// setNextLink sets the Link header (RFC 8288, section 3) of a paged list:
// the request's own address with param set to cursor, rel="next".
func setNextLink(c echo.Context, param, cursor string) {
	params := c.QueryParams()
	params.Set(param, cursor)
	u := url.URL{Path: c.Request().URL.Path, RawQuery: params.Encode()}
	c.Response().Header().Set("Link", "<"+u.String()+`>; rel="next"`)
}

// auditCSVHeader is the export's first row, in the language asked for
// (lang=en; Chinese otherwise).
var auditCSVHeader = map[string][]string{
	"zh": {"序号", "时间", "时区", "操作人", "操作人姓名", "操作", "案件编号", "案件ID", "对象", "数据", "哈希"},
	"en": {"seq", "time", "zone", "actor", "actor name", "action", "case number", "case id", "target", "data", "hash"},
}

// csvSafe defuses a cell that a spreadsheet would run as a formula (CSV
// injection, OWASP): one whose first character, after any spaces (an
// import that trims them would leave the rest), is = + - @ or their
// full-width forms (what a Chinese input method types, which spreadsheets
// may take for the same), a tab, a carriage return or a line feed gets a
// leading apostrophe, which Excel and LibreOffice show as text and do not
// evaluate. Bidirectional embeddings, overrides and isolates (U+202A–U+202E,
// U+2066–U+2069) become U+FFFD, as the UI shows them (web/static/dom.js,
// shown): a target named "invoice\u202Efdp.hta" would read "invoiceath.pdf"
// in the spreadsheet, and one in the actor's name could reverse the cells
// after it. The cells are for people; GET /api/v1/audit has the bytes.
func csvSafe(s string) string {
	s = strings.Map(func(r rune) rune {
		if (r >= 0x202A && r <= 0x202E) || (r >= 0x2066 && r <= 0x2069) {
			return utf8.RuneError
		}
		return r
	}, s)
	r, _ := utf8.DecodeRuneInString(strings.TrimLeft(s, " \u3000"))
	if strings.ContainsRune("=+-@\t\r\n＝＋－＠", r) {
		return "'" + s
	}
	return s
}

// handleOfficeAuditCSV answers GET /api/v1/audit.csv, and GET
// /api/v1/audit with Accept: text/csv: every event of the same filters as
// GET /api/v1/audit (no limit; from below the cursor when one is given),
// newest first, as CSV (RFC 4180) in UTF-8 with a byte-order mark, so
// that Excel reads Chinese right; times in the office's zone. It is streamed: a page of
// events is read, written and flushed before the next is read, so memory
// stays flat for any length of trail and the first rows arrive at once.
// The export is itself audited (audit.exported) before its first row.
func handleOfficeAuditCSV(db officeAuditStore, office string, zone zoneFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		loc := zone(c.Request().Context())
		u := currentUser(c)
		if err := domain.AuthorizeOffice(u, domain.ActionReadAudit, office); err != nil {
			return err
		}
		q, err := auditFilter(c, office, loc)
		if err != nil {
			return err
		}
		lang := "zh"
		if c.QueryParam("lang") == "en" {
			lang = "en"
		}
		// A cursor (from a page of GET /api/v1/audit) starts the file
		// below it; without one, at the newest event.
		var below int64
		if v := c.QueryParam("cursor"); v != "" {
			if below, err = strconv.ParseInt(v, 10, 64); err != nil || below < 1 {
				return newCodedError(http.StatusBadRequest, "bad_cursor", "the cursor is not one this server gave; start from the first page")
			}
		}
		ctx := c.Request().Context()
		ev, err := db.RecordAudit(ctx, storage.Audit{ActorID: u.ID, Action: "audit.exported",
			Data: filterData(c, map[string]any{"office": office, "format": "csv"})})
		if err != nil {
			return err
		}
		// The export ends at the trail as it was when it was asked for:
		// below its own event.
		q.Before, q.Limit = ev.Seq, auditExportPage
		if below != 0 && below < q.Before {
			q.Before = below
		}
		h := c.Response().Header()
		h.Set(echo.HeaderContentType, "text/csv; charset=utf-8")
		h.Set(echo.HeaderContentDisposition, fmt.Sprintf(`attachment; filename="audit-%s-%s.csv"`, url.PathEscape(office), time.Now().In(loc).Format("20060102-150405")))
		h.Set("Cache-Control", "no-store")
		c.Response().WriteHeader(http.StatusOK)
		if _, err := c.Response().Write([]byte("\uFEFF")); err != nil {
			return nil // the client went away
		}
		w := csv.NewWriter(c.Response())
		w.UseCRLF = true // RFC 4180, section 2
		if err := w.Write(auditCSVHeader[lang]); err != nil {
			return nil
		}
		zoneName := loc.String()
		row := make([]string, len(auditCSVHeader[lang]))
		for {
			next, err := db.EachAudit(ctx, q, func(e *storage.OfficeAuditEvent) error {
				row[0] = strconv.FormatInt(e.Seq, 10)
				row[1] = e.At.In(loc).Format("2006-01-02 15:04:05.000")
				row[2] = zoneName
				row[3], row[4], row[5] = csvSafe(e.ActorName), csvSafe(e.ActorDisplay), csvSafe(e.Action)
				row[6], row[7], row[8] = csvSafe(e.CaseNumber), csvSafe(e.CaseID), csvSafe(e.Target)
				row[9], row[10] = csvSafe(string(e.Data)), e.Hash
				return w.Write(row)
			})
			if err != nil {
				// The status is sent: the file ends short, and the error
				// handler logs why.
				return fmt.Errorf("audit export: %w", err)
			}
			w.Flush()
			if w.Error() != nil {
				return nil // the client went away
			}
			c.Response().Flush()
			if next == 0 {
				return nil
			}
			q.Before = next
		}
	}
}
