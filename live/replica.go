package live

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"siteinspect/domain"
	"siteinspect/signaling"
	"siteinspect/storage"
	"siteinspect/storage/objects"
)

// Replica identifies this process among several that share one database
// and object store behind a load balancer (docs/LIVE.md, "Several
// replicas").
type Replica struct {
	// ID is unique among the replicas and the same after a restart, so
	// that a restarted replica recognizes the sessions it ran.
	ID string
	// InternalURL is where the other replicas reach this one
	// (http://host:port); they forward a session's media requests there.
	InternalURL string
}

// A replica renews its heartbeat every heartbeatEvery; one not heard of
// for heartbeatExpiry is dead, and its sessions may be taken over.
const (
	heartbeatEvery  = 2 * time.Second
	heartbeatExpiry = 6 * time.Second
)

// heartbeat records that this replica is alive.
func (l *Service) heartbeat(ctx context.Context) {
	if err := l.db.Heartbeat(ctx, l.replica.ID, l.replica.InternalURL); err != nil {
		l.log.Error("live: heartbeat", "replica", l.replica.ID, "err", err)
	}
}

// Owner returns the replica that owns ls and whether it is alive; ok
// is false for a session nobody owns or whose owner never beat.
func (l *Service) Owner(ctx context.Context, ls *domain.LiveSession) (r storage.Replica, alive, ok bool) {
	if ls.Owner == "" {
		return r, false, false
	}
	r, err := l.db.Replica(ctx, ls.Owner)
	if err != nil {
		return r, false, false
	}
	return r, r.Alive(l.db.Now(), heartbeatExpiry), true
}

// TakeOver makes this replica the owner of ls, whose owner is dead or
// unset, if no other replica has done so meanwhile.
func (l *Service) TakeOver(ctx context.Context, ls *domain.LiveSession) (bool, error) {
	ok, err := l.db.ClaimLiveSession(ctx, ls.ID, ls.Owner, l.replica.ID)
	if err != nil || !ok {
		return false, err
	}
	if ls.Owner != "" {
		l.log.Info("live: took over a session whose replica is gone", "session", ls.ID, "from", ls.Owner)
	}
	ls.Owner = l.replica.ID
	return true, nil
}

// NoteStored counts the segments of ls stored by other replicas (or an
// earlier run of this one) before this process runs its media: they come
// first in the recording, so positions in it (recording_ms) continue
// after them.
func (l *Service) NoteStored(ctx context.Context, ls *domain.LiveSession) {
	segs, err := l.db.ListLiveSegments(ctx, ls.ID)
	if err != nil {
		l.log.Error("live: list stored segments", "session", ls.ID, "err", err)
		return
	}
	var offset time.Duration
	l.mu.Lock()
	for _, s := range segs {
		if !l.stored[s.ObjectKey] {
			offset += s.Duration
		}
	}
	l.offsets[ls.ID] = offset
	l.mu.Unlock()
}

// othersAlive reports whether another replica's heartbeat holds.
func (l *Service) othersAlive(ctx context.Context) bool {
	all, err := l.db.Replicas(ctx)
	if err != nil {
		return false
	}
	now := l.db.Now()
	for id, r := range all {
		if id != l.replica.ID && r.Alive(now, heartbeatExpiry) {
			return true
		}
	}
	return false
}

// handOver stops running ls here, with its segments stored (OnSegment
// stores each as End finishes it), so that the phone's reconnect lands on
// another replica, which takes the session over: a replica leaving a
// cluster ends no session.
func (l *Service) handOver(ls *domain.LiveSession) {
	rec, err := l.mgr.End(ls.ID)
	if err != nil && !errors.Is(err, signaling.ErrNoSession) {
		l.log.Error("live: hand over a session", "session", ls.ID, "err", err)
	}
	if rec != nil {
		os.RemoveAll(filepath.Dir(rec.Path))
	}
	l.mu.Lock()
	r := l.rooms[ls.ID]
	delete(l.rooms, ls.ID)
	l.mu.Unlock()
	if r != nil {
		r.Close() // members reconnect, through the next owner
	}
	l.log.Info("live: handed a session over to the other replicas", "session", ls.ID)
}

// storeSegment puts a finished segment into the object store and records
// it, so that a replica taking the session over can join it into the
// recording if this one dies. Manager.OnSegment calls it.
func (l *Service) storeSegment(sessionID string, seg signaling.Segment) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	ls, err := l.db.LiveSession(ctx, sessionID)
	if err != nil {
		l.log.Error("live: store segment", "session", sessionID, "err", err)
		return
	}
	key := segmentKey(ls, l.replica.ID, seg.Start, filepath.Ext(seg.Path))
	if _, _, err := objects.PutFile(ctx, l.objects, key, seg.Path, seg.ContentType); err != nil {
		l.log.Error("live: store segment", "session", sessionID, "path", seg.Path, "err", err)
		return
	}
	err = l.db.AddLiveSegment(ctx, storage.LiveSegment{SessionID: sessionID, ObjectKey: key, Replica: l.replica.ID,
		ContentType: seg.ContentType, StartedAt: seg.Start, Duration: seg.Duration})
	if err != nil {
		l.log.Error("live: record segment", "session", sessionID, "key", key, "err", err)
		return
	}
	l.mu.Lock()
	l.stored[key] = true
	l.mu.Unlock()
	if err := l.mgr.MarkStored(seg); err != nil {
		l.log.Warn("live: mark a stored segment", "session", sessionID, "err", err)
	}
}

