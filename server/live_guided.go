package server

import (
	"context"
	"net/http"
	"time"

	"siteinspect/domain"
	"siteinspect/signaling"
	"siteinspect/storage"
)

// guidedHello adds to the room's hello what guided filming and the track
// need: the case's checklist (the shot list, in order), the site's
// coordinates, the track so far and how it stands to the site.
func (l *liveService) guidedHello(ctx context.Context, ls *domain.LiveSession, cs *domain.Case, hello map[string]any) {
	checklist := []domain.ChecklistItem{}
	if pt, err := l.db.CasePermitType(ctx, cs); err == nil {
		checklist = pt.Checklist
	} else {
		l.log.Error("live room: permit type", "session", ls.ID, "err", err)
	}
	track, err := l.db.LiveTrack(ctx, ls.ID)
	if err != nil {
		l.log.Error("live room: track", "session", ls.ID, "err", err)
		track = []domain.Position{}
	}
	hello["checklist"] = checklist
	hello["track"] = track
	hello["site"] = siteOf(cs)
	hello["track_summary"] = domain.SummarizeTrack(track, cs.SiteLat, cs.SiteLon, l.warnM)
}

// siteOf is the case's site position, or nil when the applicant gave none.
func siteOf(cs *domain.Case) map[string]float64 {
	if cs.SiteLat == nil || cs.SiteLon == nil {
		return nil
	}
	return map[string]float64{"lat": *cs.SiteLat, "lon": *cs.SiteLon}
}

// guidedMessage handles the room's guided-filming messages (docs/LIVE.md):
// shot marks from the phone or an officer, the phone's positions, an
// officer's command to take a still and the phone's answer to it.
func (l *liveService) guidedMessage(ctx context.Context, ls *domain.LiveSession, cs *domain.Case, user *domain.User, officer bool, m *signaling.Member, room *signaling.Room, msg roomMessage, fail func(error)) {
	phone := user == nil
	switch msg.Type {
	case "shot":
		author := user
		if phone {
			if cs.Applicant == nil {
				fail(newError(http.StatusConflict, "the case has no applicant to mark shots for"))
				return
			}
			a, err := l.db.UserByID(ctx, cs.Applicant.ID)
			if err != nil {
				fail(err)
				return
			}
			author = a
		} else if !officer {
			fail(newError(http.StatusForbidden, "only the phone and the case's officers mark shots"))
			return
		}
		la, err := l.db.AddShotMark(ctx, cs, ls, author, msg.ChecklistItem, l.svc.RecordingMS(ls.ID))
		if err != nil {
			fail(err)
			return
		}
		room.Send(encode(map[string]any{"type": "shot", "annotation": la, "by": m.Presence}))
	case "position":
		if !phone {
			fail(newError(http.StatusForbidden, "only the phone sends its position"))
			return
		}
		if msg.Lat == nil || msg.Lon == nil {
			fail(domain.Coded(domain.ErrInvalid, domain.CodePositionInvalid, "a position needs lat and lon"))
			return
		}
		p := domain.Position{At: time.Now().UTC().Truncate(time.Millisecond), Lat: *msg.Lat, Lon: *msg.Lon, Accuracy: msg.Accuracy}
		if _, err := l.db.AddLivePosition(ctx, ls, p); err != nil {
			fail(err)
			return
		}
		out := map[string]any{"type": "position", "position": p, "warn_m": l.warnM}
		if cs.SiteLat != nil && cs.SiteLon != nil {
			d := domain.DistanceM(p.Lat, p.Lon, *cs.SiteLat, *cs.SiteLon)
			out["distance_m"], out["warning"] = int64(d+0.5), d > l.warnM
		}
		room.Send(encode(out))
	case "take_still":
		if !officer {
			fail(newError(http.StatusForbidden, "only the case's officers ask for a still"))
			return
		}
		id := domain.NewID()
		at := l.svc.RecordingMS(ls.ID)
		if _, err := l.db.RecordAudit(ctx, storage.Audit{CaseID: cs.ID, ActorID: user.ID, Action: "live.still_requested", Target: ls.ID,
			Data: map[string]any{"request": id, "recording_ms": at}}); err != nil {
			fail(err)
			return
		}
		room.Send(encode(map[string]any{"type": "take_still", "id": id, "by": m.Presence, "recording_ms": at}))
	case "still":
		if !phone {
			fail(newError(http.StatusForbidden, "only the phone announces its still"))
			return
		}
		ev, err := l.stillEvidence(ctx, ls, cs, msg.Upload)
		if err != nil {
			fail(err)
			return
		}
		room.Send(encode(map[string]any{"type": "still", "evidence": ev, "request": msg.Request, "by": m.Presence,
			"recording_ms": l.svc.RecordingMS(ls.ID)}))
	}
}

// stillEvidence is the image evidence the phone's finished upload uid made
// in this session; anything else is CodeStillNotFound.
func (l *liveService) stillEvidence(ctx context.Context, ls *domain.LiveSession, cs *domain.Case, uid string) (*domain.Evidence, error) {
	notFound := domain.Coded(domain.ErrNotFound, domain.CodeStillNotFound, "no finished photo upload of this live inspection by that id")
	if uid == "" {
		return nil, notFound
	}
	up, err := l.ups.Upload(ctx, uid)
	if err != nil || up.CaseID != cs.ID || up.LiveSessionID != ls.ID || up.State != domain.UploadComplete {
		return nil, notFound
	}
	ev, err := l.db.Evidence(ctx, up.EvidenceID)
	if err != nil || ev.Kind != domain.KindImage {
		return nil, notFound
	}
	return ev, nil
}
