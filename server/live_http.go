package server

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"siteinspect/domain"
	"siteinspect/signaling"
	"siteinspect/storage"
)

// liveOfficer reports whether u may watch, snapshot and end a case's live
// inspection (the policy's ActionJoinLive).
func liveOfficer(u *domain.User, cs *domain.Case) bool {
	return cs.Authorize(u, domain.ActionJoinLive) == nil
}

// loadLive loads the session named by :lid and its case.
func (l *liveService) loadLive(c echo.Context) (*domain.LiveSession, *domain.Case, error) {
	ctx := c.Request().Context()
	ls, err := l.db.LiveSession(ctx, c.Param("lid"))
	if err != nil {
		return nil, nil, err
	}
	cs, err := l.db.Case(ctx, ls.CaseID)
	if err != nil {
		return nil, nil, err
	}
	return ls, cs, nil
}

// loadLiveFor loads the session for the logged-in user, who must see its
// case (404 otherwise, as for cases) and be granted action by the policy.
func (l *liveService) loadLiveFor(c echo.Context, action domain.Action) (*domain.LiveSession, *domain.Case, error) {
	ls, cs, err := l.loadLive(c)
	if err != nil {
		return nil, nil, err
	}
	u := currentUser(c)
	if !cs.VisibleTo(u) {
		return nil, nil, newError(http.StatusNotFound, "no such live session")
	}
	if err := cs.Authorize(u, action); err != nil {
		return nil, nil, err
	}
	return ls, cs, nil
}

// publisher checks the WHIP bearer token against the session's publish token.
func (l *liveService) publisher(c echo.Context) (*domain.LiveSession, error) {
	ls, err := l.db.LiveSession(c.Request().Context(), c.Param("lid"))
	if err != nil {
		return nil, err
	}
	token, _, err := bearerToken(c)
	if err == nil {
		err = l.db.CheckPublishToken(ls, token)
	}
	if err != nil {
		var he *httpError
		if errors.Is(err, domain.ErrBadToken) || errors.As(err, &he) && he.status == http.StatusUnauthorized {
			c.Response().Header().Set("WWW-Authenticate", `Bearer realm="siteinspect", error="invalid_token"`)
			return nil, newCodedError(http.StatusUnauthorized, "live_token_invalid", "wrong or expired publish token: ask the inspector for a new join link")
		}
		return nil, err
	}
	return ls, nil
}

func (l *liveService) handleCreate(c echo.Context) error {
	cs, err := loadCaseFor(c, l.db, "id", domain.ActionStartLive)
	if err != nil {
		return err
	}
	var in struct {
		ScheduledAt *time.Time `json:"scheduled_at"`
	}
	if err := bindOptionalJSON(c, &in); err != nil {
		return err
	}
	ls, token, err := l.db.CreateLiveSession(c.Request().Context(), cs, currentUser(c), in.ScheduledAt, l.ttl)
	if err != nil {
		return err
	}
	out := l.show(ls)
	out.Token = token
	out.JoinURL = domain.LiveJoinPath(ls.ID, token)
	out.ICEServers = l.iceServers()
	c.Response().Header().Set(echo.HeaderLocation, "/api/v1/live/"+ls.ID)
	return c.JSON(http.StatusCreated, out)
}

