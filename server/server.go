// Package server is siteinspect's HTTP layer: routing, authentication,
// request validation, JSON shapes, and the mapping of storage's error kinds
// to API.md's error responses. It holds no SQL and makes no object-store
// calls of its own.
package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
	"github.com/pion/webrtc/v4"
	"github.com/prometheus/client_golang/prometheus"

	"siteinspect/domain"
	"siteinspect/live"
	"siteinspect/storage"
	"siteinspect/storage/objects"
)

// Records is what the routes need from the database: the union of the
// small interfaces each handler group declares beside its handlers
// (caseStore in cases.go, annotationStore in annotations.go, …).
type Records interface {
	pinger
	sessionFinder
	authStore
	caseStore
	evidenceStore
	derivedStore
	annotationStore
	decisionStore
	owedStore
	caseEventStore
	reportStore
	bundleStore
	verifyStore
	liveStore
	statsReader
	coverageStore
	catalogueStore
	notificationStore
	ratingStore
	settingsReader
	adminStore
	officeAuditStore
	slotStore
}

// UploadStore is what the routes need from the resumable uploads: the tus
// handlers' methods and the per-kind limits that GET /api/v1/config shows.
type UploadStore interface {
	tusStore
	Limits() map[domain.Kind]int64
}

// Config is everything the HTTP layer depends on.
type Config struct {
	// DB holds the records (*storage.DB).
	DB Records
	// Objects holds the files.
	Objects objects.ObjectStore
	// Uploads keeps resumable uploads (*storage.Uploads).
	Uploads UploadStore
	// Web is the embedded UI, served at /.
	Web fs.FS
	// Logger receives request errors.
	Logger *slog.Logger
	// Registry receives the server's Prometheus metrics and is served at
	// /metrics.
	Registry *prometheus.Registry
	// Office is the permit office this deployment serves; officers whose
	// org equals it see its cases.
	Office string
	// OfficeName is the office's name as people read it, served to the
	// UI by GET /api/v1/config; empty shows Office.
	OfficeName string
	// NumberPrefix starts every case number (BH-2026-000042).
	NumberPrefix string
	// Location is the office's time zone, for case numbers' years and due
	// dates, unless an admin set another (docs/ADMIN.md).
	Location *time.Location
	// RetentionDays is --retention-days, shown to admins as the default an
	// office setting overrides; 0 shows storage.DefaultRetention.
	RetentionDays int
	// SessionTTL is how long a login lasts.
	SessionTTL time.Duration
	// LoginLimit bounds failed logins, counted in the database so every
	// replica sees them: at most Failures per username at one client
	// address and 4×Failures per address within Window; past 4×Failures
	// for a username from all addresses, addresses that failed for it wait
	// a doubling delay (1 s up to Window). Failures from elsewhere never
	// refuse an address that has not itself failed for the username
	// (docs/SECURITY.md). Zero means 5 per 15 minutes.
	LoginLimit RateLimit
	// SecureCookies marks cookies Secure even on plain HTTP (behind a
	// TLS-terminating proxy).
	SecureCookies bool
	// LocationWarnMeters is how far from the case's site a capture place may
	// be before the evidence is flagged.
	LocationWarnMeters float64
	// Reports makes inspection reports; nil answers 404.
	Reports reportWriter
	// PublicURL is the address the public reaches this service at
	// (https://permits.example.gov), for the verification URL printed on
	// each report. Empty takes the scheme and host of the request that
	// asked for the report, which is right unless a proxy rewrites them.
	PublicURL string
	// Notify, if set, is called when an upload has become evidence, so the
	// media pipeline starts on it at once.
	Notify func()
	// Live runs live inspections (package live); nil leaves the live
	// routes out. The caller runs and closes it (Server.Close closes it too).
	Live *live.Service
	// LiveICEServers are the STUN/TURN servers advertised to live clients
	// (Link headers and the session's ice_servers).
	LiveICEServers []webrtc.ICEServer
	// LiveTokenTTL is how long a publish token works before the first
	// publish.
	LiveTokenTTL time.Duration
	// TrustProxy takes the client address from X-Forwarded-For; only
	// behind a proxy that sets it, or anyone can dodge the login limit.
	TrustProxy bool
	// DirectDownloadTTL, when positive and Objects can presign (S3),
	// answers downloads of evidence and derived files, after the same
	// authorisation and audit, with a redirect to a presigned URL of the
	// store valid this long, so the bytes do not pass through us. Zero
	// relays them.
	DirectDownloadTTL time.Duration
	// Retention holds and tells the cases' retention (*storage.Retention);
	// nil keeps originals DefaultRetention with the DB and Objects above.
	Retention RetentionService
	// FollowUpDays is the office's deadline for a follow-up (整改) that a
	// rating of 不满意 or worse opens, in working days (Saturdays and
	// Sundays excluded, domain.DueAt); zero means 5.
	FollowUpDays int
	// NotificationWords words the inbox's notifications as their e-mail
	// does (*notify.Sender); nil leaves their text out and the UI says
	// only that something happened on the case.
	NotificationWords NotificationWords
}

