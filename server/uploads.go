package server

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"siteinspect/domain"
)

// tus 1.0.0 (https://tus.io/protocols/resumable-upload): core, creation,
// creation-with-upload, creation-defer-length, termination, expiration,
// checksum (sha256) and concatenation; X-HTTP-Method-Override on every
// upload URL (docs/UPLOADS.md).
const (
	tusVersion    = "1.0.0"
	tusExtensions = "creation,creation-with-upload,creation-defer-length,termination,expiration,checksum,concatenation"
	tusOctets     = "application/offset+octet-stream"
)

// tusUploadPath matches an upload's URL, the applicant's or the phone's:
// the only URLs whose methods may be overridden.
var tusUploadPath = regexp.MustCompile(`^/api/v1/(uploads|live/[^/]+/uploads)/[^/]+$`)

// tusMethodOverride runs before routing: a POST to an upload URL carrying
// X-HTTP-Method-Override: PATCH, HEAD or DELETE is routed as that method
// (tus core §X-HTTP-Method-Override: the server MUST honour it), for
// networks whose proxies refuse PATCH and DELETE. The authentication
// middleware then sees the overridden method; PATCH and DELETE are
// state-changing there as POST is, and a cross-site form cannot set the
// header, so CSRF protection is unchanged.
func tusMethodOverride(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		if req.Method == http.MethodPost {
			if m := strings.ToUpper(strings.TrimSpace(req.Header.Get("X-HTTP-Method-Override"))); m != "" && tusUploadPath.MatchString(req.URL.Path) {
				switch m {
				case http.MethodPatch, http.MethodHead, http.MethodDelete:
					req.Method = m
				}
			}
		}
		return next(c)
	}
}

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

// tusStore is what the tus handlers need from the resumable uploads.
type tusStore interface {
	uploadLoader
	MaxSize() int64
	Create(ctx context.Context, c *domain.Case, u *domain.User, spec domain.UploadSpec) (*domain.Upload, error)
	CreateFinal(ctx context.Context, c *domain.Case, u *domain.User, partIDs []string, metadata map[string]string, rawMetadata string) (*domain.Upload, error)
	MarkLive(ctx context.Context, id, sessionID string) error
	DeclareLength(ctx context.Context, id string, length int64) (*domain.Upload, error)
	Append(ctx context.Context, id string, offset int64, body io.Reader, sum *domain.Checksum) (*domain.Upload, *domain.Evidence, error)
	Finish(ctx context.Context, id string) (*domain.Upload, *domain.Evidence, error)
	Terminate(ctx context.Context, id string) error
}