// handleReissueLink gives the applicant a fresh join link for an open
// session: the inspector lost the one shown at creation, or it went to the
// wrong person. The old link is revoked, and the stream it is publishing,
// if any, stops.
func (l *liveService) handleReissueLink(c echo.Context) error {
	ls, cs, err := l.loadLiveFor(c, domain.ActionStartLive)
	if err != nil {
		return err
	}
	if ls.Status != domain.LiveOpen {
		return newCodedError(http.StatusUnprocessableEntity, "live_ended", "this live inspection has already ended")
	}
	ls, token, err := l.db.ReissueLiveToken(c.Request().Context(), cs, ls, currentUser(c), l.ttl)
	if err != nil {
		return err
	}
	// The old link's stream stops with it: its holder (the wrong person)
	// publishes no more into the recording, and the right one publishes
	// again with the new link (TestLiveLinkReissueStopsPublisher). The
	// route runs on the replica that owns the session's media.
	for _, rid := range l.svc.TakeWhips(ls.ID) {
		if err := l.mgr.Unpublish(ls.ID, rid); err != nil && !errors.Is(err, signaling.ErrNoPublisher) && !errors.Is(err, signaling.ErrNoSession) {
			l.log.Warn("stop the old link's publisher", "session", ls.ID, "err", err)
		}
	}
	if r := l.svc.Room(ls.ID, false); r != nil {
		r.Send(encode(l.svc.StateMessage(ls)))
	}
	out := l.show(ls)
	out.Token = token
	out.JoinURL = domain.LiveJoinPath(ls.ID, token)
	return c.JSON(http.StatusOK, out)
}

func (l *liveService) handleList(c echo.Context) error {
	cs, err := loadCaseFor(c, l.db, "id", domain.ActionReadNotes)
	if err != nil {
		return err
	}
	list, err := l.db.ListLiveSessions(c.Request().Context(), cs.ID)
	if err != nil {
		return err
	}
	out := make([]liveJSON, len(list))
	for i, ls := range list {
		out[i] = l.show(ls)
	}
	return c.JSON(http.StatusOK, map[string]any{"sessions": out})
}

// handleGet answers the phone (publish token) and the case's users.
func (l *liveService) handleGet(c echo.Context) error {
	ls, cs, err := l.loadLive(c)
	if err != nil {
		return err
	}
	// The phone may ask after the end too (to learn that it ended).
	if token, ok, _ := bearerToken(c); !ok || l.db.CheckUploadToken(ls, token, uploadGrace) != nil {
		if err := login(c, l.db); err != nil {
			return err
		}
		if !cs.VisibleTo(currentUser(c)) {
			return newError(http.StatusNotFound, "no such live session")
		}
	}
	out := l.show(ls)
	out.ICEServers = l.iceServers()
	return c.JSON(http.StatusOK, out)
}

func (l *liveService) handleEnd(c echo.Context) error {
	ls, _, err := l.loadLiveFor(c, domain.ActionJoinLive)
	if err != nil {
		return err
	}
	if ls.Status != domain.LiveOpen {
		return newCodedError(http.StatusUnprocessableEntity, "live_ended", "this live inspection has already ended")
	}
	// The recording is stored even if the client goes away meanwhile.
	ctx := context.WithoutCancel(c.Request().Context())
	out, ev, err := l.svc.End(ctx, ls, currentUser(c).ID, "ended")
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"session": l.show(out), "evidence": ev})
}

func (l *liveService) handleSnapshot(c echo.Context) error {
	ls, _, err := l.loadLiveFor(c, domain.ActionJoinLive)
	if err != nil {
		return err
	}
	if ls.Status != domain.LiveOpen {
		return newCodedError(http.StatusGone, "live_ended", "this live inspection has ended")
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), 20*time.Second)
	defer cancel()
	ev, err := l.svc.Snapshot(ctx, ls, currentUser(c))
	if err != nil {
		return signalingError(err, http.StatusConflict)
	}
	return c.JSON(http.StatusCreated, ev)
}

