package server

import (
	"context"
	"io"
	"net/http"

	"github.com/labstack/echo/v4"

	"siteinspect/domain"
)

// reportWriter makes a case's inspection report.
type reportWriter interface {
	// Write writes the report; verifyURL is printed on it.
	Write(ctx context.Context, cs *domain.Case, w io.Writer, asJSON bool, verifyURL string) error
}

// reportStore is what the report handler needs from the records: the case,
// and the audit chain that each issued report enters.
type reportStore interface {
	caseLoader
	auditRecorder
}

// handleReport serves the inspection report: to the office at any time
// (a working draft until the decision is final), to the applicant once the
// decision is final. Each report served is issued: it carries its own
// verification URL and its SHA-256 enters the audit chain (issueReport).
func handleReport(db reportStore, reports reportWriter, asJSON bool, publicURL string) echo.HandlerFunc {
	return func(c echo.Context) error {
		cs, err := loadCaseFor(c, db, "id", domain.ActionReadOutcome)
		if err != nil {
			return err
		}
		if reports == nil {
			return newCodedError(http.StatusNotFound, "reports_disabled", "reports are not configured")
		}
		c.Response().Header().Set("Cache-Control", "no-store")
		// The status and the report's headers go out with the first byte,
		// which issueReport writes only once the report is on record, so an
		// error while it is made or recorded still gets a proper JSON error.
		pw := &lazyWriter{c: c, header: func(h http.Header) {
			if asJSON {
				h.Set(echo.HeaderContentType, echo.MIMEApplicationJSONCharsetUTF8)
			} else {
				h.Set(echo.HeaderContentType, "application/pdf")
				h.Set("Content-Disposition", contentDisposition("inline", "inspection-report-"+cs.Number+".pdf"))
			}
		}}
		if _, err := issueReport(c, db, reports, cs, pw, asJSON, publicURL); err != nil {
			if pw.started {
				return nil // headers are gone; the client sees a cut-off file
			}
			return err
		}
		if !pw.started {
			pw.start()
		}
		return nil
	}
}

// lazyWriter sends header's headers and the 200 status with the first
// byte written.
type lazyWriter struct {
	c       echo.Context
	header  func(http.Header)
	started bool
}

func (l *lazyWriter) start() {
	l.started = true
	if l.header != nil {
		l.header(l.c.Response().Header())
	}
	l.c.Response().WriteHeader(http.StatusOK)
}

func (l *lazyWriter) Write(p []byte) (int, error) {
	if !l.started {
		l.start()
	}
	return l.c.Response().Write(p)
}
