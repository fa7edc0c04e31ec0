package server

import (
	"cmp"
	"context"
	"io/fs"
	"net/http"
	"siteinspect/domain"
	"siteinspect/storage"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
)

// routes is the whole API surface in one table.
func (s *Server) routes(cfg Config) error {
	e, db, ups, m := s.echo, cfg.DB, cfg.Uploads, s.metrics
	notify := cfg.Notify
	if notify == nil {
		notify = func() {}
	}
	off := &office{code: cfg.Office, name: cmp.Or(cfg.OfficeName, cfg.Office), loc: cfg.Location,
		retentionDays: cmp.Or(cfg.RetentionDays, int(storage.DefaultRetention/(24*time.Hour))), db: db, log: cfg.Logger}
	zone := zoneFunc(off.zone)
	e.Pre(tusMethodOverride)
	e.Use(m.middleware)
	e.Use(securityHeaders)
	e.Use(refuseBadText)

	e.GET("/healthz", handleHealth(cfg.DB, cfg.Objects))
	s.ready = newReadiness(cfg.DB, cfg.Objects)
	e.GET("/readyz", handleReady(s.ready))
	e.GET("/metrics", m.handler())
	e.GET("/api/v1/openapi.yaml", handleOpenAPI())
	e.GET("/api/v1/config", handleConfig(cfg, off))
	e.GET("/verify/:code", handleVerify(db, newAddressLimiter(verifyRate, verifyBurst)))

	api := e.Group("/api/v1")
	api.POST("/auth/login", handleLogin(db, cfg.SessionTTL, cfg.LoginLimit, cfg.SecureCookies))
	// OPTIONS advertises tus capabilities and carries no case data.
	api.OPTIONS("/cases/:id/uploads", handleTusOptions(ups), tusRequest)
	api.OPTIONS("/uploads/:uid", handleTusOptions(ups), tusRequest)

	authed := api.Group("", authenticate(db))
	authed.RouteNotFound("/*", routeNotFound(e))
	// auditedGET is a GET that records an audit event in the caller's name
	// or makes something costly (a report, a bundle): sameSiteOnly refuses
	// it to a cookie session when another site's link or page asked for it.
	auditedGET := func(path string, h echo.HandlerFunc) { authed.GET(path, h, sameSiteOnly) }
	authed.POST("/auth/logout", handleLogout(db))
	authed.GET("/me", handleMe())
	authed.GET("/me/contact", handleGetContact(db))
	authed.PUT("/me/contact", handleSetContact(db))
	authed.GET("/notifications", handleListNotifications(db, cfg.NotificationWords))
	authed.POST("/notifications/read", handleReadNotifications(db))
	streams := newStreamSlots(maxStreamsPerUser)
	authed.GET("/notifications/events", handleNotificationEvents(db, s.ready.streams.Done()), streams.limit)
	authed.GET("/permit-types", handleListPermitTypes(db))
	authed.GET("/stats", handleStats(db, cfg.Office, zone))
	authed.GET("/admin/permit-types", handleAdminCatalogue(db))
	authed.POST("/admin/permit-types", handleCreatePermitType(db))
	authed.POST("/admin/permit-types/:code/versions", handlePublishPermitType(db))
	authed.POST("/admin/permit-types/:code/retire", handleRetirePermitType(db, true))
	authed.POST("/admin/permit-types/:code/reactivate", handleRetirePermitType(db, false))
	// API.md's address of the same publish (If-Match may carry the base).
	authed.PUT("/permit-types/:code", handlePublishPermitType(db))
	authed.GET("/units", handleListUnits(db, cfg.Office))
	authed.GET("/admin/users", handleListUsers(db, cfg.Office))
	authed.POST("/admin/users", handleCreateUser(db, cfg.Office))
	authed.PATCH("/admin/users/:uid", handleUpdateUser(db, cfg.Office))
	authed.POST("/admin/users/:uid/password", handleResetPassword(db, cfg.Office))
	// API.md's addresses of the same account routes.
	authed.GET("/users", handleListUsers(db, cfg.Office))
	authed.POST("/users", handleCreateUser(db, cfg.Office))
	authed.PATCH("/users/:uid", handleUpdateUser(db, cfg.Office))
	authed.POST("/admin/units", handleCreateUnit(db, cfg.Office))
	authed.PATCH("/admin/units/:unit", handleRenameUnit(db, cfg.Office))
	authed.GET("/admin/settings", handleGetSettings(db, off))
	authed.PUT("/admin/settings", handleSaveSettings(db, off))
	auditedGET("/audit", handleOfficeAudit(db, cfg.Office, zone))
	auditedGET("/audit.csv", handleOfficeAuditCSV(db, cfg.Office, zone))

	authed.POST("/cases", handleCreateCase(db, cfg.Office, cfg.NumberPrefix, zone))
	authed.GET("/cases", handleListCases(db, zone))
	authed.GET("/cases/:id", handleGetCase(db))
	authed.POST("/cases/:id/submit", handleSubmitCase(db, zone))
	authed.POST("/cases/:id/withdraw", handleWithdrawCase(db))
	authed.POST("/cases/:id/assign", handleAssignCase(db))
	authed.POST("/cases/:id/release", handleReleaseReview(db))
	authed.POST("/cases/:id/route", handleRouteCase(db))
	if cfg.Retention != nil {
		authed.POST("/cases/:id/legal-hold", handleLegalHold(db, cfg.Retention, true))
		authed.DELETE("/cases/:id/legal-hold", handleLegalHold(db, cfg.Retention, false))
		authed.GET("/cases/:id/retention", handleRetention(db, cfg.Retention))
	}

	authed.POST("/cases/:id/uploads", handleCreateUpload(db, ups, m, notify), tusRequest)
	authed.HEAD("/uploads/:uid", handleHeadUpload(ups), tusRequest)
	authed.PATCH("/uploads/:uid", handlePatchUpload(ups, m, notify), tusRequest)
	authed.DELETE("/uploads/:uid", handleTerminateUpload(ups), tusRequest)
	authed.GET("/uploads/:uid", handleGetUpload(ups))

	authed.GET("/cases/:id/evidence", handleListEvidence(db, cfg.LocationWarnMeters))
	authed.PATCH("/cases/:id/evidence/:eid", handleSetEvidenceSlot(db))
	authed.DELETE("/cases/:id/evidence/:eid", handleRemoveEvidence(db))
	authed.GET("/evidence/:eid", handleGetEvidence(db, cfg.LocationWarnMeters))
	dl := newDownloads(cfg.Objects, cfg.DirectDownloadTTL, cfg.Logger)
	auditedGET("/evidence/:eid/content", handleEvidenceContent(db, dl))
	auditedGET("/evidence/:eid/playback", handlePlayback(db, dl))
	authed.GET("/evidence/:eid/poster", handleDerived(db, dl, "poster", domain.DerivedPoster, "image/jpeg",
		func(d *domain.Derived) bool { return d.Poster }))
	authed.GET("/evidence/:eid/thumbnails", handleDerived(db, dl, "filmstrip", domain.DerivedFilmstrip, "image/jpeg",
		func(d *domain.Derived) bool { return d.Filmstrip != nil }))
	authed.GET("/evidence/:eid/thumbnail", handleDerived(db, dl, "thumbnail", domain.DerivedThumbnail, "image/jpeg",
		func(d *domain.Derived) bool { return d.Thumbnail }))
	authed.GET("/evidence/:eid/text", handleDerived(db, dl, "text", domain.DerivedText, "application/json",
		func(d *domain.Derived) bool { return d.Text }))
	auditedGET("/evidence/:eid/pages/:n", handlePage(db, dl))

	authed.POST("/evidence/:eid/annotations", handleCreateAnnotation(db))
	authed.GET("/evidence/:eid/annotations", handleListEvidenceAnnotations(db))
	authed.GET("/cases/:id/annotations", handleListCaseAnnotations(db))
	authed.PATCH("/annotations/:aid", handleUpdateAnnotation(db))
	authed.DELETE("/annotations/:aid", handleDeleteAnnotation(db))
	authed.GET("/annotations/:aid/versions", handleAnnotationVersions(db))
	authed.POST("/annotations/:aid/replies", handleReply(db))
	authed.POST("/annotations/:aid/resolve", handleResolveAnnotation(db, true))
	authed.POST("/annotations/:aid/reopen", handleResolveAnnotation(db, false))

	authed.POST("/cases/:id/findings", handleSetFinding(db))
	authed.GET("/cases/:id/findings", handleListFindings(db))
	authed.POST("/cases/:id/decision", handleDecide(db, zone))
	authed.POST("/cases/:id/countersign", handleCountersign(db))
	authed.GET("/cases/:id/decisions", handleListDecisions(db))
	authed.GET("/cases/:id/review-summary", handleReviewSummary(db))
	authed.GET("/cases/:id/owed", handleListOwed(db))
	authed.POST("/cases/:id/owed/:oid/fulfill", handleFulfillOwed(db))
	authed.POST("/cases/:id/owed/:oid/return", handleReturnOwed(db))
	authed.POST("/cases/:id/commitment", handleSignCommitment(db, zone))
	authed.GET("/cases/:id/commitment", handleGetCommitment(db))
	authed.GET("/owed", handleOfficeOwed(db))
	authed.POST("/cases/:id/rating", handleRateCase(db, zone, cfg.FollowUpDays))
	authed.GET("/cases/:id/rating", handleGetRating(db))
	authed.POST("/cases/:id/urgent", handleSetUrgent(db))
	authed.DELETE("/cases/:id/urgent", handleClearUrgent(db))
	authed.GET("/followups", handleFollowUps(db, cfg.Office))
	authed.POST("/followups/:fid/close", handleCloseFollowUp(db))
	authed.GET("/me/ratings", handleMyRatings(db, cfg.Office))
	authed.GET("/cases/:id/audit", handleCaseAudit(db))
	authed.GET("/cases/:id/coverage", handleCaseCoverage(db, cfg.LocationWarnMeters))
	authed.GET("/cases/:id/events", handleCaseEvents(db, s.ready.streams.Done()), streams.limit)
	auditedGET("/cases/:id/report.pdf", handleReport(db, cfg.Reports, false, cfg.PublicURL))
	auditedGET("/cases/:id/report.json", handleReport(db, cfg.Reports, true, cfg.PublicURL))
	auditedGET("/cases/:id/bundle.zip", handleBundle(db, cfg.Objects, cfg.Reports, cfg.PublicURL))

	if cfg.Live != nil {
		l := newLiveService(cfg, m, notify)
		s.live = l
		authed.POST("/cases/:id/live", l.handleCreate)
		authed.GET("/cases/:id/live", l.handleList)
		// The phone holds a publish token, not a login: these check either.
		// owner: a session's media runs on one replica; the others
		// forward these requests to it (a publish may take it over).
		owner := l.owned(false)
		api.GET("/live/:lid", l.handleGet, owner)
		api.GET("/live/:lid/ws", l.handleRoom, owner)
		authed.POST("/live/:lid/end", l.handleEnd, owner)
		authed.POST("/live/:lid/link", l.handleReissueLink, owner)
		authed.POST("/live/:lid/snapshots", l.handleSnapshot, owner)
		whip := api.Group("/live/:lid/whip", whipCORS)
		whip.RouteNotFound("/*", routeNotFound(e))
		whip.OPTIONS("", l.handleWHIPOptions)
		whip.POST("", l.handleWHIP, l.owned(true))
		whip.OPTIONS("/:rid", l.handleWHIPOptions)
		whip.PATCH("/:rid", l.handleWHIPPatch, owner)
		whip.DELETE("/:rid", l.handleWHIPDelete, owner)
		authed.POST("/live/:lid/whep", l.handleWHEP, owner)
		authed.PATCH("/live/:lid/whep/:rid", l.handleWHEPPatch, owner)
		authed.DELETE("/live/:lid/whep/:rid", l.handleWHEPDelete, owner)
		// The phone's own recording, by tus with the publish token.
		phone := api.Group("/live/:lid/uploads", tusRequest, l.phoneUploads)
		phone.RouteNotFound("/*", routeNotFound(e))
		phone.OPTIONS("", handleTusOptions(ups))
		phone.POST("", l.handlePhoneUpload)
		phone.HEAD("/:uid", handleHeadUpload(ups))
		phone.PATCH("/:uid", handlePatchUpload(ups, m, notify))
		phone.DELETE("/:uid", handleTerminateUpload(ups))
	}

	if cfg.Web != nil {
		static, err := newStaticSite(cfg.Web)
		if err != nil {
			return err
		}
		ui := echo.WrapHandler(static)
		e.GET("/*", func(c echo.Context) error {
			// An address under /api/ that is no route (another version, a
			// typo) is the API's: its 404 is JSON, not the UI's text.
			if p := c.Request().URL.Path; p == "/api" || strings.HasPrefix(p, "/api/") {
				return echo.ErrNotFound
			}
			return ui(c)
		})
		if _, err := fs.Stat(cfg.Web, "index.html"); err != nil {
			return err
		}
	}
	return nil
}

