package server

import (
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"siteinspect/storage"
)

// loadEvidence fetches the :eid evidence item after checking that the user
// may see its case.
func loadEvidence(c echo.Context, db *storage.DB) (*storage.Evidence, error) {
	ev, err := db.Evidence(c.Request().Context(), c.Param("eid"))
	if err != nil {
		return nil, err
	}
	cs, err := db.Case(c.Request().Context(), ev.CaseID)
	if err != nil {
		return nil, err
	}
	if !cs.VisibleTo(currentUser(c)) {
		return nil, newError(http.StatusNotFound, "no such evidence")
	}
	return ev, nil
}

func handleListEvidence(db *storage.DB) echo.HandlerFunc {
	return func(c echo.Context) error {
		cs, err := loadCase(c, db, "id")
		if err != nil {
			return err
		}
		list, err := db.ListEvidence(c.Request().Context(), cs.ID)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, list)
	}
}

func handleGetEvidence(db *storage.DB) echo.HandlerFunc {
	return func(c echo.Context) error {
		ev, err := loadEvidence(c, db)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, ev)
	}
}

// handleEvidenceContent streams the original bytes. http.ServeContent
// answers Range (206, multi-range, 416), If-Range and If-None-Match against
// the ETag, which is the SHA-256 of the bytes: strong and never reused.
func handleEvidenceContent(db *storage.DB, objects storage.ObjectStore) echo.HandlerFunc {
	return func(c echo.Context) error {
		ev, err := loadEvidence(c, db)
		if err != nil {
			return err
		}
		obj, err := objects.Open(c.Request().Context(), ev.ObjectKey)
		if err != nil {
			return err
		}
		defer obj.Close()
		h := c.Response().Header()
		h.Set("ETag", `"`+ev.SHA256+`"`)
		h.Set(echo.HeaderContentType, ev.ContentType)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", "private, max-age=3600")
		disposition := "inline"
		if c.QueryParam("download") != "" {
			disposition = "attachment"
		}
		h.Set("Content-Disposition", contentDisposition(disposition, ev.Filename))
		// A PDF could carry script; keep it from running with our origin.
		if ev.Kind == storage.KindPDF {
			h.Set("Content-Security-Policy", "sandbox")
		}
		http.ServeContent(c.Response(), c.Request(), "", obj.Info().ModTime, obj)
		return nil
	}
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
