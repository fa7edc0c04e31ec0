package storage

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"siteinspect/domain"
)

// boolInt is a boolean as the schema stores it (INTEGER 0/1).
func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// AddShotMark stores a guided-filming mark "this is <item>" made during a
// live session by author (an officer, or the case's applicant for the
// phone) at recordingMS: a live annotation tied to the item that becomes an
// annotation on the recording when it is ready. Audited as live.shot.
// An item not on the case's checklist is ErrInvalid (CodeShotItemUnknown).
func (d *DB) AddShotMark(ctx context.Context, cs *domain.Case, ls *domain.LiveSession, author *domain.User, item string, recordingMS int64) (*domain.LiveAnnotation, error) {
	pt, err := d.CasePermitType(ctx, cs)
	if err != nil {
		return nil, err
	}
	text, ok := domain.ChecklistText(pt.Checklist, item)
	if !ok {
		return nil, domain.Coded(domain.ErrInvalid, domain.CodeShotItemUnknown, "this is not an item of the case's checklist")
	}
	in := domain.AnnotationInput{Body: domain.ShotBody(text), ChecklistItem: item, Severity: domain.SeverityInfo}
	return d.addLiveAnnotation(ctx, cs, ls, author, in, recordingMS, true)
}

// addUploadShots stores the shot marks an upload of a live session carried
// (the phone's continuous take), inside the transaction that adds its
// evidence ev: they become annotations on ev when the pipeline has made it
// ready. Marks were checked against the checklist when the upload began.
func addUploadShots(ctx context.Context, tx *wtx, up *domain.Upload, ev *domain.Evidence, checklist []domain.ChecklistItem) error {
	marks, err := domain.ParseShotMarks(up.Metadata[domain.MetaShots], checklist)
	if err != nil || len(marks) == 0 {
		return err
	}
	for _, m := range marks {
		text, _ := domain.ChecklistText(checklist, m.Item)
		if _, err := tx.ExecContext(ctx, `INSERT INTO live_annotations (id, session_id, author_id, body, shape, checklist_item, severity, recording_ms, created_at, shot, evidence_id)
			VALUES (?, ?, ?, ?, NULL, ?, ?, ?, ?, 1, ?)`, domain.NewID(), up.LiveSessionID, up.UserID, domain.ShotBody(text), m.Item, domain.SeverityInfo, m.MS, ms(ev.CreatedAt), ev.ID); err != nil {
			return fmt.Errorf("shot mark of upload %s: %w", up.ID, err)
		}
	}
	_, err = appendAudit(ctx, tx, ev.CreatedAt, Audit{CaseID: up.CaseID, ActorID: up.UserID, Action: "live.shots_uploaded", Target: ev.ID,
		Data: map[string]any{"live_session": up.LiveSessionID, "marks": marks}})
	return err
}

// CaseShots returns the shot marks of all the case's live sessions and
// uploaded takes, in the order they were made.
func (d *DB) CaseShots(ctx context.Context, caseID string) ([]domain.ShotPlace, error) {
	rows, err := d.query(ctx, `SELECT l.checklist_item, l.session_id, COALESCE(l.evidence_id, s.evidence_id), l.annotation_id, l.recording_ms, l.created_at,
		u.id, u.username, u.display_name, u.org
		FROM live_annotations l JOIN live_sessions s ON s.id = l.session_id JOIN users u ON u.id = l.author_id
		WHERE s.case_id = ? AND l.shot = 1 ORDER BY l.created_at, l.recording_ms, l.id`, caseID)
	if err != nil {
		return nil, fmt.Errorf("shots of case %s: %w", caseID, err)
	}
	defer rows.Close()
	list := []domain.ShotPlace{}
	for rows.Next() {
		var p domain.ShotPlace
		var u domain.UserRef
		var ev, ann sql.NullString
		var at int64
		if err := rows.Scan(&p.Item, &p.SessionID, &ev, &ann, &p.MS, &at, &u.ID, &u.Username, &u.DisplayName, &u.Org); err != nil {
			return nil, err
		}
		if ev.Valid {
			p.EvidenceID = &ev.String
		}
		if ann.Valid {
			p.AnnotationID = &ann.String
		}
		p.By, p.At = &u, time.UnixMilli(at).UTC()
		list = append(list, p)
	}
	return list, rows.Err()
}

// AddLivePosition appends the phone's position to an open session's track.
// The first point of a session is audited (live.location_shared: the
// applicant agreed to share it); the points after it are the track itself,
// kept beside the recording, not each an audit event. It reports whether
// this was the first point.
func (d *DB) AddLivePosition(ctx context.Context, ls *domain.LiveSession, p domain.Position) (bool, error) {
	if ls.Status != domain.LiveOpen {
		return false, domain.Coded(domain.ErrInvalidState, "live_ended", "this live inspection has ended")
	}
	if err := domain.CheckPosition(p); err != nil {
		return false, err
	}
	first := false
	err := d.tx(ctx, func(tx *wtx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM live_positions WHERE session_id = ?`, ls.ID).Scan(&n); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO live_positions (session_id, at, lat, lon, accuracy) VALUES (?, ?, ?, ?, ?)`,
			ls.ID, ms(p.At), p.Lat, p.Lon, p.Accuracy); err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
		first = true
		_, err := appendAudit(ctx, tx, p.At, Audit{CaseID: ls.CaseID, Action: "live.location_shared", Target: ls.ID,
			Data: map[string]any{"lat": p.Lat, "lon": p.Lon, "accuracy": p.Accuracy}})
		return err
	})
	if err != nil {
		return false, fmt.Errorf("add position to live session %s: %w", ls.ID, err)
	}
	return first, nil
}

// LiveTrack returns a session's positions in time order.
func (d *DB) LiveTrack(ctx context.Context, sessionID string) ([]domain.Position, error) {
	rows, err := d.query(ctx, `SELECT at, lat, lon, accuracy FROM live_positions WHERE session_id = ? ORDER BY at`, sessionID)
	if err != nil {
		return nil, fmt.Errorf("track of live session %s: %w", sessionID, err)
	}
	defer rows.Close()
	list := []domain.Position{}
	for rows.Next() {
		var p domain.Position
		var at int64
		var acc sql.NullFloat64
		if err := rows.Scan(&at, &p.Lat, &p.Lon, &acc); err != nil {
			return nil, err
		}
		p.At = time.UnixMilli(at).UTC()
		if acc.Valid {
			p.Accuracy = &acc.Float64
		}
		list = append(list, p)
	}
	return list, rows.Err()
}
