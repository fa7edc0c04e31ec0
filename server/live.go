package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/pion/webrtc/v4"

	"siteinspect/domain"
	"siteinspect/signaling"
	"siteinspect/storage/objects"
)

// maxSDP bounds an SDP offer or trickle fragment; real offers are a few KiB.
const maxSDP = 64 << 10

// liveStore is what the live service needs from the records: its sessions,
// their annotations and instructions, the case, the user a token belongs
// to, the evidence a recording or snapshot becomes, and the audit chain.
type liveStore interface {
	caseLoader
	sessionFinder
	auditRecorder
	CreateLiveSession(ctx context.Context, cs *domain.Case, by *domain.User, scheduledAt *time.Time, ttl time.Duration) (*domain.LiveSession, string, error)
	LiveSession(ctx context.Context, id string) (*domain.LiveSession, error)
	ListLiveSessions(ctx context.Context, caseID string) ([]*domain.LiveSession, error)
	CheckPublishToken(ls *domain.LiveSession, token string) error
	CheckUploadToken(ls *domain.LiveSession, token string, grace time.Duration) error
	MarkLivePublishing(ctx context.Context, ls *domain.LiveSession, codec string, reconnect bool) error
	EndLiveSession(ctx context.Context, ls *domain.LiveSession, by, reason string, rec *domain.LiveRecording) (*domain.LiveSession, *domain.Evidence, error)
	ListLiveAnnotations(ctx context.Context, sessionID string) ([]*domain.LiveAnnotation, error)
	AddLiveAnnotation(ctx context.Context, cs *domain.Case, ls *domain.LiveSession, author *domain.User, in domain.AnnotationInput, recordingMS int64) (*domain.LiveAnnotation, error)
	RecordLiveInstruction(ctx context.Context, ls *domain.LiveSession, actorID, text string, recordingMS int64) (string, error)
	AddObjectEvidence(ctx context.Context, in domain.NewObjectEvidence) (*domain.Evidence, error)
	UserByID(ctx context.Context, id string) (*domain.User, error)
	replicaStore
}

// liveService connects the live-session records (storage) with the media
// (signaling) and the rooms. It ends sessions that have been left idle and
// sends each room its state and connection quality every 2 s.
type liveService struct {
	db      liveStore
	objects objects.ObjectStore
	ups     tusStore
	metrics *metrics
	mgr     *signaling.Manager
	log     *slog.Logger
	notify  func()
	ice     []webrtc.ICEServer
	ttl     time.Duration
	idle    time.Duration
	replica Replica

	mu      sync.Mutex
	rooms   map[string]*signaling.Room
	ending  map[string]bool
	pending map[string]*signaling.Recording // finished but not yet stored (a store failure)
	viewers map[string]viewerRef            // WHEP resource id → who watches
	talkers map[string]string               // session → the WHEP resource whose microphone reaches the phone
	whips   map[string]string               // WHIP resource id → session, until DELETEd or the session ends
	stored  map[string]bool                 // object keys of the segments this process stored
	offsets map[string]time.Duration        // session → recording stored elsewhere before this process took it over
	stop    chan struct{}
	done    chan struct{}
}

type viewerRef struct{ session, user string }

func newLiveService(cfg Config, m *metrics, notify func()) *liveService {
	l := &liveService{
		db: cfg.DB, objects: cfg.Objects, ups: cfg.Uploads, metrics: m, mgr: cfg.Live, log: cfg.Logger, notify: notify, ice: cfg.LiveICEServers,
		ttl: cfg.LiveTokenTTL, idle: cfg.LiveIdle, replica: cfg.LiveReplica, stored: map[string]bool{}, offsets: map[string]time.Duration{},
		rooms: map[string]*signaling.Room{}, ending: map[string]bool{}, pending: map[string]*signaling.Recording{},
		viewers: map[string]viewerRef{}, talkers: map[string]string{}, whips: map[string]string{}, stop: make(chan struct{}), done: make(chan struct{}),
	}
	if l.ttl <= 0 {
		l.ttl = 2 * time.Hour
	}
	if l.idle <= 0 {
		l.idle = 10 * time.Minute
	}
	if l.replica.ID == "" {
		l.replica.ID = "local"
	}
	l.mgr.OnSegment(l.storeSegment)
	l.heartbeat(context.Background())
	l.recoverAll()
	go l.run()
	return l
}

