package server

import (
	"context"
	"crypto/subtle"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"siteinspect/domain"
	"siteinspect/storage"
)

// Cookie and header names the UI relies on.
const (
	sessionCookie = "siteinspect_session"
	csrfCookie    = "siteinspect_csrf"
	csrfHeader    = "X-CSRF-Token"
)

const ctxSession = "session"

// ctxFromCookie is set (true) when the session came from the session
// cookie rather than an Authorization header.
const ctxFromCookie = "from_cookie"

// sessionFinder is what authenticate needs from the records: the session a
// token names.
type sessionFinder interface {
	SessionByToken(ctx context.Context, token string) (*domain.Session, error)
}

// authenticate loads the session from a bearer token or the session
// cookie. Cookie-authenticated requests that change state must echo the
// session's CSRF token in X-CSRF-Token: a cross-site form can send the
// cookie (SameSite=Lax allows top-level POSTs in some browsers' history)
// but cannot read the token.
func authenticate(db sessionFinder) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if err := login(c, db); err != nil {
				return err
			}
			return next(c)
		}
	}
}

// bearerToken is the token of an Authorization: Bearer header; ok is false
// when there is no such header, and an error says a malformed one.
func bearerToken(c echo.Context) (token string, ok bool, err error) {
	h := c.Request().Header.Get(echo.HeaderAuthorization)
	if h == "" {
		return "", false, nil
	}
	scheme, t, found := strings.Cut(h, " ")
	if !found || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(t) == "" {
		return "", false, newError(http.StatusUnauthorized, "use Authorization: Bearer <token>")
	}
	return strings.TrimSpace(t), true, nil
}

// login puts the session named by the bearer token or the session cookie
// into c, checking the CSRF header on cookie requests that change state.
func login(c echo.Context, db sessionFinder) error {
	token, bearer, err := bearerToken(c)
	if err != nil {
		return err
	}
	fromCookie := false
	if !bearer {
		if ck, err := c.Cookie(sessionCookie); err == nil && ck.Value != "" {
			token, fromCookie = ck.Value, true
		}
	}
	if token == "" {
		return newError(http.StatusUnauthorized, "log in first")
	}
	s, err := db.SessionByToken(c.Request().Context(), token)
	if errors.Is(err, domain.ErrNotFound) {
		return newError(http.StatusUnauthorized, "the session has expired or was logged out; log in again")
	}
	if err != nil {
		return err
	}
	if fromCookie && !safeMethod(c.Request().Method) {
		got := c.Request().Header.Get(csrfHeader)
		if subtle.ConstantTimeCompare([]byte(got), []byte(s.CSRFToken)) != 1 {
			return newError(http.StatusForbidden, "missing or wrong "+csrfHeader+" header")
		}
	}
	c.Set(ctxSession, s)
	c.Set("token", token)
	c.Set(ctxFromCookie, fromCookie)
	return nil
}

// sameSiteOnly guards the GET routes that record an audit event in the
// caller's name or make something costly (a report, a bundle, an evidence
// download, an audit search or export): with the session cookie, a
// request the browser marks as coming from another site (Sec-Fetch-Site:
// cross-site, W3C Fetch Metadata Request Headers) is refused with 403
// cross_site_request before the handler runs, so nothing is recorded or
// made. SameSite=Lax sends the cookie on another site's top-level link,
// and the CSRF header only guards requests that change state; a link an
// applicant sends an officer would otherwise issue a report, or log a
// reading, as the officer. same-origin (the UI), same-site, none (the
// address bar, a bookmark) and no header at all (a client that is not a
// browser) pass, as does a bearer token, which no other site can attach.
func sameSiteOnly(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		cookie, _ := c.Get(ctxFromCookie).(bool)
		site := strings.TrimSpace(c.Request().Header.Get("Sec-Fetch-Site"))
		if cookie && strings.EqualFold(site, "cross-site") {
			return newCodedError(http.StatusForbidden, "cross_site_request",
				"a link or page on another site may not open this with your session; open it from siteinspect itself")
		}
		return next(c)
	}
}

