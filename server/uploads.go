package server

import (
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"siteinspect/storage"
)

// tus 1.0.0 (https://tus.io/protocols/resumable-upload): core, creation,
// creation-with-upload, termination, expiration and checksum (sha256).
const (
	tusVersion    = "1.0.0"
	tusExtensions = "creation,creation-with-upload,termination,expiration,checksum"
	tusOctets     = "application/offset+octet-stream"
)

// tusHeaders are set on every tus response (tus core §"Tus-Resumable").
func tusHeaders(c echo.Context) {
	h := c.Response().Header()
	h.Set("Tus-Resumable", tusVersion)
	h.Set("Cache-Control", "no-store")
}

// tusRequest checks the client speaks our tus version; tus core says a
// mismatch is answered 412 with the versions we do speak.
func tusRequest(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		tusHeaders(c)
		if c.Request().Method == http.MethodOptions {
			return next(c)
		}
		if v := c.Request().Header.Get("Tus-Resumable"); v != tusVersion {
			c.Response().Header().Set("Tus-Version", tusVersion)
			return newError(http.StatusPreconditionFailed, fmt.Sprintf("Tus-Resumable must be %s (got %q)", tusVersion, v))
		}
		return next(c)
	}
}

// handleTusOptions advertises what we support (tus core §OPTIONS).
func handleTusOptions(up *storage.Uploads) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("Tus-Version", tusVersion)
		h.Set("Tus-Extension", tusExtensions)
		h.Set("Tus-Max-Size", strconv.FormatInt(up.MaxSize(), 10))
		h.Set("Tus-Checksum-Algorithm", "sha256")
		return c.NoContent(http.StatusNoContent)
	}
}

// parseMetadata decodes Upload-Metadata: comma-separated "key base64value"
// pairs, the value optional (tus creation §Upload-Metadata).
func parseMetadata(raw string) (map[string]string, error) {
	out := map[string]string{}
	if strings.TrimSpace(raw) == "" {
		return out, nil
	}
	for _, pair := range strings.Split(raw, ",") {
		key, val, _ := strings.Cut(strings.TrimSpace(pair), " ")
		if key == "" || strings.ContainsAny(key, " \t") {
			return nil, fmt.Errorf("malformed Upload-Metadata pair %q", pair)
		}
		dec, err := base64.StdEncoding.DecodeString(strings.TrimSpace(val))
		if err != nil {
			return nil, fmt.Errorf("Upload-Metadata value of %q is not base64", key)
		}
		if _, dup := out[key]; dup {
			return nil, fmt.Errorf("Upload-Metadata repeats %q", key)
		}
		out[key] = string(dec)
	}
	return out, nil
}

func parseOffset(h, name string) (int64, error) {
	n, err := strconv.ParseInt(h, 10, 64)
	if err != nil || n < 0 {
		return 0, newError(http.StatusBadRequest, name+" must be a non-negative integer")
	}
	return n, nil
}

// uploadStates are the case statuses in which the company may add evidence.
func uploadAllowed(s storage.Status) bool {
	return s == storage.StatusDraft || s == storage.StatusSupplementRequested
}

// handleCreateUpload is tus creation (and creation-with-upload when the
// POST carries bytes). The size limit is checked here, before any byte.
func handleCreateUpload(db *storage.DB, ups *storage.Uploads, m *metrics, notify func()) echo.HandlerFunc {
	return func(c echo.Context) error {
		cs, err := loadCase(c, db, "id")
		if err != nil {
			return err
		}
		u := currentUser(c)
		if !isCompanyMember(u, cs) {
			return newError(http.StatusForbidden, "only the applicant's company uploads evidence")
		}
		if !uploadAllowed(cs.Status) {
			return newError(http.StatusUnprocessableEntity, fmt.Sprintf("evidence cannot be added to a %s case", cs.Status))
		}
		return createUpload(c, ups, m, notify, cs, u, "/api/v1/uploads/")
	}
}

// createUpload starts a tus upload into cs for u; its URL is base + id.
func createUpload(c echo.Context, ups *storage.Uploads, m *metrics, notify func(), cs *storage.Case, u *storage.User, base string) error {
	req := c.Request()
	if req.Header.Get("Upload-Defer-Length") != "" {
		return newError(http.StatusBadRequest, "Upload-Defer-Length is not supported; send Upload-Length")
	}
	length, err := parseOffset(req.Header.Get("Upload-Length"), "Upload-Length")
	if err != nil {
		return err
	}
	raw := req.Header.Get("Upload-Metadata")
	meta, err := parseMetadata(raw)
	if err != nil {
		return newError(http.StatusBadRequest, err.Error())
	}
	up, err := ups.CreateUpload(req.Context(), cs, u, length, meta, raw)
	if err != nil {
		return err
	}
	h := c.Response().Header()
	h.Set(echo.HeaderLocation, base+up.ID)
	h.Set("Upload-Expires", up.ExpiresAt.Format(http.TimeFormat))
	if req.ContentLength != 0 && req.Header.Get(echo.HeaderContentType) == tusOctets {
		// creation-with-upload: the body is the first chunk. If it
		// fails the upload still exists and the client resumes it.
		up, ev, err := appendBody(c, ups, m, up.ID, 0)
		if up != nil {
			h.Set("Upload-Offset", strconv.FormatInt(up.Offset, 10))
		}
		if err != nil {
			return err
		}
		if ev != nil {
			h.Set("Evidence-Id", ev.ID)
			notify()
		}
	}
	return c.NoContent(http.StatusCreated)
}