// RateLimit is a number of events allowed per window.
type RateLimit struct {
	Failures int
	Window   time.Duration
}

// Server is the HTTP API and UI.
type Server struct {
	echo    *echo.Echo
	metrics *metrics
	live    *liveService
	ready   *readiness // /readyz, Drain, EndStreams (ready.go)
}

// New validates cfg and builds the server.
func New(cfg Config) (*Server, error) {
	switch {
	case cfg.DB == nil || cfg.Objects == nil || cfg.Uploads == nil:
		return nil, errors.New("server: DB, Objects and Uploads are required")
	case cfg.Office == "" || cfg.NumberPrefix == "":
		return nil, errors.New("server: Office and NumberPrefix are required")
	}
	if cfg.PublicURL != "" {
		u, err := url.Parse(cfg.PublicURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return nil, fmt.Errorf("server: PublicURL %q must be an http(s) address without query or fragment", cfg.PublicURL)
		}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Location == nil {
		cfg.Location = time.UTC
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 12 * time.Hour
	}
	if cfg.LoginLimit.Failures <= 0 {
		cfg.LoginLimit = RateLimit{Failures: 5, Window: 15 * time.Minute}
	}
	if cfg.FollowUpDays <= 0 {
		cfg.FollowUpDays = 5
	}
	if cfg.LocationWarnMeters <= 0 {
		cfg.LocationWarnMeters = 1000
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	if db, ok := cfg.DB.(*storage.DB); ok && cfg.Retention == nil {
		cfg.Retention = &storage.Retention{DB: db, Objects: cfg.Objects, Default: storage.DefaultRetention, Office: cfg.Office, Logger: cfg.Logger}
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.IPExtractor = echo.ExtractIPDirect()
	if cfg.TrustProxy {
		e.IPExtractor = echo.ExtractIPFromXFFHeader()
	}
	s := &Server{echo: e, metrics: newMetrics(cfg.Registry)}
	e.HTTPErrorHandler = errorHandler(cfg.Logger)
	if err := s.routes(cfg); err != nil {
		return nil, err
	}
	return s, nil
}

// Close ends every open live session, so their recordings become evidence
// before the process exits. Call it after the HTTP server has shut down.
func (s *Server) Close(ctx context.Context) error {
	if s.live == nil {
		return nil
	}
	return s.live.svc.Close(ctx)
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.echo.ServeHTTP(w, r) }

// apiError is API.md's error body.
type apiError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// statusChecksumMismatch is tus's 460 Checksum Mismatch.
const statusChecksumMismatch = 460

// errorKinds maps storage's kinds to status and code.
var errorKinds = []struct {
	kind   error
	status int
	code   string
}{
	{domain.ErrNotFound, http.StatusNotFound, "not_found"},
	{domain.ErrConflict, http.StatusConflict, "conflict"},
	{domain.ErrLocked, http.StatusLocked, "locked"},
	{domain.ErrInvalid, http.StatusBadRequest, "invalid"},
	{domain.ErrForbidden, http.StatusForbidden, "forbidden"},
	{domain.ErrInvalidState, http.StatusUnprocessableEntity, "invalid_state"},
	{domain.ErrTooLarge, http.StatusRequestEntityTooLarge, "too_large"},
	{domain.ErrTooMany, http.StatusTooManyRequests, "rate_limited"},
	{domain.ErrUnsupportedType, http.StatusUnsupportedMediaType, "unsupported_media_type"},
	{domain.ErrChecksumMismatch, statusChecksumMismatch, "checksum_mismatch"},
	{domain.ErrGone, http.StatusGone, "gone"},
	{domain.ErrPrecondition, http.StatusPreconditionFailed, "precondition_failed"},
	{domain.ErrUnavailable, http.StatusServiceUnavailable, "unavailable"},
	{domain.ErrInsufficientStorage, http.StatusInsufficientStorage, domain.CodeDiskFull},
}

// retryAfter is the Retry-After, in seconds, of a 503 or 507: a store
// that did not answer often does a few seconds later; a full disk waits
// for someone to free space.
var retryAfter = map[int]string{http.StatusServiceUnavailable: "5", http.StatusInsufficientStorage: "60"}

var statusCodes = map[int]string{
	http.StatusBadRequest: "invalid", http.StatusUnauthorized: "unauthenticated", http.StatusForbidden: "forbidden",
	http.StatusNotFound: "not_found", http.StatusMethodNotAllowed: "method_not_allowed", http.StatusConflict: "conflict",
	http.StatusGone: "gone", http.StatusPreconditionFailed: "precondition_failed", http.StatusRequestEntityTooLarge: "too_large",
	http.StatusUnsupportedMediaType: "unsupported_media_type", http.StatusUnprocessableEntity: "invalid_state",
	http.StatusTooManyRequests: "rate_limited", http.StatusRequestedRangeNotSatisfiable: "range_not_satisfiable",
	http.StatusServiceUnavailable: "unavailable", http.StatusLocked: "locked",
}

// httpError is an error with a chosen status, code and client message.
type httpError struct {
	status  int
	code    string
	message string
}

func (e *httpError) Error() string { return e.message }

func newError(status int, message string) error {
	return &httpError{status: status, code: statusCodes[status], message: message}
}

// newCodedError is newError with a stable code of its own (API.md: an error
// a person can meet has one, and the UI translates it).
func newCodedError(status int, code, message string) error {
	return &httpError{status: status, code: code, message: message}
}

// queryLimit reads a list's page size, ?limit=, a number from 1 to max;
// def when it is absent. Every list answers a bad one with bad_limit.
func queryLimit(c echo.Context, def, max int) (int, error) {
	v := c.QueryParam("limit")
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > max {
		return 0, newCodedError(http.StatusBadRequest, "bad_limit", fmt.Sprintf("limit must be a number from 1 to %d", max))
	}
	return n, nil
}

// maxSearchText is the most characters of a search text (a list's q, the
// office audit's action prefix): more than the longest text it can match
// (a case's number, company, site name and address), and far below
// SQLite's limit on a LIKE pattern (50,000 bytes), past which the query
// fails.
const maxSearchText = 1000

// searchParam reads the search text of query parameter name: 400
// search_too_long when it has more than maxSearchText characters.
func searchParam(c echo.Context, name string) (string, error) {
	v := c.QueryParam(name)
	if utf8.RuneCountInString(v) > maxSearchText {
		return "", newCodedError(http.StatusBadRequest, "search_too_long", fmt.Sprintf("%s may have at most %d characters", name, maxSearchText))
	}
	return v, nil
}

// errorHandler writes every error as API.md's JSON shape. Errors of no
// known kind are logged with their cause; the client sees only "internal
// error".
func errorHandler(log *slog.Logger) echo.HTTPErrorHandler {
	return func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		status, code, msg := http.StatusInternalServerError, "internal", "internal error"
		var he *httpError
		var ee *echo.HTTPError
		var se *domain.Error
		switch {
		case errors.As(err, &he):
			status, code, msg = he.status, he.code, he.message
		case errors.As(err, &ee):
			status = ee.Code
			code = statusCodes[status]
			if code == "" {
				code = "error"
			}
			msg = strings.ToLower(http.StatusText(status))
			if m, ok := ee.Message.(string); ok && status != http.StatusInternalServerError {
				msg = m
			}
		default:
			// A dependency's failure (a full disk, a store not answering)
			// becomes a kind here; the log below keeps the cause.
			kerr := storage.Classify(err)
			for _, k := range errorKinds {
				if errors.Is(kerr, k.kind) {
					status, code = k.status, k.code
					msg = k.kind.Error()
					if errors.As(kerr, &se) {
						msg = se.Message
						if se.Code != "" {
							code = se.Code
						}
						if se.RetryAfter > 0 {
							c.Response().Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(se.RetryAfter.Seconds()))))
						}
					}
					break
				}
			}
		}
		if status >= 500 {
			log.Error("request failed", "method", c.Request().Method, "path", c.Request().URL.Path, "err", err)
		}
		if s, ok := retryAfter[status]; ok && c.Response().Header().Get("Retry-After") == "" {
			c.Response().Header().Set("Retry-After", s)
		}
		var body apiError
		body.Error.Code, body.Error.Message = code, msg
		if c.Request().Method == http.MethodHead {
			c.NoContent(status)
			return
		}
		c.JSON(status, body)
	}
}

