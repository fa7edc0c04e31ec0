// Package live runs the live-inspection sessions of this replica: it joins
// the records (storage) to the media (signaling) and the rooms, ends
// sessions left idle, stores each finished recording segment so that
// another replica can take a session over, and makes the recording
// evidence when a session ends. It knows nothing of HTTP: package server
// maps requests onto it (docs/LIVE.md).
package live

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"siteinspect/domain"
	"siteinspect/signaling"
	"siteinspect/storage"
	"siteinspect/storage/objects"
)

// Store is what the service needs from the records: the sessions, the
// evidence a recording or snapshot becomes, the replicas and their
// heartbeats, and the stored segments.
type Store interface {
	LiveSession(ctx context.Context, id string) (*domain.LiveSession, error)
	ListLiveSessions(ctx context.Context, caseID string) ([]*domain.LiveSession, error)
	EndLiveSession(ctx context.Context, ls *domain.LiveSession, by, reason string, rec *domain.LiveRecording) (*domain.LiveSession, *domain.Evidence, error)
	AddObjectEvidence(ctx context.Context, in domain.NewObjectEvidence) (*domain.Evidence, error)
	Heartbeat(ctx context.Context, id, internalURL string) error
	RetireReplica(ctx context.Context, id string, expiry time.Duration) error
	Replica(ctx context.Context, id string) (storage.Replica, error)
	Replicas(ctx context.Context) (map[string]storage.Replica, error)
	Now() time.Time
	ClaimLiveSession(ctx context.Context, id, from, to string) (bool, error)
	AddLiveSegment(ctx context.Context, s storage.LiveSegment) error
	ListLiveSegments(ctx context.Context, sessionID string) ([]storage.LiveSegment, error)
}

// DefaultMaxDuration is Config.MaxDuration's default: at the publisher's
// default bound of 6 Mbps, under the largest video an upload may have.
const DefaultMaxDuration = 3 * time.Hour

// Config configures a Service.
type Config struct {
	// DB holds the sessions (required).
	DB Store
	// Objects receives recordings, snapshots and segments (required).
	Objects objects.ObjectStore
	// Media runs the WebRTC connections and records them (required).
	Media *signaling.Manager
	// Replica names this process among several sharing DB; empty ID is
	// "local" (one process).
	Replica Replica
	// Idle ends a session left without a publisher this long (default
	// 10 minutes).
	Idle time.Duration
	// MaxDuration ends a session this long after its first publish
	// (default 3 hours): with the publisher's bound on what it brings in
	// (signaling.Config.MaxIngestKbps) it bounds a recording's size, which
	// no company quota counts.
	MaxDuration time.Duration
	// Notify, if set, is called when new evidence waits for the media
	// pipeline.
	Notify func()
	// Logger receives the service's events; nil is slog.Default().
	Logger *slog.Logger
}

// Service holds this replica's live sessions. Make it with New, call
// Recover before serving, run Run while serving and Close at the end.
type Service struct {
	db      Store
	objects objects.ObjectStore
	mgr     *signaling.Manager
	log     *slog.Logger
	notify  func()
	idle    time.Duration
	maxDur  time.Duration
	replica Replica

	mu      sync.Mutex
	rooms   map[string]*signaling.Room
	ending  map[string]bool
	pending map[string]*signaling.Recording // finished but not yet stored (a store failure)
	viewers map[string]viewerRef            // WHEP resource id → who watches
	talkers map[string]string               // session → the WHEP resource whose microphone reaches the phone
	whips   map[string]string               // WHIP resource id → session, until DELETEd or the session ends
	stored  map[string]bool                 // object keys of the segments this process stored
	offsets map[string]time.Duration        // session → recording stored elsewhere before this process ran it
	closed  bool
	created time.Time // when New made the service
	stop    chan struct{}
	running sync.WaitGroup
}

type viewerRef struct{ session, user string }

// New validates cfg and makes the service; it does no work.
func New(cfg Config) (*Service, error) {
	if cfg.DB == nil || cfg.Objects == nil || cfg.Media == nil {
		return nil, errors.New("live: Config.DB, Objects and Media are required")
	}
	l := &Service{
		db: cfg.DB, objects: cfg.Objects, mgr: cfg.Media, log: cfg.Logger, notify: cfg.Notify, idle: cfg.Idle, maxDur: cfg.MaxDuration, replica: cfg.Replica,
		rooms: map[string]*signaling.Room{}, ending: map[string]bool{}, pending: map[string]*signaling.Recording{},
		viewers: map[string]viewerRef{}, talkers: map[string]string{}, whips: map[string]string{},
		stored: map[string]bool{}, offsets: map[string]time.Duration{}, stop: make(chan struct{}), created: time.Now(),
	}
	if l.log == nil {
		l.log = slog.Default()
	}
	if l.notify == nil {
		l.notify = func() {}
	}
	if l.idle <= 0 {
		l.idle = 10 * time.Minute
	}
	if l.maxDur <= 0 {
		l.maxDur = DefaultMaxDuration
	}
	if l.replica.ID == "" {
		l.replica.ID = "local"
	}
	l.mgr.OnSegment(l.storeSegment)
	return l, nil
}

