package server

import (
	"net/http"
	"net/http/httputil"
	"net/url"

	"github.com/labstack/echo/v4"

	"siteinspect/domain"
	"siteinspect/storage"
)

// forwardedHeader marks a request one replica forwarded to a session's
// owner; the owner serves it whatever its records say, so a request is
// never forwarded twice. It carries the forwarding replica's id.
const forwardedHeader = "X-Siteinspect-Forwarded"

// owned routes a request about session :lid to the replica running its
// media: served here when this replica owns it (or nobody does, or the
// request was forwarded already), reverse-proxied to the owner while its
// heartbeat holds. A publish (takeOver) for a session whose owner is dead
// or that has none makes this replica the owner, once the publish token
// has been checked; the other requests about such a session are served
// here and find no media (409 or 404) until a publisher has come back.
func (l *liveService) owned(takeOver bool) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			ctx := c.Request().Context()
			if c.Request().Header.Get(forwardedHeader) != "" {
				// A publish runs media here only if this replica owns the
				// session (the header proves nothing: a client may send
				// it); the owner changed since the forwarding replica
				// looked, or never was this one: the client tries again.
				if takeOver {
					ls, err := l.db.LiveSession(ctx, c.Param("lid"))
					if err == nil && ls.Status == domain.LiveOpen && ls.Owner != l.svc.Replica().ID {
						c.Response().Header().Set("Retry-After", "1")
						return newCodedError(http.StatusServiceUnavailable, "unavailable", "the live inspection is changing servers: try again")
					}
				}
				return next(c)
			}
			for range 3 {
				ls, err := l.db.LiveSession(ctx, c.Param("lid"))
				if err != nil || ls.Status != domain.LiveOpen || ls.Owner == l.svc.Replica().ID {
					return next(c) // the handler answers (404, 410, or the media here)
				}
				r, alive, _ := l.svc.Owner(ctx, ls)
				if alive {
					return l.forward(c, r)
				}
				if !takeOver {
					return next(c)
				}
				if _, err := l.publisher(c); err != nil {
					return err
				}
				ok, err := l.svc.TakeOver(ctx, ls)
				if err != nil {
					return err
				}
				if ok {
					return next(c)
				}
				// Another replica took it meanwhile: route to that one.
			}
			c.Response().Header().Set("Retry-After", "1")
			return newCodedError(http.StatusServiceUnavailable, "unavailable", "the live inspection is changing servers: try again")
		}
	}
}

// forward reverse-proxies the request, WebSocket upgrades included, to
// replica r as it came: the owner authenticates it again with the
// caller's own credentials. The Host header is kept, so the owner's
// same-origin checks see what this replica saw.
func (l *liveService) forward(c echo.Context, r storage.Replica) error {
	target, err := url.Parse(r.InternalURL)
	if err != nil || target.Host == "" {
		l.log.Error("live: bad internal URL of a replica", "replica", r.ID, "url", r.InternalURL)
		return newCodedError(http.StatusServiceUnavailable, "unavailable", "the server running this live inspection cannot be reached")
	}
	from := l.svc.Replica().ID
	proxy := &httputil.ReverseProxy{
		Director: func(req *http.Request) {
			req.URL.Scheme, req.URL.Host = target.Scheme, target.Host
			req.Header.Set(forwardedHeader, from)
		},
		FlushInterval: -1,
		ErrorHandler: func(w http.ResponseWriter, req *http.Request, err error) {
			l.log.Warn("live: forward to the owner failed", "replica", r.ID, "url", r.InternalURL, "err", err)
			w.Header().Set("Retry-After", "1")
			w.Header().Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write(encode(apiErrorBody("unavailable", "the server running this live inspection cannot be reached: try again")))
		},
	}
	// The owner's answer carries every header (CORS, security): the ones
	// this replica's middleware set already would be doubled.
	h := c.Response().Header()
	for k := range h {
		delete(h, k)
	}
	proxy.ServeHTTP(c.Response(), c.Request())
	return nil
}

func apiErrorBody(code, message string) map[string]any {
	return map[string]any{"error": map[string]string{"code": code, "message": message}}
}
