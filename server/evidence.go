package server

import (
	"context"
	"fmt"
	"math"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strings"
	"unicode"

	"github.com/labstack/echo/v4"

	"siteinspect/domain"
	"siteinspect/storage"
)

// evidenceLoader is what loadEvidence needs from the records: an evidence
// item and its case.
type evidenceLoader interface {
	caseLoader
	Evidence(ctx context.Context, id string) (*domain.Evidence, error)
}

// loadEvidence fetches the :eid evidence item after checking that the user
// may see its case.
func loadEvidence(c echo.Context, db evidenceLoader) (*domain.Evidence, error) {
	ev, _, err := loadEvidenceCase(c, db)
	return ev, err
}

// loadEvidenceCase is loadEvidence that also returns the case.
func loadEvidenceCase(c echo.Context, db evidenceLoader) (*domain.Evidence, *domain.Case, error) {
	ev, err := db.Evidence(c.Request().Context(), c.Param("eid"))
	if err != nil {
		return nil, nil, err
	}
	cs, err := db.Case(c.Request().Context(), ev.CaseID)
	if err != nil {
		return nil, nil, err
	}
	// A file removed from its draft is no longer the case's, for anyone.
	if !cs.VisibleTo(currentUser(c)) || ev.RemovedAt != nil {
		return nil, nil, newError(http.StatusNotFound, "no such evidence")
	}
	return ev, cs, nil
}

// evidenceJSON is an evidence item as the API shows it: with how far from
// the case's site it was captured, when both places are known.
type evidenceJSON struct {
	*domain.Evidence
	SiteDistanceM   *float64 `json:"site_distance_m"`
	LocationWarning bool     `json:"location_warning"`
}

func showEvidence(ev *domain.Evidence, cs *domain.Case, warnMeters float64) evidenceJSON {
	out := evidenceJSON{Evidence: ev}
	if ev.Media == nil || ev.Media.Location == nil || cs.SiteLat == nil || cs.SiteLon == nil {
		return out
	}
	var lat, lon float64
	if _, err := fmt.Sscanf(*ev.Media.Location, "%f,%f", &lat, &lon); err != nil {
		return out
	}
	d := math.Round(haversine(lat, lon, *cs.SiteLat, *cs.SiteLon))
	out.SiteDistanceM, out.LocationWarning = &d, d > warnMeters
	return out
}

// haversine is the great-circle distance in metres.
func haversine(lat1, lon1, lat2, lon2 float64) float64 {
	return domain.DistanceM(lat1, lon1, lat2, lon2)
}

// evidenceStore is what the evidence handlers need from the records.
type evidenceStore interface {
	evidenceLoader
	auditRecorder
	ListEvidence(ctx context.Context, caseID string) ([]*domain.Evidence, error)
}

func handleListEvidence(db evidenceStore, warnMeters float64) echo.HandlerFunc {
	return func(c echo.Context) error {
		cs, err := loadCase(c, db, "id")
		if err != nil {
			return err
		}
		list, err := db.ListEvidence(c.Request().Context(), cs.ID)
		if err != nil {
			return err
		}
		out := make([]evidenceJSON, len(list))
		for i, ev := range list {
			out[i] = showEvidence(ev, cs, warnMeters)
		}
		return c.JSON(http.StatusOK, out)
	}
}

func handleGetEvidence(db evidenceStore, warnMeters float64) echo.HandlerFunc {
	return func(c echo.Context) error {
		ev, cs, err := loadEvidenceCase(c, db)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, showEvidence(ev, cs, warnMeters))
	}
}