// Media is the signaling manager the sessions run on.
func (l *Service) Media() *signaling.Manager { return l.mgr }

// Replica is this process's name among the replicas.
func (l *Service) Replica() Replica { return l.replica }

// Recover announces this replica (a first heartbeat) and deals with what a
// killed process left on this replica's disk (see recoverAll). Call it
// before serving.
func (l *Service) Recover(ctx context.Context) {
	l.heartbeat(ctx)
	l.recoverAll(ctx)
}

// Run renews this replica's heartbeat and sweeps the open sessions every
// 2 s until ctx is done or Close is called.
func (l *Service) Run(ctx context.Context) error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.running.Add(1)
	l.mu.Unlock()
	defer l.running.Done()
	t := time.NewTicker(heartbeatEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-l.stop:
			return nil
		case <-t.C:
			hctx, cancel := context.WithTimeout(ctx, heartbeatEvery)
			l.heartbeat(hctx)
			cancel()
			l.sweep()
		}
	}
}

// AddWhip notes that WHIP resource rid publishes into session.
func (l *Service) AddWhip(rid, session string) {
	l.mu.Lock()
	l.whips[rid] = session
	l.mu.Unlock()
}

// TakeWhip forgets WHIP resource rid and reports whether this process
// issued it for session.
func (l *Service) TakeWhip(rid, session string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	issued := l.whips[rid] == session
	delete(l.whips, rid)
	return issued
}

// Stopping is closed when the service closes.
func (l *Service) Stopping() <-chan struct{} { return l.stop }

// TakeWhips forgets the WHIP resources this process issued for session
// and returns them: a reissued join link stops its old holder's stream.
func (l *Service) TakeWhips(session string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for rid, sid := range l.whips {
		if sid == session {
			out = append(out, rid)
			delete(l.whips, rid)
		}
	}
	return out
}

// AddViewer notes that WHEP resource rid is user watching session.
func (l *Service) AddViewer(rid, session, user string) {
	l.mu.Lock()
	l.viewers[rid] = viewerRef{session: session, user: user}
	l.mu.Unlock()
}

// IsViewer reports whether WHEP resource rid is user watching session.
func (l *Service) IsViewer(rid, session, user string) bool {
	l.mu.Lock()
	v, ok := l.viewers[rid]
	l.mu.Unlock()
	return ok && v.session == session && v.user == user
}

// RemoveViewer forgets WHEP resource rid.
func (l *Service) RemoveViewer(rid string) {
	l.mu.Lock()
	delete(l.viewers, rid)
	l.mu.Unlock()
}

// recoverAll ends the sessions a killed process left open with media on
// disk: their segments are finalized and stored as the recording, before
// anyone can publish into them again.
func (l *Service) recoverAll(ctx context.Context) {
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
			continue // nothing recorded here (or all of it stored): the session stays open
		}
		if ls.Owner != l.replica.ID {
			if _, alive, _ := l.Owner(ctx, ls); alive {
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
		// The segments stored before the crash (by this replica or
		// others) were left out of rec: they join it here.
		joined, err := l.withStored(ctx, ls, rec)
		if err != nil {
			l.log.Error("join the stored segments of a live recording", "session", ls.ID, "err", err)
			continue // the stored segments stay for the next try
		}
		rec = joined
		l.pending[ls.ID] = rec
		if _, _, err := l.End(ctx, ls, "", "restart"); err != nil {
			l.log.Error("end recovered live session", "session", ls.ID, "err", err)
			continue
		}
		l.log.Info("recovered the recording of a live session left by a stopped process", "session", ls.ID, "duration", rec.Duration)
	}
}