// handleTusOptions advertises what we support (tus core §OPTIONS).
func handleTusOptions(up tusStore) echo.HandlerFunc {
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
		if key == "" || strings.IndexFunc(key, func(r rune) bool { return r <= ' ' || r > '~' }) >= 0 {
			// tus: a key is non-empty, without spaces or commas, and
			// (we require) printable ASCII, so it is echoed back unchanged.
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
	// tus: a plain non-negative integer, so no sign (ParseInt takes "+5"
	// and "-0").
	n, err := strconv.ParseInt(h, 10, 64)
	if err != nil || n < 0 || h == "" || h[0] < '0' || h[0] > '9' {
		return 0, newError(http.StatusBadRequest, name+" must be a non-negative integer")
	}
	return n, nil
}

// handleCreateUpload is tus creation (and creation-with-upload when the
// POST carries bytes). The size limit is checked here, before any byte.
func handleCreateUpload(db caseLoader, ups tusStore, m *metrics, notify func()) echo.HandlerFunc {
	return func(c echo.Context) error {
		// An upload naming an owed item delivers it after approval
		// (承诺办); any other joins under the rule for the company's
		// evidence. A malformed header is refused by createUpload.
		action := domain.ActionUpload
		if meta, err := parseMetadata(c.Request().Header.Get("Upload-Metadata")); err == nil && meta[domain.MetaOwedItem] != "" {
			action = domain.ActionDeliverOwed
		}
		cs, err := loadCaseFor(c, db, "id", action)
		if err != nil {
			return err
		}
		u := currentUser(c)
		return createUpload(c, ups, m, notify, cs, u, "/api/v1/uploads/")
	}
}

// createUpload starts a tus upload into cs for u; its URL is base + id.
// Upload-Concat makes a partial upload, or a final upload that joins
// partial ones at once (tus concatenation); Upload-Defer-Length: 1 leaves
// the length to a later PATCH (tus creation-defer-length).
func createUpload(c echo.Context, ups tusStore, m *metrics, notify func(), cs *domain.Case, u *domain.User, base string) error {
	req := c.Request()
	raw := req.Header.Get("Upload-Metadata")
	meta, err := parseMetadata(raw)
	if err != nil {
		return newError(http.StatusBadRequest, err.Error())
	}
	concat := req.Header.Get("Upload-Concat")
	if _, live := c.Get("live").(*domain.LiveSession); live && strings.HasPrefix(concat, "final;") {
		return newError(http.StatusBadRequest, "the phone's recording is sent as one upload (deferred length), not joined from partial uploads")
	}
	if strings.HasPrefix(concat, "final;") {
		return createFinal(c, ups, notify, cs, u, base, concat, meta, raw)
	}
	if concat != "" && concat != domain.ConcatPartial {
		return newError(http.StatusBadRequest, `Upload-Concat must be "partial" or "final;<upload URLs>"`)
	}
	spec := domain.UploadSpec{Metadata: meta, RawMetadata: raw, Partial: concat == domain.ConcatPartial}
	switch d := req.Header.Get("Upload-Defer-Length"); {
	case d == "1" && req.Header.Get("Upload-Length") == "":
		spec.DeferLength = true
	case d != "":
		// tus creation-defer-length: the only value is 1, and it replaces Upload-Length.
		return newError(http.StatusBadRequest, "Upload-Defer-Length must be 1 and comes instead of Upload-Length")
	default:
		if spec.Length, err = parseOffset(req.Header.Get("Upload-Length"), "Upload-Length"); err != nil {
			return err
		}
	}
	up, err := ups.Create(req.Context(), cs, u, spec)
	if err != nil {
		return err
	}
	if ls, ok := c.Get("live").(*domain.LiveSession); ok {
		// The phone's own recording joins under the rule for live material.
		if err := ups.MarkLive(req.Context(), up.ID, ls.ID); err != nil {
			return err
		}
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

// createFinal creates a final upload from "final;<URL> <URL> ..." and
// completes it before answering (tus concatenation §Upload-Concat): the
// join is a server-side copy and one read to hash it. Sent again with the
// same partial uploads, it answers the same upload and evidence.
func createFinal(c echo.Context, ups tusStore, notify func(), cs *domain.Case, u *domain.User, base, concat string, meta map[string]string, raw string) error {
	req := c.Request()
	var ids []string
	for _, ref := range strings.Fields(strings.TrimPrefix(concat, "final;")) {
		id, err := partialID(ref)
		if err != nil {
			return err
		}
		ids = append(ids, id)
	}
	up, err := ups.CreateFinal(req.Context(), cs, u, ids, meta, raw)
	if err != nil {
		return err
	}
	h := c.Response().Header()
	h.Set(echo.HeaderLocation, base+up.ID)
	up, ev, err := ups.Finish(req.Context(), up.ID)
	if err != nil {
		return err
	}
	h.Set("Upload-Offset", strconv.FormatInt(up.Offset, 10))
	switch {
	case ev != nil:
		h.Set("Evidence-Id", ev.ID)
		notify()
	case up.State == domain.UploadComplete:
		// The same final POST again (its answer was lost): the same upload.
		h.Set("Evidence-Id", up.EvidenceID)
	}
	return c.NoContent(http.StatusCreated)
}

// partialID takes the upload id from a partial upload's URL, absolute or
// absolute-path, the applicant's or the phone's; whose it is, the store
// checks.
func partialID(ref string) (string, error) {
	u, err := url.Parse(ref)
	if err == nil && tusUploadPath.MatchString(u.Path) {
		return path.Base(u.Path), nil
	}
	return "", newError(http.StatusBadRequest, fmt.Sprintf("Upload-Concat names %q, which is not an upload URL of this server", ref))
}

// uploadLoader is what loadUpload needs from the resumable uploads: an
// upload by its id.
type uploadLoader interface {
	Upload(ctx context.Context, id string) (*domain.Upload, error)
}

// loadUpload fetches the :uid upload; only the user who created it may use
// it (tus URLs are capabilities, but we still check who holds one).
func loadUpload(c echo.Context, ups uploadLoader) (*domain.Upload, error) {
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
func handleHeadUpload(ups tusStore) echo.HandlerFunc {
	return func(c echo.Context) error {
		up, err := loadUpload(c, ups)
		if err != nil {
			return err
		}
		if up.State == domain.UploadExpired {
			return newCodedError(http.StatusGone, "upload_expired", "the upload has expired")
		}
		if up.State == domain.UploadOpen && up.Offset == up.Length && !up.LengthDeferred {
			if up, _, err = ups.Finish(c.Request().Context(), up.ID); err != nil {
				return err
			}
		}
		h := c.Response().Header()
		h.Set("Upload-Offset", strconv.FormatInt(up.Offset, 10))
		if up.LengthDeferred {
			h.Set("Upload-Defer-Length", "1")
		} else {
			h.Set("Upload-Length", strconv.FormatInt(up.Length, 10))
		}
		if up.RawMetadata != "" {
			h.Set("Upload-Metadata", up.RawMetadata)
		}
		switch up.Concat {
		case domain.ConcatPartial:
			h.Set("Upload-Concat", domain.ConcatPartial)
		case domain.ConcatFinal:
			base := strings.TrimSuffix(c.Request().URL.Path, up.ID)
			refs := make([]string, len(up.Parts))
			for i, id := range up.Parts {
				refs[i] = base + id
			}
			h.Set("Upload-Concat", "final;"+strings.Join(refs, " "))
		}
		switch {
		case up.State == domain.UploadOpen || up.Concat == domain.ConcatPartial:
			// A complete partial upload waits for its final upload until it expires.
			h.Set("Upload-Expires", up.ExpiresAt.Format(http.TimeFormat))
		default:
			h.Set("Evidence-Id", up.EvidenceID)
		}
		return c.NoContent(http.StatusOK)
	}
}

// handlePatchUpload appends a chunk (tus core §PATCH, checksum extension).
func handlePatchUpload(ups tusStore, m *metrics, notify func()) echo.HandlerFunc {
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
		if up.Concat == domain.ConcatFinal {
			// tus concatenation: a final upload takes no PATCH.
			return newError(http.StatusForbidden, "a final upload is joined from its partial uploads and takes no bytes")
		}
		if l := req.Header.Get("Upload-Length"); l != "" {
			// creation-defer-length: the length arrives with a PATCH, once.
			length, err := parseOffset(l, "Upload-Length")
			if err != nil {
				return err
			}
			if up, err = ups.DeclareLength(req.Context(), up.ID, length); err != nil {
				return err
			}
		}
		if req.ContentLength > 0 && !up.LengthDeferred && offset+req.ContentLength > up.Length {
			return newCodedError(http.StatusRequestEntityTooLarge, domain.CodeChunkPastLength,
				fmt.Sprintf("the chunk would end at byte %d, past Upload-Length %d; nothing of it was kept", offset+req.ContentLength, up.Length))
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
		} else if up.State == domain.UploadOpen || up.Concat == domain.ConcatPartial {
			h.Set("Upload-Expires", up.ExpiresAt.Format(http.TimeFormat))
		}
		return c.NoContent(http.StatusNoContent)
	}
}

// appendBody streams the request body into the upload.
func appendBody(c echo.Context, ups tusStore, m *metrics, id string, offset int64) (*domain.Upload, *domain.Evidence, error) {
	req := c.Request()
	var sum *domain.Checksum
	if h := req.Header.Get("Upload-Checksum"); h != "" {
		algo, b64, ok := strings.Cut(h, " ")
		raw, err := base64.StdEncoding.DecodeString(b64)
		if !ok || err != nil {
			return nil, nil, newError(http.StatusBadRequest, "Upload-Checksum must be \"<algorithm> <base64 digest>\"")
		}
		if algo != "sha256" {
			return nil, nil, newError(http.StatusBadRequest, "unsupported checksum algorithm "+strconv.Quote(algo)+"; use sha256")
		}
		sum = &domain.Checksum{Algorithm: algo, Sum: raw}
	}
	m.uploadsInFlight.Inc()
	defer m.uploadsInFlight.Dec()
	// A client that stops sending (or declared more than it sends) fails
	// its read after bodyIdle instead of holding the upload's lease until
	// the connection dies; what it sent so far is kept.
	rc := http.NewResponseController(c.Response())
	defer rc.SetReadDeadline(time.Time{})
	var body io.Reader = idleBody{countingReader{req.Body, m.uploadBytes}, rc}
	if req.ContentLength < 0 {
		// Chunked: its end is known only when it comes, so it is appended
		// whole or not at all (a body past Upload-Length keeps nothing).
		body = domain.UnsizedBody{Reader: body}
	} else if req.ContentLength > 0 {
		// Its end is known: parts it covers whole can be stored while
		// their bytes arrive.
		body = domain.SizedBody{Reader: body, Size: req.ContentLength}
	}
	return ups.Append(req.Context(), id, offset, body, sum)
}

// bodyIdle is how long a PATCH may wait for the client's next bytes.
const bodyIdle = time.Minute

// idleBody renews the connection's read deadline before each read (where
// the connection allows it; in-process tests' recorders do not).
type idleBody struct {
	r  io.Reader
	rc *http.ResponseController
}

func (b idleBody) Read(p []byte) (int, error) {
	b.rc.SetReadDeadline(time.Now().Add(bodyIdle))
	return b.r.Read(p)
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
func handleTerminateUpload(ups tusStore) echo.HandlerFunc {
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
	*domain.Upload
	EvidenceID *string `json:"evidence_id"`
}

// handleGetUpload tells a client what became of an upload: its offset and,
// once complete, its evidence id.
func handleGetUpload(ups tusStore) echo.HandlerFunc {
	return func(c echo.Context) error {
		up, err := loadUpload(c, ups)
		if err != nil {
			return err
		}
		out := uploadJSON{Upload: up}
		if up.State == domain.UploadComplete && up.Concat != domain.ConcatPartial {
			out.EvidenceID = &up.EvidenceID
		}
		return c.JSON(http.StatusOK, out)
	}
}