// recoverAll ends the sessions a killed process left open with media on
// disk: their segments are finalized and stored as the recording, before
// anyone can publish into them again.
func (l *liveService) recoverAll() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	open, err := l.db.ListLiveSessions(ctx, "")
	if err != nil {
		l.log.Error("recover live sessions", "err", err)
		return
	}
	for _, ls := range open {
		rec, err := l.mgr.Recover(ctx, ls.ID)
		if err != nil {
			l.log.Error("recover live recording", "session", ls.ID, "err", err)
			continue
		}
		if rec == nil {
			continue // nothing recorded: the session stays open
		}
		if ls.Owner != l.replica.ID {
			if _, alive, _ := l.liveOwner(ctx, ls); alive {
				// Another replica took the session over while this one
				// was down: what was recorded here joins its recording.
				l.storeSegment(ls.ID, signaling.Segment{Path: rec.Path, ContentType: rec.ContentType, Start: rec.Start, Duration: rec.Duration})
				l.mu.Lock()
				delete(l.stored, segmentKey(ls, l.replica.ID, rec.Start, filepath.Ext(rec.Path)))
				l.mu.Unlock()
				os.RemoveAll(filepath.Dir(rec.Path))
				continue
			}
			if ok, err := l.db.ClaimLiveSession(ctx, ls.ID, ls.Owner, l.replica.ID); err != nil || !ok {
				continue
			}
		}
		l.pending[ls.ID] = rec
		if _, _, err := l.end(ctx, ls, "", "restart"); err != nil {
			l.log.Error("end recovered live session", "session", ls.ID, "err", err)
			continue
		}
		l.log.Info("recovered the recording of a live session left by a stopped process", "session", ls.ID, "duration", rec.Duration)
	}
}

// run sweeps open sessions every 2 s until close.
func (l *liveService) run() {
	defer close(l.done)
	t := time.NewTicker(heartbeatEvery)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), heartbeatEvery)
			l.heartbeat(ctx)
			cancel()
			l.sweep()
		}
	}
}

// sweep ends sessions idle for longer than l.idle (no publisher since it
// left, or since the session was created or scheduled, or since its
// replica died) and updates rooms. Sessions that another live replica
// owns are that one's to sweep.
func (l *liveService) sweep() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	open, err := l.db.ListLiveSessions(ctx, "")
	if err != nil {
		l.log.Error("live sweep", "err", err)
		return
	}
	replicas, err := l.db.Replicas(ctx)
	if err != nil {
		l.log.Error("live sweep", "err", err)
		return
	}
	now := l.db.Now()
	for _, ls := range open {
		var ownerSeen time.Time // when a dead owner was last alive
		if ls.Owner != "" && ls.Owner != l.replica.ID {
			r, ok := replicas[ls.Owner]
			if ok && r.Alive(now, heartbeatExpiry) {
				l.leaveForeign(ls)
				continue
			}
			ownerSeen = r.HeartbeatAt
		}
		st, err := l.mgr.Status(ls.ID)
		known := err == nil
		var since time.Time
		switch {
		case known && st.Publishing:
		case known && !st.LastPublishEnd.IsZero():
			since = st.LastPublishEnd
		default:
			since = ls.CreatedAt
			for _, t := range []*time.Time{ls.ScheduledAt, ls.StartedAt, &ownerSeen} {
				if t != nil && t.After(since) {
					since = *t
				}
			}
		}
		if !since.IsZero() && time.Since(since) >= l.idle {
			if ls.Owner != l.replica.ID {
				// One replica ends it: the one that takes it.
				if ok, err := l.db.ClaimLiveSession(ctx, ls.ID, ls.Owner, l.replica.ID); err != nil || !ok {
					continue
				}
				ls.Owner = l.replica.ID
			}
			l.log.Info("live session idle: ending it", "session", ls.ID, "since", since)
			if _, _, err := l.end(ctx, ls, "", "idle"); err != nil {
				l.log.Error("end idle live session", "session", ls.ID, "err", err)
			}
			continue
		}
		if r := l.room(ls.ID, false); r != nil && r.Len() > 0 {
			r.Send(encode(stateMessage(ls, st, known)))
			if known {
				r.Send(encode(map[string]any{"type": "quality", "publisher": st.Publisher, "viewers": st.ViewerQuality}))
			}
		}
	}
}