// sessionNow reads the request's session afresh, for a stream that
// outlives the check authenticate made when it opened: ErrNotFound once
// the session was logged out, expired or its user disabled.
func sessionNow(c echo.Context, db sessionFinder) (*domain.Session, error) {
	token, _ := c.Get("token").(string)
	return db.SessionByToken(c.Request().Context(), token)
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// currentUser is the authenticated user; only called behind authenticate.
func currentUser(c echo.Context) *domain.User {
	return c.Get(ctxSession).(*domain.Session).User
}

type loginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

type loginResponse struct {
	Token     string       `json:"token"`
	CSRFToken string       `json:"csrf_token"`
	ExpiresAt time.Time    `json:"expires_at"`
	User      *domain.User `json:"user"`
}

// authStore is what the login and logout handlers need from the records.
type authStore interface {
	auditRecorder
	ReserveLogin(ctx context.Context, username, address string, lim domain.LoginLimits) (*storage.LoginAttempt, error)
	SettleLogin(ctx context.Context, a *storage.LoginAttempt, outcome domain.LoginOutcome) error
	Authenticate(ctx context.Context, username, password string) (*domain.User, error)
	CreateSession(ctx context.Context, userID string, ttl time.Duration) (string, *domain.Session, error)
	DeleteSession(ctx context.Context, token string) error
}

// handleLogin checks the password and starts a session: a bearer token in
// the body and the same token in an HttpOnly cookie for the UI. Each
// attempt is reserved in the database before its password is checked and
// settled after, so parallel guesses are counted as they arrive; the
// limits are per username and address, per address, and a back-off per
// username that only delays addresses which have failed for it
// (storage/loginlimit.go, docs/SECURITY.md).
func handleLogin(db authStore, ttl time.Duration, limit RateLimit, secure bool) echo.HandlerFunc {
	lim := loginLimits(limit)
	return func(c echo.Context) error {
		var req loginRequest
		if err := bindJSON(c, &req); err != nil {
			return err
		}
		if req.Username == "" || req.Password == "" {
			return newCodedError(http.StatusBadRequest, "credentials_required", "username and password are required")
		}
		ctx, ipKey := c.Request().Context(), c.RealIP()
		attempt, err := db.ReserveLogin(ctx, req.Username, ipKey, lim)
		var refused *domain.LoginRefusedError
		if errors.As(err, &refused) {
			return tooManyLogins(c, refused.RetryAfter)
		}
		if err != nil {
			return err
		}
		// Settle even when the client has gone: a success must clear its
		// counter and an aborted check must not count as a failure.
		settleCtx := context.WithoutCancel(ctx)
		u, err := db.Authenticate(ctx, req.Username, req.Password)
		if errors.Is(err, domain.ErrNotFound) {
			if err := db.SettleLogin(settleCtx, attempt, domain.LoginFailed); err != nil {
				return err
			}
			return newCodedError(http.StatusUnauthorized, "bad_credentials", "wrong username or password")
		}
		if err != nil {
			return errors.Join(err, db.SettleLogin(settleCtx, attempt, domain.LoginAborted))
		}
		if err := db.SettleLogin(settleCtx, attempt, domain.LoginSucceeded); err != nil {
			return err
		}
		token, s, err := db.CreateSession(ctx, u.ID, ttl)
		if err != nil {
			return err
		}
		if _, err := db.RecordAudit(ctx, storage.Audit{ActorID: u.ID, Action: "auth.login", Data: map[string]any{"ip": ipKey}}); err != nil {
			return err
		}
		// A local: assigning to secure would be a data race between logins
		// and would mark every later cookie Secure after one TLS request.
		sec := secure || c.IsTLS()
		c.SetCookie(&http.Cookie{Name: sessionCookie, Value: token, Path: "/", Expires: s.ExpiresAt, HttpOnly: true, Secure: sec, SameSite: http.SameSiteLaxMode})
		c.SetCookie(&http.Cookie{Name: csrfCookie, Value: s.CSRFToken, Path: "/", Expires: s.ExpiresAt, Secure: sec, SameSite: http.SameSiteLaxMode})
		return c.JSON(http.StatusOK, loginResponse{Token: token, CSRFToken: s.CSRFToken, ExpiresAt: s.ExpiresAt, User: u})
	}
}

// handleLogout revokes the session's token and clears the cookies.
func handleLogout(db authStore) echo.HandlerFunc {
	return func(c echo.Context) error {
		if err := db.DeleteSession(c.Request().Context(), c.Get("token").(string)); err != nil {
			return err
		}
		for _, name := range []string{sessionCookie, csrfCookie} {
			c.SetCookie(&http.Cookie{Name: name, Value: "", Path: "/", MaxAge: -1, HttpOnly: name == sessionCookie, SameSite: http.SameSiteLaxMode})
		}
		return c.NoContent(http.StatusNoContent)
	}
}

type meResponse struct {
	*domain.User
	CSRFToken string `json:"csrf_token"`
}

// handleMe returns the logged-in user.
func handleMe() echo.HandlerFunc {
	return func(c echo.Context) error {
		s := c.Get(ctxSession).(*domain.Session)
		return c.JSON(http.StatusOK, meResponse{User: s.User, CSRFToken: s.CSRFToken})
	}
}