// loadUpload fetches the :uid upload; only the user who created it may use
// it (tus URLs are capabilities, but we still check who holds one).
func loadUpload(c echo.Context, ups *storage.Uploads) (*storage.Upload, error) {
	up, err := ups.Upload(c.Request().Context(), c.Param("uid"))
	if err != nil {
		return nil, err
	}
	if up.UserID != currentUser(c).ID {
		return nil, newError(http.StatusNotFound, "no such upload")
	}
	return up, nil
}

// handleHeadUpload answers the offset so a client can resume (tus core
// §HEAD). An upload whose bytes all arrived but whose completion was cut
// short by a crash is completed here.
func handleHeadUpload(ups *storage.Uploads) echo.HandlerFunc {
	return func(c echo.Context) error {
		up, err := loadUpload(c, ups)
		if err != nil {
			return err
		}
		if up.State == storage.UploadExpired {
			return newError(http.StatusGone, "the upload has expired")
		}
		if up.State == storage.UploadOpen && up.Offset == up.Length {
			if up, _, err = ups.Finish(c.Request().Context(), up.ID); err != nil {
				return err
			}
		}
		h := c.Response().Header()
		h.Set("Upload-Offset", strconv.FormatInt(up.Offset, 10))
		h.Set("Upload-Length", strconv.FormatInt(up.Length, 10))
		if up.RawMetadata != "" {
			h.Set("Upload-Metadata", up.RawMetadata)
		}
		if up.State == storage.UploadOpen {
			h.Set("Upload-Expires", up.ExpiresAt.Format(http.TimeFormat))
		} else {
			h.Set("Evidence-Id", up.EvidenceID)
		}
		return c.NoContent(http.StatusOK)
	}
}

// handlePatchUpload appends a chunk (tus core §PATCH, checksum extension).
func handlePatchUpload(ups *storage.Uploads, m *metrics, notify func()) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		if req.Header.Get(echo.HeaderContentType) != tusOctets {
			return newError(http.StatusUnsupportedMediaType, "Content-Type must be "+tusOctets)
		}
		up, err := loadUpload(c, ups)
		if err != nil {
			return err
		}
		offset, err := parseOffset(req.Header.Get("Upload-Offset"), "Upload-Offset")
		if err != nil {
			return err
		}
		if req.ContentLength > 0 && offset+req.ContentLength > up.Length {
			return newError(http.StatusBadRequest, fmt.Sprintf("the chunk would end at byte %d, past Upload-Length %d", offset+req.ContentLength, up.Length))
		}
		up, ev, err := appendBody(c, ups, m, up.ID, offset)
		if err != nil {
			return err
		}
		h := c.Response().Header()
		h.Set("Upload-Offset", strconv.FormatInt(up.Offset, 10))
		if ev != nil {
			h.Set("Evidence-Id", ev.ID)
			notify()
		} else {
			h.Set("Upload-Expires", up.ExpiresAt.Format(http.TimeFormat))
		}
		return c.NoContent(http.StatusNoContent)
	}
}

// appendBody streams the request body into the upload.
func appendBody(c echo.Context, ups *storage.Uploads, m *metrics, id string, offset int64) (*storage.Upload, *storage.Evidence, error) {
	req := c.Request()
	var sum *storage.Checksum
	if h := req.Header.Get("Upload-Checksum"); h != "" {
		algo, b64, ok := strings.Cut(h, " ")
		raw, err := base64.StdEncoding.DecodeString(b64)
		if !ok || err != nil {
			return nil, nil, newError(http.StatusBadRequest, "Upload-Checksum must be \"<algorithm> <base64 digest>\"")
		}
		if algo != "sha256" {
			return nil, nil, newError(http.StatusBadRequest, "unsupported checksum algorithm "+strconv.Quote(algo)+"; use sha256")
		}
		sum = &storage.Checksum{Algorithm: algo, Sum: raw}
	}
	m.uploadsInFlight.Inc()
	defer m.uploadsInFlight.Dec()
	return ups.Append(req.Context(), id, offset, countingReader{req.Body, m.uploadBytes}, sum)
}

// countingReader counts the bytes read through it into a metric.
type countingReader struct {
	r io.Reader
	c prometheus.Counter
}

func (cr countingReader) Read(p []byte) (int, error) {
	n, err := cr.r.Read(p)
	cr.c.Add(float64(n))
	return n, err
}

// handleTerminateUpload discards an unfinished upload (tus termination).
func handleTerminateUpload(ups *storage.Uploads) echo.HandlerFunc {
	return func(c echo.Context) error {
		up, err := loadUpload(c, ups)
		if err != nil {
			return err
		}
		if err := ups.Terminate(c.Request().Context(), up.ID); err != nil {
			return err
		}
		return c.NoContent(http.StatusNoContent)
	}
}

type uploadJSON struct {
	*storage.Upload
	EvidenceID *string `json:"evidence_id"`
}

// handleGetUpload tells a client what became of an upload: its offset and,
// once complete, its evidence id.
func handleGetUpload(ups *storage.Uploads) echo.HandlerFunc {
	return func(c echo.Context) error {
		up, err := loadUpload(c, ups)
		if err != nil {
			return err
		}
		out := uploadJSON{Upload: up}
		if up.State == storage.UploadComplete {
			out.EvidenceID = &up.EvidenceID
		}
		return c.JSON(http.StatusOK, out)
	}
}