// maxJSONBody bounds JSON request bodies.
const maxJSONBody = 1 << 20

// isJSONMediaType reports whether a Content-Type names JSON:
// application/json, or a structured syntax suffix application/<x>+json
// (RFC 6839 §3.1, such as application/merge-patch+json), with any
// parameters (charset), which do not matter here. Names that merely begin
// with "application/json" (application/jsonx, application/json-seq) are
// other types.
func isJSONMediaType(ct string) bool {
	base, _, _ := strings.Cut(ct, ";")
	mt, _, err := mime.ParseMediaType(base)
	if err != nil {
		return false
	}
	if mt == echo.MIMEApplicationJSON {
		return true
	}
	sub, ok := strings.CutPrefix(mt, "application/")
	return ok && len(sub) > len("+json") && strings.HasSuffix(sub, "+json")
}

// bindJSON decodes a JSON body strictly: malformed JSON, unknown fields,
// trailing data or an oversize body are 400s with a clear message.
func bindJSON(c echo.Context, v any) error {
	if ct := c.Request().Header.Get(echo.HeaderContentType); ct != "" && !isJSONMediaType(ct) {
		return newError(http.StatusUnsupportedMediaType, "send JSON with Content-Type: application/json")
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Response(), c.Request().Body, maxJSONBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return newError(http.StatusRequestEntityTooLarge, fmt.Sprintf("the JSON body exceeds %d bytes", maxJSONBody))
		}
		return newError(http.StatusBadRequest, "the request body broke off: "+err.Error())
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return newError(http.StatusBadRequest, "the request body is empty; send a JSON object")
		}
		return newError(http.StatusBadRequest, "malformed JSON: "+err.Error())
	}
	// dec.More() is false before a stray ']' or '}', so read the next
	// token: only the end of the body may follow the object.
	if _, err := dec.Token(); err != io.EOF {
		return newError(http.StatusBadRequest, "malformed JSON: unexpected data after the object")
	}
	return checkJSONText(body)
}