// close stops the sweeper and ends every open session, so recordings are
// finalized and stored as evidence before the process exits.
func (l *liveService) close(ctx context.Context) error {
	close(l.stop)
	<-l.done
	open, err := l.db.ListLiveSessions(ctx, "")
	if err != nil {
		return err
	}
	// With other replicas alive, this one's sessions are handed over to
	// them; alone, it ends them.
	handOver := l.othersAlive(ctx)
	var errs []error
	for _, ls := range open {
		if ls.Owner != l.replica.ID {
			continue // another replica's, or nobody's yet: it stays open
		}
		if handOver {
			l.handOver(ls)
			continue
		}
		if _, _, err := l.end(ctx, ls, "", "shutdown"); err != nil {
			errs = append(errs, fmt.Errorf("live session %s: %w", ls.ID, err))
		}
	}
	if handOver {
		// Dead at once: the phones' reconnects take the sessions over
		// without waiting for the heartbeat to expire.
		if err := l.db.RetireReplica(ctx, l.replica.ID, heartbeatExpiry); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// room returns the session's room, creating it when create is set.
func (l *liveService) room(id string, create bool) *signaling.Room {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.rooms[id]
	if r == nil && create {
		r = signaling.NewRoom()
		l.rooms[id] = r
	}
	return r
}

// end finishes a session: the media is closed, the recording stored under
// the case and recorded as evidence with the session's end, all or nothing.
// If storing fails the recording is kept for the next attempt.
func (l *liveService) end(ctx context.Context, ls *domain.LiveSession, by, reason string) (*domain.LiveSession, *domain.Evidence, error) {
	l.mu.Lock()
	if l.ending[ls.ID] {
		l.mu.Unlock()
		return nil, nil, &domain.Error{Kind: domain.ErrConflict, Message: "this live inspection is being ended"}
	}
	l.ending[ls.ID] = true
	rec := l.pending[ls.ID]
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		delete(l.ending, ls.ID)
		l.mu.Unlock()
	}()

	keepStored := false // a join that failed leaves the stored segments for another try
	if rec == nil {
		var err error
		rec, err = l.mgr.End(ls.ID)
		switch {
		case errors.Is(err, signaling.ErrNoSession):
			// Nobody published since this process started: what an
			// earlier one recorded may still be on disk.
			if rec, err = l.mgr.Recover(ctx, ls.ID); err != nil {
				l.log.Error("recover live recording", "session", ls.ID, "err", err)
			}
		case err != nil:
			// The segments stay on disk under the record directory.
			l.log.Error("finalize live recording", "session", ls.ID, "err", err)
		}
		// Segments recorded by a replica that has died, or by an
		// earlier run of this one, come from the object store.
		joined, err := l.withStored(ctx, ls, rec)
		if err != nil {
			keepStored = true
			l.log.Error("join the stored segments of a live recording", "session", ls.ID, "err", err)
		}
		rec = joined
	}
	var lr *domain.LiveRecording
	if rec != nil {
		l.mu.Lock()
		l.pending[ls.ID] = rec
		l.mu.Unlock()
		ext := filepath.Ext(rec.Path)
		key := "cases/" + ls.CaseID + "/live/" + ls.ID + "/recording" + ext
		size, sum, err := objects.PutFile(ctx, l.objects, key, rec.Path, rec.ContentType)
		if err != nil {
			return nil, nil, err
		}
		lr = &domain.LiveRecording{ObjectKey: key, ContentType: rec.ContentType, Size: size, SHA256: sum, Segments: rec.Segments,
			DurationMS: rec.Duration.Milliseconds(), Filename: "live-" + ls.CreatedAt.Format("20060102-150405") + ext}
	}
	out, ev, err := l.db.EndLiveSession(ctx, ls, by, reason, lr)
	if err != nil {
		return nil, nil, err
	}
	if !keepStored {
		l.deleteStored(ctx, ls)
	}
	l.mu.Lock()
	delete(l.pending, ls.ID)
	r := l.rooms[ls.ID]
	delete(l.rooms, ls.ID)
	for id, v := range l.viewers {
		if v.session == ls.ID {
			delete(l.viewers, id)
		}
	}
	delete(l.talkers, ls.ID)
	for id, sid := range l.whips {
		if sid == ls.ID {
			delete(l.whips, id)
		}
	}
	l.mu.Unlock()
	if rec != nil {
		if err := os.RemoveAll(filepath.Dir(rec.Path)); err != nil {
			l.log.Warn("remove live recording", "session", ls.ID, "err", err)
		}
		l.notify()
	}
	if r != nil {
		msg := map[string]any{"type": "ended", "evidence_id": nil, "reason": reason}
		if ev != nil {
			msg["evidence_id"] = ev.ID
		}
		r.Send(encode(msg))
		// Let the writers flush the last message before the room closes.
		time.AfterFunc(500*time.Millisecond, r.Close)
	}
	return out, ev, nil
}

// snapshot stores the next keyframe of the session as image evidence and
// tells the room.
func (l *liveService) snapshot(ctx context.Context, ls *domain.LiveSession, u *domain.User) (*domain.Evidence, error) {
	jpeg, at, err := l.mgr.Snapshot(ctx, ls.ID)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(jpeg)
	key := "cases/" + ls.CaseID + "/live/" + ls.ID + "/snapshots/" + domain.NewID() + ".jpg"
	if err := l.objects.Put(ctx, key, bytes.NewReader(jpeg), int64(len(jpeg)), "image/jpeg"); err != nil {
		return nil, err
	}
	ev, err := l.db.AddObjectEvidence(ctx, domain.NewObjectEvidence{
		CaseID: ls.CaseID, Kind: domain.KindImage, Filename: "snapshot-" + clock(at) + ".jpg", ContentType: "image/jpeg",
		ObjectKey: key, SHA256: hex.EncodeToString(sum[:]), Size: int64(len(jpeg)), By: u.ID,
		Data: map[string]any{"live_session": ls.ID, "recording_ms": at.Milliseconds()},
	})
	if err != nil {
		return nil, err
	}
	l.notify()
	if r := l.room(ls.ID, false); r != nil {
		r.Send(encode(map[string]any{"type": "snapshot", "evidence": ev, "recording_ms": at.Milliseconds(), "by": presenceOf(u)}))
	}
	return ev, nil
}

// recordingMS is the session's current position in its recording.
func (l *liveService) recordingMS(id string) int64 {
	l.mu.Lock()
	offset := l.offsets[id]
	l.mu.Unlock()
	st, err := l.mgr.Status(id)
	if err != nil {
		return offset.Milliseconds()
	}
	return (offset + st.RecordingTime).Milliseconds()
}

// clock formats d as 00h01m02s for file names.
func clock(d time.Duration) string {
	s := int64(d.Seconds())
	return fmt.Sprintf("%02dh%02dm%02ds", s/3600, s/60%60, s%60)
}

func presenceOf(u *domain.User) signaling.Presence {
	name := u.DisplayName
	if name == "" {
		name = u.Username
	}
	return signaling.Presence{ID: u.ID, Name: name, Role: string(u.Role)}
}

// liveJSON is a session as clients see it: never the token.
type liveJSON struct {
	*domain.LiveSession
	Publishing  bool            `json:"publishing"`
	Viewers     int             `json:"viewers"`
	RecordingMS int64           `json:"recording_ms"`
	VideoCodec  string          `json:"video_codec,omitempty"`
	PublishURL  string          `json:"publish_url"`
	JoinURL     string          `json:"join_url,omitempty"`
	Token       string          `json:"publish_token,omitempty"`
	ICEServers  []iceServerJSON `json:"ice_servers,omitempty"`
}

type iceServerJSON struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential string   `json:"credential,omitempty"`
}