// handleEvidenceContent serves the original bytes (downloads.serve: Range,
// If-None-Match against the ETag, which is the SHA-256 of the bytes: strong
// and never reused), or a redirect to them.
func handleEvidenceContent(db evidenceStore, dl *downloads) echo.HandlerFunc {
	return func(c echo.Context) error {
		ev, err := loadEvidence(c, db)
		if err != nil {
			return err
		}
		if err := auditRead(c, db, ev, dl.presign != nil); err != nil {
			return err
		}
		h := c.Response().Header()
		h.Set("X-Content-Type-Options", "nosniff")
		disposition := "inline"
		if c.QueryParam("download") != "" {
			disposition = "attachment"
		}
		h.Set("Content-Disposition", contentDisposition(disposition, downloadName(ev.Filename, ev.ContentType)))
		// A PDF could carry script; keep it from running with our origin.
		if ev.Kind == domain.KindPDF {
			h.Set("Content-Security-Policy", "sandbox")
		}
		return dl.serve(c, ev.ObjectKey, ev.ContentType, nil, ev.SHA256)
	}
}

// auditRecorder is what auditRead needs from the records: an audit event
// appended to the chain.
type auditRecorder interface {
	RecordAudit(ctx context.Context, a storage.Audit) (*domain.AuditEvent, error)
}

// auditRead records that an officer opened an evidence item. A player's
// follow-up Range requests for later bytes are the same viewing and are
// not recorded again. redirected says the answer is a redirect to the
// object store (direct downloads), which the event notes.
func auditRead(c echo.Context, db auditRecorder, ev *domain.Evidence, redirected bool) error {
	u := currentUser(c)
	if u.Role == domain.RoleApplicant {
		return nil
	}
	if r := c.Request().Header.Get("Range"); r != "" && !strings.HasPrefix(r, "bytes=0-") {
		return nil
	}
	data := map[string]any{"path": c.Path()}
	if redirected {
		data["redirect"] = true
	}
	_, err := db.RecordAudit(c.Request().Context(), storage.Audit{CaseID: ev.CaseID, ActorID: u.ID, Action: "evidence.read", Target: ev.ID,
		Data: data})
	return err
}

// typeExtensions are the extensions a file of a sniffed type may be saved
// under (lower case), the first the one added when the name has none of
// them. Every one opens in a viewer; none runs.
var typeExtensions = map[string][]string{
	"image/jpeg":       {".jpg", ".jpeg"},
	"image/png":        {".png"},
	"image/heic":       {".heic", ".heif"},
	"application/pdf":  {".pdf"},
	"video/mp4":        {".mp4", ".m4v", ".mov", ".3gp"},
	"video/x-m4v":      {".m4v", ".mp4", ".mov"},
	"video/quicktime":  {".mov", ".mp4", ".m4v"},
	"video/webm":       {".webm", ".mkv"},
	"video/x-matroska": {".mkv", ".webm"},
}

// downloadName is the name an evidence file is offered under (downloads,
// the bundle): the applicant's name, with bidirectional and other
// invisible format controls replaced (U+202E makes "x\u202Efdp.exe" read
// "xexe.pdf"), and ending in an extension of the type the bytes were
// sniffed as. The name is the applicant's to choose but the bytes are
// only ever an image, a video or a PDF: a PDF-sniffing HTML page named
// "invoice.hta" or "page.html" must not be saved, or unpacked from the
// bundle, under a name the officer's system would run or open in a
// browser. An unknown type keeps the name's extension.
func downloadName(name, contentType string) string {
	name = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || unicode.Is(unicode.Cf, r) {
			return '_'
		}
		return r
	}, name)
	exts := typeExtensions[contentType]
	if len(exts) == 0 {
		return name
	}
	ext := strings.ToLower(path.Ext(name))
	for _, e := range exts {
		if ext == e {
			return name
		}
	}
	return name + exts[0]
}

// contentDisposition names the file safely: an ASCII fallback with anything
// risky replaced, plus the exact UTF-8 name per RFC 6266 §4.3 / RFC 8187.
func contentDisposition(disposition, name string) string {
	ascii := strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' || r == '/' || r == ';' || r == '%' {
			return '_'
		}
		return r
	}, name)
	if ascii == "" {
		ascii = "file"
	}
	v := mime.FormatMediaType(disposition, map[string]string{"filename": ascii})
	if v == "" {
		v = fmt.Sprintf("%s; filename=%q", disposition, "file")
	}
	return v + "; filename*=UTF-8''" + url.PathEscape(name)
}