// sweep ends sessions idle for longer than l.idle (no publisher since it
// left, or since the session was created or scheduled, or since its
// replica died) and sessions whose first publish was l.maxDur ago, and
// updates rooms. Sessions that another live replica owns are that one's
// to sweep.
func (l *Service) sweep() {
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
			// A session this process never ran (its replica died, or
			// this one restarted) has --live-idle from now on at least.
			for _, t := range []*time.Time{ls.ScheduledAt, ls.StartedAt, &ownerSeen, &l.created} {
				if t != nil && t.After(since) {
					since = *t
				}
			}
		}
		reason := ""
		switch {
		case !since.IsZero() && time.Since(since) >= l.idle:
			reason = "idle"
		case ls.StartedAt != nil && now.Sub(*ls.StartedAt) >= l.maxDur:
			reason = "time_limit"
		}
		if reason != "" {
			if ls.Owner != l.replica.ID {
				// One replica ends it: the one that takes it.
				if ok, err := l.db.ClaimLiveSession(ctx, ls.ID, ls.Owner, l.replica.ID); err != nil || !ok {
					continue
				}
				ls.Owner = l.replica.ID
			}
			l.log.Info("live session ends by itself", "session", ls.ID, "reason", reason, "since", since, "started", ls.StartedAt)
			if _, _, err := l.End(ctx, ls, "", reason); err != nil {
				l.log.Error("end live session", "session", ls.ID, "reason", reason, "err", err)
			}
			continue
		}
		if r := l.Room(ls.ID, false); r != nil && r.Len() > 0 {
			r.Send(encode(l.StateMessage(ls)))
			if known {
				r.Send(encode(map[string]any{"type": "quality", "publisher": st.Publisher, "viewers": st.ViewerQuality}))
			}
		}
	}
}

// Close stops Run and ends the sessions this replica runs, so that
// their recordings are finalized and stored as evidence before the
// process exits; while other replicas are alive it hands them over
// instead. Call it after the HTTP server has shut down; a second call
// does nothing.
func (l *Service) Close(ctx context.Context) error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	close(l.stop)
	l.mu.Unlock()
	l.running.Wait()
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
		if _, _, err := l.End(ctx, ls, "", "shutdown"); err != nil {
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

// Room returns the session's room, creating it when create is set.
func (l *Service) Room(id string, create bool) *signaling.Room {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.rooms[id]
	if r == nil && create {
		r = signaling.NewRoom()
		l.rooms[id] = r
	}
	return r
}

// End finishes a session: the media is closed, the recording stored under
// the case and recorded as evidence with the session's end, all or nothing.
// If storing fails the recording is kept for the next attempt.
func (l *Service) End(ctx context.Context, ls *domain.LiveSession, by, reason string) (*domain.LiveSession, *domain.Evidence, error) {
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

// Snapshot stores the next keyframe of the session as image evidence and
// tells the room.
func (l *Service) Snapshot(ctx context.Context, ls *domain.LiveSession, u *domain.User) (*domain.Evidence, error) {
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
	if r := l.Room(ls.ID, false); r != nil {
		r.Send(encode(map[string]any{"type": "snapshot", "evidence": ev, "recording_ms": at.Milliseconds(), "by": PresenceOf(u)}))
	}
	return ev, nil
}

// RecordingMS is the session's current position in its recording.
func (l *Service) RecordingMS(id string) int64 {
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

// PresenceOf is how user u appears in a room's member list.
func PresenceOf(u *domain.User) signaling.Presence {
	name := u.DisplayName
	if name == "" {
		name = u.Username
	}
	return signaling.Presence{ID: u.ID, Name: name, Role: string(u.Role)}
}

// StateMessage is the room's `state` message for ls: whether someone
// publishes, how many watch, the position in the recording (counting
// segments stored by other replicas), and, once the session has started,
// when its length limit (Config.MaxDuration) ends it: ends_at, and
// ends_in_ms by the server's clock, so that a device whose clock is wrong
// still counts down right.
func (l *Service) StateMessage(ls *domain.LiveSession) map[string]any {
	m := map[string]any{"type": "state", "status": ls.Status, "publishing": false, "viewers": 0, "recording_ms": l.RecordingMS(ls.ID)}
	if st, err := l.mgr.Status(ls.ID); err == nil {
		m["publishing"], m["viewers"] = st.Publishing, st.Viewers
	}
	if ls.Status == domain.LiveOpen && ls.StartedAt != nil {
		end := ls.StartedAt.Add(l.maxDur)
		m["ends_at"] = end.UTC().Format(time.RFC3339)
		m["ends_in_ms"] = max(0, end.Sub(l.db.Now()).Milliseconds())
	}
	if ls.Status == domain.LiveEnded && ls.EndReason != "" {
		m["end_reason"] = ls.EndReason
	}
	return m
}

func encode(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only our own message types are encoded
	}
	return b
}

// StopTalking silences the user's microphone towards the phone when their
// room connection goes: the talk button lives on that page.
func (l *Service) StopTalking(sessionID, userID string) {
	l.mu.Lock()
	rid := l.talkers[sessionID]
	v, ok := l.viewers[rid]
	l.mu.Unlock()
	if rid != "" && (!ok || v.user == userID) {
		l.SetTalker(sessionID, "")
	}
}

// SetTalker routes viewer rid's microphone to the phone ("" for nobody).
func (l *Service) SetTalker(sessionID, rid string) error {
	if err := l.mgr.SetTalker(sessionID, rid); err != nil {
		return err
	}
	l.mu.Lock()
	l.talkers[sessionID] = rid
	l.mu.Unlock()
	return nil
}