func (l *liveService) show(ls *domain.LiveSession) liveJSON {
	out := liveJSON{LiveSession: ls, PublishURL: "/api/v1/live/" + ls.ID + "/whip"}
	if st, err := l.mgr.Status(ls.ID); err == nil {
		out.Publishing, out.Viewers, out.VideoCodec = st.Publishing, st.Viewers, st.VideoCodec
	}
	out.RecordingMS = l.recordingMS(ls.ID)
	return out
}

func (l *liveService) iceServers() []iceServerJSON {
	list := []iceServerJSON{}
	for _, s := range l.ice {
		cred, _ := s.Credential.(string)
		list = append(list, iceServerJSON{URLs: s.URLs, Username: s.Username, Credential: cred})
	}
	return list
}

// setLinks advertises the ICE servers (RFC 9725 §4.6).
func (l *liveService) setLinks(h http.Header) {
	for _, s := range l.ice {
		for _, u := range s.URLs {
			v := "<" + u + `>; rel="ice-server"`
			if cred, ok := s.Credential.(string); ok && s.Username != "" {
				v += fmt.Sprintf(`; username=%q; credential=%q; credential-type="password"`, s.Username, cred)
			}
			h.Add("Link", v)
		}
	}
}

func stateMessage(ls *domain.LiveSession, st signaling.Status, known bool) map[string]any {
	m := map[string]any{"type": "state", "status": ls.Status, "publishing": false, "viewers": 0, "recording_ms": 0}
	if known {
		m["publishing"], m["viewers"], m["recording_ms"] = st.Publishing, st.Viewers, st.RecordingTime.Milliseconds()
	}
	return m
}