// routeNotFound answers a request that no route takes: 405
// method_not_allowed, with Allow, when routes of other methods take its
// path, else 404. Echo gives a group with middleware a catch-all of its
// own, which would answer 404 to both.
func routeNotFound(e *echo.Echo) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		var allow []string
		for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
			if m == req.Method {
				continue
			}
			probe := e.NewContext(req, nil)
			e.Router().Find(m, echo.GetPath(req), probe)
			if p := probe.Path(); p != "" && !strings.HasSuffix(p, "/*") {
				allow = append(allow, m)
			}
		}
		if len(allow) == 0 {
			return echo.ErrNotFound
		}
		c.Response().Header().Set("Allow", strings.Join(allow, ", "))
		return echo.ErrMethodNotAllowed
	}
}

// refuseBadText answers 400 text_invalid to a request whose path or query
// holds a NUL character or bytes that are not UTF-8: no id, filter or
// search text may, and PostgreSQL would refuse them with an error that is
// not the client's to read (bindJSON does the same for JSON bodies).
func refuseBadText(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		// c.QueryParams parses the query once for the handlers too.
		ok := domain.ValidText(c.Request().URL.Path)
		for k, vs := range c.QueryParams() {
			ok = ok && domain.ValidText(k)
			for _, v := range vs {
				ok = ok && domain.ValidText(v)
			}
		}
		if !ok {
			return domain.Coded(domain.ErrInvalid, domain.CodeTextInvalid, "the address or its query holds a NUL character or bytes that are not UTF-8")
		}
		return next(c)
	}
}

// securityHeaders keeps our pages out of frames, stops browsers from
// guessing types and limits what a page may load and run to our own origin
// (contentSecurityPolicy). A handler may replace the policy with a stricter
// one (an inline PDF gets "sandbox").
func securityHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		return next(c)
	}
}

// pinger is anything that can tell whether it is reachable.
type pinger interface{ Ping(context.Context) error }

// handleHealth answers 200 when the database and the object store answer.
func handleHealth(db, objects pinger) echo.HandlerFunc {
	return func(c echo.Context) error {
		if err := db.Ping(c.Request().Context()); err != nil {
			return newError(http.StatusServiceUnavailable, "database unreachable")
		}
		if err := objects.Ping(c.Request().Context()); err != nil {
			return newError(http.StatusServiceUnavailable, "object store unreachable")
		}
		// A MinIO bucket made without object locking keeps originals
		// unlocked: healthy, but not WORM (docs/SECURITY.md).
		if l, ok := objects.(interface{ Locking() bool }); ok && !l.Locking() {
			return c.JSON(http.StatusOK, map[string]any{"status": "ok",
				"warnings": []string{"object_store_not_locked: the bucket has no object locking, so originals are not WORM; see docs/SECURITY.md"}})
		}
		return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
	}
}
