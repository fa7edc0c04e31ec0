package server

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"siteinspect/domain"
	"siteinspect/storage/objects"
)

// evidenceCacheControl lets a browser keep evidence and its renditions but
// makes it ask again (a cheap 304 against the ETag) before each use, so
// that nothing is shown from the cache once the session that fetched it has
// logged out or lost access (RFC 9111 §5.2.2.4, §5.2.2.7).
const evidenceCacheControl = "private, no-cache"

// derivedETag is the ETag of a file made from an original: the original's
// SHA-256 and the file's name, which stay the same while the file does,
// plus its size and write time, which change when it is made again (a
// newer ffmpeg, a re-run job) with other bytes under the same name.
func derivedETag(sha256, name string) func(objects.ObjectInfo) string {
	return func(info objects.ObjectInfo) string {
		return strings.Join([]string{sha256, strings.ReplaceAll(name, "/", "."),
			strconv.FormatInt(info.Size, 36), strconv.FormatInt(info.ModTime.UnixMilli(), 36)}, "-")
	}
}

// notReady answers for a derived file the pipeline has not made (yet).
func notReady(ev *domain.Evidence, what string) error {
	switch ev.Status {
	case domain.EvidenceProcessing:
		return newCodedError(http.StatusConflict, "still_processing", "the "+what+" is still being made; try again shortly")
	case domain.EvidenceFailed:
		return newCodedError(http.StatusNotFound, "derived_failed", "no "+what+": "+ev.StatusReason)
	}
	return newCodedError(http.StatusNotFound, "derived_missing", "this evidence has no "+what)
}

// derivedStore is what the handlers of derived files need from the
// records.
type derivedStore interface {
	evidenceLoader
	auditRecorder
}

// handleDerived serves one derived file that the item's Derived record
// says exists.
func handleDerived(db derivedStore, dl *downloads, what, name, contentType string, has func(*domain.Derived) bool) echo.HandlerFunc {
	return func(c echo.Context) error {
		ev, err := loadEvidence(c, db)
		if err != nil {
			return err
		}
		if ev.Derived == nil || !has(ev.Derived) {
			return notReady(ev, what)
		}
		return dl.serve(c, domain.DerivedKey(ev.CaseID, ev.ID, name), contentType, derivedETag(ev.SHA256, name), "")
	}
}

// handlePlayback serves what a browser can play: the proxy when one was
// made, else the original (which the pipeline found playable). It does so
// once the item is ready, or earlier, while its poster and filmstrip are
// still being made, once the pipeline has marked it playable.
func handlePlayback(db derivedStore, dl *downloads) echo.HandlerFunc {
	return func(c echo.Context) error {
		ev, err := loadEvidence(c, db)
		if err != nil {
			return err
		}
		if ev.Kind != domain.KindVideo && ev.Kind != domain.KindRecording {
			return newError(http.StatusNotFound, "only videos have a playback rendition")
		}
		early := ev.Status == domain.EvidenceProcessing && ev.Derived != nil && ev.Derived.Playable
		if ev.Status != domain.EvidenceReady && !early {
			return notReady(ev, "playable rendition")
		}
		if err := auditRead(c, db, ev, dl.presign != nil); err != nil {
			return err
		}
		if ev.Derived != nil && ev.Derived.Proxy {
			return dl.serve(c, domain.DerivedKey(ev.CaseID, ev.ID, domain.DerivedProxy), "video/mp4", derivedETag(ev.SHA256, "proxy"), "")
		}
		return dl.serve(c, ev.ObjectKey, ev.ContentType, nil, ev.SHA256)
	}
}

// handlePage serves page n of a PDF as PNG (?thumb=1 for its thumbnail).
func handlePage(db derivedStore, dl *downloads) echo.HandlerFunc {
	return func(c echo.Context) error {
		ev, err := loadEvidence(c, db)
		if err != nil {
			return err
		}
		if ev.Kind != domain.KindPDF {
			return newError(http.StatusNotFound, "only PDFs have pages")
		}
		if ev.Derived == nil || ev.Derived.Pages == 0 {
			return notReady(ev, "page images")
		}
		n, err := strconv.Atoi(c.Param("n"))
		if err != nil || n < 1 || n > ev.Derived.Pages {
			return newCodedError(http.StatusNotFound, "no_such_page", "no page "+c.Param("n")+"; this PDF has "+strconv.Itoa(ev.Derived.Pages))
		}
		thumb := c.QueryParam("thumb") != ""
		// Reading a page is opening the PDF (the decision's summary asks
		// which evidence an officer has opened); thumbnails are not.
		if !thumb {
			if err := auditRead(c, db, ev, dl.presign != nil); err != nil {
				return err
			}
		}
		name := domain.DerivedPage(n, thumb)
		return dl.serve(c, domain.DerivedKey(ev.CaseID, ev.ID, name), "image/png", derivedETag(ev.SHA256, name), "")
	}
}