// handleWHIP answers a WHIP offer (RFC 9725 §4.2).
func (l *liveService) handleWHIP(c echo.Context) error {
	ls, err := l.publisher(c)
	if err != nil {
		return err
	}
	if err := l.admitOffer(c, l.offers, ls.ID); err != nil {
		return err
	}
	offer, err := readSDP(c, "application/sdp")
	if err != nil {
		return err
	}
	// A refused offer (no media section, no codec we take) is answered
	// before anything is made or noted for it.
	if err := signaling.CheckOffer(offer); err != nil {
		return signalingError(err, http.StatusNotFound)
	}
	before, serr := l.mgr.Status(ls.ID)
	reconnect := serr == nil && before.Publishing
	if serr != nil {
		// The first publish here: what other replicas stored comes first.
		l.svc.NoteStored(c.Request().Context(), ls)
	}
	answer, rid, err := l.mgr.Publish(c.Request().Context(), ls.ID, offer)
	if err != nil {
		return signalingError(err, http.StatusNotFound)
	}
	st, _ := l.mgr.Status(ls.ID)
	if err := l.db.MarkLivePublishing(c.Request().Context(), ls, st.VideoCodec, reconnect); err != nil {
		l.log.Error("record live publish", "session", ls.ID, "err", err)
	}
	l.svc.AddWhip(rid, ls.ID)
	if r := l.svc.Room(ls.ID, false); r != nil {
		r.Send(encode(l.svc.StateMessage(ls)))
	}
	return l.sdpAnswer(c, "/api/v1/live/"+ls.ID+"/whip/"+rid, answer)
}

func (l *liveService) sdpAnswer(c echo.Context, location, answer string) error {
	h := c.Response().Header()
	h.Set(echo.HeaderLocation, location)
	h.Set("ETag", `"`+location[len(location)-8:]+`"`)
	h.Set("Cache-Control", "no-store")
	l.setLinks(h)
	return c.Blob(http.StatusCreated, "application/sdp", []byte(answer))
}

func (l *liveService) handleWHIPPatch(c echo.Context) error {
	ls, err := l.publisher(c)
	if err != nil {
		return err
	}
	frag, err := readSDP(c, "application/trickle-ice-sdpfrag")
	if err != nil {
		return err
	}
	if err := l.mgr.Trickle(ls.ID, c.Param("rid"), frag); err != nil {
		return signalingError(err, http.StatusNotFound)
	}
	return c.NoContent(http.StatusNoContent)
}

func (l *liveService) handleWHIPDelete(c echo.Context) error {
	ls, err := l.publisher(c)
	if err != nil {
		return err
	}
	rid := c.Param("rid")
	issued := l.svc.TakeWhip(rid, ls.ID)
	if err := l.mgr.Unpublish(ls.ID, rid); err != nil {
		// A client that closes its connection before the DELETE (as
		// whip-whep does) finds the resource already gone: that is done.
		if !issued || !errors.Is(err, signaling.ErrNoPublisher) && !errors.Is(err, signaling.ErrNoSession) {
			return signalingError(err, http.StatusNotFound)
		}
	}
	if r := l.svc.Room(ls.ID, false); r != nil {
		r.Send(encode(l.svc.StateMessage(ls)))
	}
	return c.NoContent(http.StatusOK)
}

// handleWHIPOptions answers CORS preflights and advertises the ICE servers.
func (l *liveService) handleWHIPOptions(c echo.Context) error {
	l.setLinks(c.Response().Header())
	return c.NoContent(http.StatusNoContent)
}

// whipCORS lets WHIP clients on other origins publish: the endpoints take a
// bearer token, never cookies, so no credentials are shared.
func whipCORS(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("Access-Control-Allow-Origin", "*")
		h.Set("Access-Control-Allow-Methods", "POST, PATCH, DELETE, OPTIONS")
		h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, If-Match")
		h.Set("Access-Control-Expose-Headers", "Location, Link, ETag")
		return next(c)
	}
}