// segmentKey names a stored segment: its start orders it, the replica
// keeps two replicas' keys apart.
func segmentKey(ls *domain.LiveSession, replica string, start time.Time, ext string) string {
	return "cases/" + ls.CaseID + "/live/" + ls.ID + "/segments/" + start.UTC().Format("20060102T150405.000000000Z") + "-" + replica + ext
}

// withStored joins the segments other replicas (or an earlier run of this
// one) stored for ls with rec, this process's own recording of it (nil
// for none), in the order they were recorded. It returns rec unchanged
// when nothing was stored elsewhere.
func (l *Service) withStored(ctx context.Context, ls *domain.LiveSession, rec *signaling.Recording) (*signaling.Recording, error) {
	segs, err := l.db.ListLiveSegments(ctx, ls.ID)
	if err != nil {
		return rec, err
	}
	l.mu.Lock()
	var foreign []storage.LiveSegment
	for _, s := range segs {
		if !l.stored[s.ObjectKey] {
			foreign = append(foreign, s)
		}
	}
	l.mu.Unlock()
	if len(foreign) == 0 {
		return rec, nil
	}
	dir, err := os.MkdirTemp("", "live-join-")
	if err != nil {
		return rec, err
	}
	var list []signaling.Segment
	count := 0
	for i, s := range foreign {
		p := filepath.Join(dir, "stored-"+strconv.Itoa(i)+filepath.Ext(s.ObjectKey))
		if err := download(ctx, l.objects, s.ObjectKey, p); err != nil {
			os.RemoveAll(dir)
			return rec, err
		}
		list = append(list, signaling.Segment{Path: p, ContentType: s.ContentType, Start: s.StartedAt, Duration: s.Duration})
		count++
	}
	if rec != nil {
		list = append(list, signaling.Segment{Path: rec.Path, ContentType: rec.ContentType, Start: rec.Start, Duration: rec.Duration})
		count += rec.Segments
	}
	joined, err := signaling.JoinSegments(dir, list)
	if err != nil {
		os.RemoveAll(dir)
		return rec, err
	}
	if rec != nil {
		os.RemoveAll(filepath.Dir(rec.Path))
	}
	joined.Segments = count
	return joined, nil
}

// download copies object key to the file path.
func download(ctx context.Context, store objects.ObjectStore, key, path string) error {
	obj, err := store.Open(ctx, key)
	if err != nil {
		return err
	}
	defer obj.Close()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := f.ReadFrom(obj); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// deleteStored removes a finished session's stored segments: the
// recording holds them now. A store that keeps objects locked refuses;
// they are then kept, which loses nothing.
func (l *Service) deleteStored(ctx context.Context, ls *domain.LiveSession) {
	segs, err := l.db.ListLiveSegments(ctx, ls.ID)
	if err != nil {
		return
	}
	l.mu.Lock()
	for _, s := range segs {
		delete(l.stored, s.ObjectKey)
	}
	delete(l.offsets, ls.ID)
	l.mu.Unlock()
	for _, s := range segs {
		if err := l.objects.Delete(ctx, s.ObjectKey); err != nil {
			l.log.Debug("live: remove stored segment", "key", s.ObjectKey, "err", err)
		}
	}
}

// leaveForeign lets go of a session another live replica owns: media this
// process still runs for it (it was taken over while this replica seemed
// dead) is ended, its segments already stored for the owner, and room
// members here are closed so that they reconnect through the owner.
func (l *Service) leaveForeign(ls *domain.LiveSession) {
	if _, err := l.mgr.Status(ls.ID); err == nil {
		l.log.Warn("live: another replica owns a session running here: ending it here", "session", ls.ID, "owner", ls.Owner)
		go func() {
			rec, err := l.mgr.End(ls.ID)
			if err != nil && !errors.Is(err, signaling.ErrNoSession) {
				l.log.Error("live: end a session owned elsewhere", "session", ls.ID, "err", err)
			}
			if rec != nil {
				os.RemoveAll(filepath.Dir(rec.Path))
			}
		}()
	}
	l.mu.Lock()
	r := l.rooms[ls.ID]
	delete(l.rooms, ls.ID)
	l.mu.Unlock()
	if r != nil {
		r.Close()
	}
}