// checkJSONText refuses (400 text_invalid) a valid JSON body one of whose
// strings (a key or a value) holds a NUL. JSON can carry one only escaped,
// so a body without the escape is passed at once. (Bytes that are not
// UTF-8 need no check: the decoder turns them into U+FFFD.)
func checkJSONText(body []byte) error {
	if !bytes.Contains(body, []byte(`\u0000`)) {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	for {
		tok, err := dec.Token()
		if err != nil {
			return nil
		}
		if s, ok := tok.(string); ok && strings.ContainsRune(s, 0) {
			return domain.Coded(domain.ErrInvalid, domain.CodeTextInvalid, "the JSON holds a NUL character (\\u0000), which no text may store")
		}
	}
}

// ifMatchVersion reads If-Match (RFC 9110 §13.1.1) as the version number
// of what the client edits: 0 when there is none (or "*", any version),
// 400 when it names no version of what.
func ifMatchVersion(c echo.Context, what string) (int, error) {
	im := strings.Trim(strings.TrimPrefix(strings.TrimSpace(c.Request().Header.Get("If-Match")), "W/"), `"`)
	if im == "" || im == "*" {
		return 0, nil
	}
	v, err := strconv.Atoi(im)
	if err != nil || v < 1 {
		return 0, newError(http.StatusBadRequest, "If-Match must be "+what+"'s version number")
	}
	return v, nil
}

// bindOptionalJSON is bindJSON for endpoints whose body may be empty.
func bindOptionalJSON(c echo.Context, v any) error {
	if c.Request().ContentLength == 0 {
		return nil
	}
	return bindJSON(c, v)
}
