package server

import (
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"siteinspect/storage"
)

// serveObject streams a stored object with Range and conditional request
// support. etag must change whenever the bytes can.
func serveObject(c echo.Context, objects storage.ObjectStore, key, contentType, etag string) error {
	obj, err := objects.Open(c.Request().Context(), key)
	if err != nil {
		return err
	}
	defer obj.Close()
	h := c.Response().Header()
	h.Set("ETag", `"`+etag+`"`)
	h.Set(echo.HeaderContentType, contentType)
	h.Set("Cache-Control", "private, max-age=3600")
	http.ServeContent(c.Response(), c.Request(), "", obj.Info().ModTime, obj)
	return nil
}

// notReady answers for a derived file the pipeline has not made (yet).
func notReady(ev *storage.Evidence, what string) error {
	switch ev.Status {
	case storage.EvidenceProcessing:
		return newError(http.StatusConflict, "the "+what+" is still being made; try again shortly")
	case storage.EvidenceFailed:
		return newError(http.StatusNotFound, "no "+what+": "+ev.StatusReason)
	}
	return newError(http.StatusNotFound, "this evidence has no "+what)
}

// handleDerived serves one derived file that the item's Derived record
// says exists.
func handleDerived(db *storage.DB, objects storage.ObjectStore, what, name, contentType string, has func(*storage.Derived) bool) echo.HandlerFunc {
	return func(c echo.Context) error {
		ev, err := loadEvidence(c, db)
		if err != nil {
			return err
		}
		if ev.Derived == nil || !has(ev.Derived) {
			return notReady(ev, what)
		}
		return serveObject(c, objects, storage.DerivedKey(ev.CaseID, ev.ID, name), contentType, ev.SHA256+"-"+name)
	}
}

// handlePlayback serves what a browser can play: the proxy when one was
// made, else the original (which the pipeline found playable).
func handlePlayback(db *storage.DB, objects storage.ObjectStore) echo.HandlerFunc {
	return func(c echo.Context) error {
		ev, err := loadEvidence(c, db)
		if err != nil {
			return err
		}
		if ev.Kind != storage.KindVideo && ev.Kind != storage.KindRecording {
			return newError(http.StatusNotFound, "only videos have a playback rendition")
		}
		if ev.Status != storage.EvidenceReady {
			return notReady(ev, "playable rendition")
		}
		if err := auditRead(c, db, ev); err != nil {
			return err
		}
		if ev.Derived != nil && ev.Derived.Proxy {
			return serveObject(c, objects, storage.DerivedKey(ev.CaseID, ev.ID, storage.DerivedProxy), "video/mp4", ev.SHA256+"-proxy")
		}
		return serveObject(c, objects, ev.ObjectKey, ev.ContentType, ev.SHA256)
	}
}

// handlePage serves page n of a PDF as PNG (?thumb=1 for its thumbnail).
func handlePage(db *storage.DB, objects storage.ObjectStore) echo.HandlerFunc {
	return func(c echo.Context) error {
		ev, err := loadEvidence(c, db)
		if err != nil {
			return err
		}
		if ev.Kind != storage.KindPDF {
			return newError(http.StatusNotFound, "only PDFs have pages")
		}
		if ev.Derived == nil || ev.Derived.Pages == 0 {
			return notReady(ev, "page images")
		}
		n, err := strconv.Atoi(c.Param("n"))
		if err != nil || n < 1 || n > ev.Derived.Pages {
			return newError(http.StatusNotFound, "no page "+c.Param("n")+"; this PDF has "+strconv.Itoa(ev.Derived.Pages))
		}
		thumb := c.QueryParam("thumb") != ""
		name := storage.DerivedPage(n, thumb)
		return serveObject(c, objects, storage.DerivedKey(ev.CaseID, ev.ID, name), "image/png", ev.SHA256+"-"+name)
	}
}