// handleWHEP answers a WHEP offer from an officer of the case.
func (l *liveService) handleWHEP(c echo.Context) error {
	ls, _, err := l.loadLiveFor(c, domain.ActionJoinLive)
	if err != nil {
		return err
	}
	if ls.Status != domain.LiveOpen {
		return newCodedError(http.StatusGone, "live_ended", "this live inspection has ended")
	}
	if err := l.admitOffer(c, l.viewerOffers, ls.ID+"/"+currentUser(c).ID); err != nil {
		return err
	}
	offer, err := readSDP(c, "application/sdp")
	if err != nil {
		return err
	}
	answer, rid, err := l.mgr.View(c.Request().Context(), ls.ID, offer)
	if err != nil {
		if errors.Is(err, signaling.ErrViewersFull) {
			c.Response().Header().Set("Retry-After", "5") // until a viewer leaves; the page tries again
		}
		return signalingError(err, http.StatusConflict)
	}
	u := currentUser(c)
	l.svc.AddViewer(rid, ls.ID, u.ID)
	token, _ := c.Get("token").(string)
	go l.watchViewer(token, ls, u.ID, rid)
	if _, err := l.db.RecordAudit(c.Request().Context(), storage.Audit{CaseID: ls.CaseID, ActorID: u.ID, Action: "live.watched", Target: ls.ID}); err != nil {
		l.log.Error("record live watch", "session", ls.ID, "err", err)
	}
	return l.sdpAnswer(c, "/api/v1/live/"+ls.ID+"/whep/"+rid, answer)
}

// viewerRecheck is how often a WHEP viewer's login and relation to the
// case are read again.
const viewerRecheck = 15 * time.Second

