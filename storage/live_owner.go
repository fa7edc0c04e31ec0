package storage

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Replica is one running server of several sharing the database: its id,
// the address the other replicas reach it at, and its last heartbeat.
type Replica struct {
	ID          string
	InternalURL string
	HeartbeatAt time.Time
}

// Alive reports whether the replica's heartbeat is younger than expiry at now.
func (r Replica) Alive(now time.Time, expiry time.Duration) bool {
	return now.Sub(r.HeartbeatAt) < expiry
}

// Heartbeat records that replica id is alive and reachable at internalURL.
func (d *DB) Heartbeat(ctx context.Context, id, internalURL string) error {
	_, err := d.exec(ctx, `INSERT INTO replicas (id, internal_url, heartbeat_at) VALUES (?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET internal_url = excluded.internal_url, heartbeat_at = excluded.heartbeat_at`,
		id, internalURL, d.now().UnixMilli())
	if err != nil {
		return fmt.Errorf("heartbeat: %w", err)
	}
	return nil
}

// RetireReplica marks replica id as dead now (its heartbeat expiry ago),
// for a replica that leaves: the others take its sessions over at once.
func (d *DB) RetireReplica(ctx context.Context, id string, expiry time.Duration) error {
	_, err := d.exec(ctx, `UPDATE replicas SET heartbeat_at = ? WHERE id = ?`, d.now().Add(-expiry).UnixMilli(), id)
	if err != nil {
		return fmt.Errorf("retire replica: %w", err)
	}
	return nil
}

// Replicas returns every replica that has ever sent a heartbeat, by id.
func (d *DB) Replicas(ctx context.Context) (map[string]Replica, error) {
	rows, err := d.query(ctx, `SELECT id, internal_url, heartbeat_at FROM replicas`)
	if err != nil {
		return nil, fmt.Errorf("list replicas: %w", err)
	}
	defer rows.Close()
	out := map[string]Replica{}
	for rows.Next() {
		var r Replica
		var at int64
		if err := rows.Scan(&r.ID, &r.InternalURL, &at); err != nil {
			return nil, err
		}
		r.HeartbeatAt = time.UnixMilli(at)
		out[r.ID] = r
	}
	return out, rows.Err()
}

// Replica returns replica id, or ErrNotFound when it never sent a heartbeat.
func (d *DB) Replica(ctx context.Context, id string) (Replica, error) {
	r := Replica{ID: id}
	var at int64
	err := d.queryRow(ctx, `SELECT internal_url, heartbeat_at FROM replicas WHERE id = ?`, id).Scan(&r.InternalURL, &at)
	if err != nil {
		return r, notFound(err, "replica")
	}
	r.HeartbeatAt = time.UnixMilli(at)
	return r, nil
}

// Now is the time the database's heartbeats are written in.
func (d *DB) Now() time.Time { return d.now() }

// ClaimLiveSession makes replica to the owner of open session id if its
// owner is still from ("" for none): a compare-and-swap, so of two
// replicas taking over the same dead owner's session only one succeeds.
// It reports whether this call made the change.
func (d *DB) ClaimLiveSession(ctx context.Context, id, from, to string) (bool, error) {
	var res sql.Result
	var err error
	if from == "" {
		res, err = d.exec(ctx, `UPDATE live_sessions SET owner = ? WHERE id = ? AND status = 'open' AND owner IS NULL`, to, id)
	} else {
		res, err = d.exec(ctx, `UPDATE live_sessions SET owner = ? WHERE id = ? AND status = 'open' AND owner = ?`, to, id, from)
	}
	if err != nil {
		return false, fmt.Errorf("claim live session %s: %w", id, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("claim live session %s: %w", id, err)
	}
	return n == 1, nil
}

// LiveSegment is one finished part of a session's recording, stored in the
// object store when it closed, on whichever replica recorded it.
type LiveSegment struct {
	SessionID   string
	ObjectKey   string
	Replica     string
	ContentType string
	StartedAt   time.Time
	Duration    time.Duration
}

// AddLiveSegment records a stored segment; recording the same key again
// changes nothing.
func (d *DB) AddLiveSegment(ctx context.Context, s LiveSegment) error {
	_, err := d.exec(ctx, `INSERT INTO live_segments (session_id, object_key, replica, content_type, started_at, duration_ms)
		VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (session_id, object_key) DO NOTHING`,
		s.SessionID, s.ObjectKey, s.Replica, s.ContentType, s.StartedAt.UnixMilli(), s.Duration.Milliseconds())
	if err != nil {
		return fmt.Errorf("add live segment: %w", err)
	}
	return nil
}

// ListLiveSegments returns a session's stored segments in recording order.
func (d *DB) ListLiveSegments(ctx context.Context, sessionID string) ([]LiveSegment, error) {
	rows, err := d.query(ctx, `SELECT object_key, replica, content_type, started_at, duration_ms FROM live_segments
		WHERE session_id = ? ORDER BY started_at, object_key`, sessionID)
	if err != nil {
		return nil, fmt.Errorf("list live segments: %w", err)
	}
	defer rows.Close()
	var out []LiveSegment
	for rows.Next() {
		s := LiveSegment{SessionID: sessionID}
		var at, dur int64
		if err := rows.Scan(&s.ObjectKey, &s.Replica, &s.ContentType, &at, &dur); err != nil {
			return nil, err
		}
		s.StartedAt, s.Duration = time.UnixMilli(at).UTC(), time.Duration(dur)*time.Millisecond
		out = append(out, s)
	}
	return out, rows.Err()
}