// signalingError maps signaling's errors onto HTTP.
func signalingError(err error, noPublisher int) error {
	switch {
	case errors.Is(err, signaling.ErrBadSDP):
		return newError(http.StatusBadRequest, "malformed SDP: "+strings.TrimPrefix(err.Error(), signaling.ErrBadSDP.Error()+": "))
	case errors.Is(err, signaling.ErrNoCodec):
		return newError(http.StatusBadRequest, "the offer has no codec this server takes: send VP8 or H.264 (packetization-mode=1) video and/or Opus audio")
	case errors.Is(err, signaling.ErrICERestart):
		return newError(http.StatusUnprocessableEntity, "ICE restart is not supported: POST a new offer with the same token")
	case errors.Is(err, signaling.ErrNoPublisher):
		if noPublisher == http.StatusConflict {
			return newCodedError(http.StatusConflict, "no_publisher", "nobody is publishing in this live inspection yet")
		}
		return newError(noPublisher, "no such publisher resource")
	case errors.Is(err, signaling.ErrNoSession), errors.Is(err, signaling.ErrInvalidID):
		if noPublisher == http.StatusConflict {
			return newCodedError(http.StatusConflict, "no_publisher", "nobody is publishing in this live inspection yet")
		}
		return newError(http.StatusNotFound, "no media for this live inspection")
	case errors.Is(err, signaling.ErrNoViewer):
		return newError(http.StatusNotFound, "no such viewer resource")
	case errors.Is(err, signaling.ErrClosed):
		return newCodedError(http.StatusServiceUnavailable, "shutting_down", "the server is shutting down")
	}
	return err
}

// readSDP reads an SDP body of the given content type.
func readSDP(c echo.Context, contentType string) (string, error) {
	ct := c.Request().Header.Get(echo.HeaderContentType)
	if mt, _, _ := strings.Cut(ct, ";"); !strings.EqualFold(strings.TrimSpace(mt), contentType) {
		return "", newError(http.StatusUnsupportedMediaType, "send Content-Type: "+contentType)
	}
	b, err := io.ReadAll(io.LimitReader(c.Request().Body, maxSDP+1))
	if err != nil {
		return "", newError(http.StatusBadRequest, "the request body broke off")
	}
	if len(b) > maxSDP {
		return "", newError(http.StatusRequestEntityTooLarge, fmt.Sprintf("the SDP exceeds %d bytes", maxSDP))
	}
	return string(b), nil
}

func encode(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only our own message types are encoded
	}
	return b
}