// watchViewer stops viewer rid of session ls once what let the officer
// watch is gone: their login session (logged out, expired, the account
// disabled) or the policy's join_live on the case as it is now (an admin
// replaced them). The media flows without any request, so it is weighed
// again every viewerRecheck, as the case's event stream is at its
// heartbeat (TestLiveViewerEndsWithSession). A failed read keeps the
// viewer; it returns once the viewer is gone or the service closes.
func (l *liveService) watchViewer(token string, ls *domain.LiveSession, userID, rid string) {
	t := time.NewTicker(viewerRecheck)
	defer t.Stop()
	for {
		select {
		case <-l.svc.Stopping():
			return
		case <-t.C:
		}
		if !l.svc.IsViewer(rid, ls.ID, userID) {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		keep := l.mayWatch(ctx, token, ls.CaseID)
		cancel()
		if keep {
			continue
		}
		l.svc.StopTalking(ls.ID, userID)
		l.svc.RemoveViewer(rid)
		if err := l.mgr.StopViewing(ls.ID, rid); err != nil && !errors.Is(err, signaling.ErrNoViewer) && !errors.Is(err, signaling.ErrNoSession) {
			l.log.Warn("stop a viewer whose access ended", "session", ls.ID, "err", err)
		}
		if r := l.svc.Room(ls.ID, false); r != nil {
			r.Send(encode(l.svc.StateMessage(ls)))
		}
		return
	}
}

// mayWatch reports whether the login session token still lets its user
// watch the case's live inspection; false only on a definite no.
func (l *liveService) mayWatch(ctx context.Context, token, caseID string) bool {
	s, err := l.db.SessionByToken(ctx, token)
	if err != nil {
		return !errors.Is(err, domain.ErrNotFound)
	}
	cs, err := l.db.Case(ctx, caseID)
	if err != nil {
		return !errors.Is(err, domain.ErrNotFound)
	}
	return liveOfficer(s.User, cs)
}

// ownViewer checks that the WHEP resource :rid belongs to the caller.
func (l *liveService) ownViewer(c echo.Context, sessionID, rid string) error {
	if !l.svc.IsViewer(rid, sessionID, currentUser(c).ID) {
		return newError(http.StatusNotFound, "no such viewer resource")
	}
	return nil
}

func (l *liveService) handleWHEPPatch(c echo.Context) error {
	ls, _, err := l.loadLiveFor(c, domain.ActionJoinLive)
	if err != nil {
		return err
	}
	if err := l.ownViewer(c, ls.ID, c.Param("rid")); err != nil {
		return err
	}
	frag, err := readSDP(c, "application/trickle-ice-sdpfrag")
	if err != nil {
		return err
	}
	if err := l.mgr.TrickleViewer(ls.ID, c.Param("rid"), frag); err != nil {
		return signalingError(err, http.StatusNotFound)
	}
	return c.NoContent(http.StatusNoContent)
}

func (l *liveService) handleWHEPDelete(c echo.Context) error {
	ls, _, err := l.loadLiveFor(c, domain.ActionJoinLive)
	if err != nil {
		return err
	}
	rid := c.Param("rid")
	if err := l.ownViewer(c, ls.ID, rid); err != nil {
		return err
	}
	l.svc.RemoveViewer(rid)
	if err := l.mgr.StopViewing(ls.ID, rid); err != nil && !errors.Is(err, domain.ErrNotFound) {
		return signalingError(err, http.StatusNotFound)
	}
	return c.NoContent(http.StatusOK)
}

// uploadGrace is how long after a session ended the phone may still upload
// its own recording with the session's token.
const uploadGrace = 7 * 24 * time.Hour

// phoneUploads lets the phone upload its own recording of the session with
// the publish token, as the case's applicant and into this case only: what
// a broken-up call did not carry still reaches the case (PRODUCT.md, the
// live-to-offline fallback). It works while the session is open and for
// uploadGrace after it ended, while the case takes live material (the
// policy's ActionAddLiveEvidence: not once it is decided).
func (l *liveService) phoneUploads(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if c.Request().Method == http.MethodOptions {
			return next(c)
		}
		ctx := c.Request().Context()
		ls, cs, err := l.loadLive(c)
		if err != nil {
			return err
		}
		token, _, err := bearerToken(c)
		if err == nil {
			err = l.db.CheckUploadToken(ls, token, uploadGrace)
		}
		if err != nil {
			c.Response().Header().Set("WWW-Authenticate", `Bearer realm="siteinspect", error="invalid_token"`)
			return newCodedError(http.StatusUnauthorized, "live_token_invalid", "wrong or expired publish token")
		}
		if c.Request().Method == http.MethodPost && c.Param("uid") == "" {
			// A new upload: refused at once (and on the record) when the
			// case no longer takes live material; the completion checks again.
			if err := cs.AuthorizePublisher(domain.ActionAddLiveEvidence); err != nil {
				l.db.RecordAudit(context.WithoutCancel(ctx), storage.Audit{CaseID: cs.ID, Action: "evidence.refused", Target: ls.ID,
					Data: map[string]any{"live_session": ls.ID, "case_status": string(cs.Status), "rule": string(domain.ActionAddLiveEvidence)}})
				return err
			}
			// Shot marks of a continuous take are checked before its bytes come.
			if meta, err := parseMetadata(c.Request().Header.Get("Upload-Metadata")); err == nil && meta[domain.MetaShots] != "" {
				pt, err := l.db.CasePermitType(ctx, cs)
				if err != nil {
					return err
				}
				if _, err := domain.ParseShotMarks(meta[domain.MetaShots], pt.Checklist); err != nil {
					return err
				}
			}
		}
		applicant, err := l.db.UserByID(ctx, cs.Applicant.ID)
		if err != nil {
			return err
		}
		if uid := c.Param("uid"); uid != "" {
			up, err := l.ups.Upload(ctx, uid)
			if err != nil {
				return err
			}
			if up.CaseID != cs.ID || up.UserID != applicant.ID {
				return newError(http.StatusNotFound, "no such upload")
			}
		}
		c.Set(ctxSession, &domain.Session{User: applicant})
		c.Set("live", ls)
		c.Set("case", cs)
		return next(c)
	}
}

func (l *liveService) handlePhoneUpload(c echo.Context) error {
	ls, cs := c.Get("live").(*domain.LiveSession), c.Get("case").(*domain.Case)
	return createUpload(c, l.ups, l.metrics, l.notify, cs, currentUser(c), "/api/v1/live/"+ls.ID+"/uploads/")
}
