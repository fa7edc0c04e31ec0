package storage

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"encoding/json"
	"fmt"
	"siteinspect/domain"
	"strings"
	"time"
	"unicode/utf8"
)

// CreateLiveSession opens a live session on cs for its assigned inspector
// and returns the session and its publish token (shown once). The token is
// valid for ttl from now, or from scheduledAt when that is later, until the
// first publish; after that it serves reconnects until the session ends.
func (d *DB) CreateLiveSession(ctx context.Context, cs *domain.Case, by *domain.User, scheduledAt *time.Time, ttl time.Duration) (*domain.LiveSession, string, error) {
	if err := cs.Authorize(by, domain.ActionStartLive); err != nil {
		return nil, "", err
	}
	now := d.now().UTC().Truncate(time.Millisecond)
	from := now
	if scheduledAt != nil {
		s := scheduledAt.UTC().Truncate(time.Millisecond)
		if s.Before(now.Add(-time.Minute)) || s.After(now.AddDate(0, 3, 0)) {
			return nil, "", domain.Coded(domain.ErrInvalid, "schedule_out_of_range", "scheduled_at must lie between now and three months ahead")
		}
		scheduledAt = &s
		if s.After(from) {
			from = s
		}
	}
	token := randomToken()
	ls := &domain.LiveSession{ID: domain.LiveIDPrefix + domain.NewID(), CaseID: cs.ID, CreatedBy: by.ID, Status: domain.LiveOpen, ScheduledAt: scheduledAt,
		TokenExpiresAt: from.Add(ttl), CreatedAt: now, TokenHash: tokenHash(token)}
	err := d.tx(ctx, func(tx *wtx) error {
		if err := lockCaseFor(ctx, tx, cs.ID, by, domain.ActionStartLive); err != nil {
			return err
		}
		var open int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM live_sessions WHERE case_id = ? AND status = ?`, cs.ID, domain.LiveOpen).Scan(&open); err != nil {
			return err
		}
		if open > 0 {
			return domain.Coded(domain.ErrConflict, "live_already_open", "this case already has an open live inspection; end it first")
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO live_sessions (id, case_id, created_by, status, scheduled_at, token_hash, token_expires_at, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, ls.ID, ls.CaseID, ls.CreatedBy, ls.Status, nullMS(ls.ScheduledAt), ls.TokenHash, ms(ls.TokenExpiresAt), ms(now)); err != nil {
			return err
		}
		data := map[string]any{"token_expires_at": ls.TokenExpiresAt.Format(time.RFC3339)}
		if scheduledAt != nil {
			data["scheduled_at"] = scheduledAt.Format(time.RFC3339)
		}
		tx.joinLink = domain.LiveJoinPath(ls.ID, token)
		_, err := appendAudit(ctx, tx, now, Audit{CaseID: cs.ID, ActorID: by.ID, Action: "live.created", Target: ls.ID, Data: data})
		return err
	})
	if err != nil {
		return nil, "", fmt.Errorf("create live session: %w", err)
	}
	return ls, token, nil
}

const liveColumns = `id, case_id, created_by, status, scheduled_at, token_hash, token_expires_at, started_at, ended_at, end_reason, evidence_id, created_at, owner`

func scanLive(row scanner) (*domain.LiveSession, error) {
	var ls domain.LiveSession
	var sched, started, ended sql.NullInt64
	var expires, created int64
	var ev, owner sql.NullString
	if err := row.Scan(&ls.ID, &ls.CaseID, &ls.CreatedBy, &ls.Status, &sched, &ls.TokenHash, &expires, &started, &ended, &ls.EndReason, &ev, &created, &owner); err != nil {
		return nil, err
	}
	ls.Owner = owner.String
	ls.ScheduledAt, ls.StartedAt, ls.EndedAt = fromMS(sched), fromMS(started), fromMS(ended)
	ls.TokenExpiresAt, ls.CreatedAt = time.UnixMilli(expires).UTC(), time.UnixMilli(created).UTC()
	if ev.Valid {
		ls.EvidenceID = &ev.String
	}
	return &ls, nil
}

// LiveSession returns a live session by id.
func (d *DB) LiveSession(ctx context.Context, id string) (*domain.LiveSession, error) {
	ls, err := scanLive(d.queryRow(ctx, `SELECT `+liveColumns+` FROM live_sessions WHERE id = ?`, id))
	if err != nil {
		return nil, notFound(err, "live session")
	}
	return ls, nil
}

// ListLiveSessions returns a case's live sessions, newest first; with
// caseID "" it returns every open session (for the idle sweeper and
// shutdown).
func (d *DB) ListLiveSessions(ctx context.Context, caseID string) ([]*domain.LiveSession, error) {
	q, arg := `SELECT `+liveColumns+` FROM live_sessions WHERE case_id = ? ORDER BY created_at DESC, id`, caseID
	if caseID == "" {
		q, arg = `SELECT `+liveColumns+` FROM live_sessions WHERE status = ? ORDER BY created_at`, domain.LiveOpen
	}
	return queryAll(ctx, d, "live sessions", scanLive, q, arg)
}

// CheckPublishToken checks token against the session's: it must match, the
// session must be open, and before the first publish it must not have
// expired.
func (d *DB) CheckPublishToken(ls *domain.LiveSession, token string) error {
	if token == "" || subtle.ConstantTimeCompare([]byte(tokenHash(token)), []byte(ls.TokenHash)) != 1 {
		return domain.ErrBadToken
	}
	if ls.Status != domain.LiveOpen {
		return domain.Coded(domain.ErrGone, "live_ended", "this live inspection has ended")
	}
	if ls.StartedAt == nil && !d.now().Before(ls.TokenExpiresAt) {
		return domain.ErrBadToken
	}
	return nil
}

// CheckUploadToken checks token for the phone's own recording, uploaded
// after a call that broke up: it must match, and the session must be open
// (with the same expiry rule as publishing) or have ended less than grace
// ago (the phone may come back online late).
func (d *DB) CheckUploadToken(ls *domain.LiveSession, token string, grace time.Duration) error {
	if ls.Status == domain.LiveOpen {
		return d.CheckPublishToken(ls, token)
	}
	if token == "" || subtle.ConstantTimeCompare([]byte(tokenHash(token)), []byte(ls.TokenHash)) != 1 {
		return domain.ErrBadToken
	}
	if ls.EndedAt == nil || d.now().Sub(*ls.EndedAt) > grace {
		return domain.ErrBadToken
	}
	return nil
}

// MarkLivePublishing records a publish (the first one sets started_at) in
// the audit log; reconnect says whether it replaced a publisher.
func (d *DB) MarkLivePublishing(ctx context.Context, ls *domain.LiveSession, codec string, reconnect bool) error {
	now := d.now().UTC().Truncate(time.Millisecond)
	return d.tx(ctx, func(tx *wtx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE live_sessions SET started_at = COALESCE(started_at, ?) WHERE id = ?`, ms(now), ls.ID); err != nil {
			return err
		}
		if ls.StartedAt == nil {
			ls.StartedAt = &now
		}
		_, err := appendAudit(ctx, tx, now, Audit{CaseID: ls.CaseID, Action: "live.published", Target: ls.ID,
			Data: map[string]any{"codec": codec, "reconnect": reconnect}})
		return err
	})
}

// EndLiveSession closes the session. With a recording it becomes a
// `recording` evidence item of the case (queued for the media pipeline) in
// the same transaction. by is "" when the server ended it (idle, shutdown).
// Ending an ended session returns ErrInvalidState.
func (d *DB) EndLiveSession(ctx context.Context, ls *domain.LiveSession, by, reason string, rec *domain.LiveRecording) (*domain.LiveSession, *domain.Evidence, error) {
	now := d.now().UTC().Truncate(time.Millisecond)
	var ev *domain.Evidence
	err := d.tx(ctx, func(tx *wtx) error {
		var status string
		if err := tx.QueryRowContext(ctx, `SELECT status FROM live_sessions WHERE id = ?`+d.dialect.LockRows(), ls.ID).Scan(&status); err != nil {
			return notFound(err, "live session")
		}
		if status != domain.LiveOpen {
			return domain.Coded(domain.ErrInvalidState, "live_ended", "this live inspection has already ended")
		}
		var evID sql.NullString
		if rec != nil {
			ev = &domain.Evidence{ID: domain.NewID(), CaseID: ls.CaseID, Kind: domain.KindRecording, Filename: rec.Filename, ContentType: rec.ContentType,
				Size: rec.Size, SHA256: rec.SHA256, Status: domain.EvidenceProcessing, UploadedBy: ls.CreatedBy, CreatedAt: now, ObjectKey: rec.ObjectKey}
			err := addEvidence(ctx, tx, ev, "evidence.recorded", map[string]any{"live_session": ls.ID, "segments": rec.Segments, "duration_ms": rec.DurationMS}, domain.ActionAddLiveEvidence, nil)
			switch {
			case refusedEvidence(err):
				// The case no longer takes evidence (withdrawn meanwhile):
				// the session still ends; the refusal is on the record.
				if _, err := appendAudit(ctx, tx, now, Audit{CaseID: ls.CaseID, ActorID: by, Action: "evidence.refused", Target: ls.ID,
					Data: map[string]any{"live_session": ls.ID, "sha256": rec.SHA256, "size": rec.Size, "reason": err.Error()}}); err != nil {
					return err
				}
				ev = nil
			case err != nil:
				return err
			default:
				evID = sql.NullString{String: ev.ID, Valid: true}
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE live_sessions SET status = ?, ended_at = ?, end_reason = ?, evidence_id = ? WHERE id = ?`,
			domain.LiveEnded, ms(now), reason, evID, ls.ID); err != nil {
			return err
		}
		_, err := appendAudit(ctx, tx, now, Audit{CaseID: ls.CaseID, ActorID: by, Action: "live.ended", Target: ls.ID,
			Data: map[string]any{"reason": reason, "evidence_id": evID.String}})
		return err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("end live session: %w", err)
	}
	out := *ls
	out.Status, out.EndedAt, out.EndReason = domain.LiveEnded, &now, reason
	if ev != nil {
		out.EvidenceID = &ev.ID
	}
	return &out, ev, nil
}

// AddObjectEvidence records an already stored object as evidence of a case,
// queued for the media pipeline, with an "evidence.captured" audit event.
func (d *DB) AddObjectEvidence(ctx context.Context, in domain.NewObjectEvidence) (*domain.Evidence, error) {
	ev := &domain.Evidence{ID: domain.NewID(), CaseID: in.CaseID, Kind: in.Kind, Filename: in.Filename, ContentType: in.ContentType, Size: in.Size,
		SHA256: in.SHA256, Status: domain.EvidenceProcessing, UploadedBy: in.By, CreatedAt: d.now().UTC().Truncate(time.Millisecond), ObjectKey: in.ObjectKey}
	err := d.tx(ctx, func(tx *wtx) error {
		return addEvidence(ctx, tx, ev, "evidence.captured", in.Data, domain.ActionAddLiveEvidence, nil)
	})
	if err != nil {
		return nil, fmt.Errorf("add evidence: %w", err)
	}
	return ev, nil
}

// addEvidence inserts ev, queues its media job and appends the audit event
// action, whose data always carries the file's name, kind, size and hash.
// It is the one way evidence joins a case, and it checks, in tx, that the
// policy still grants rule (ActionUpload, ActionDeliverOwed or
// ActionAddLiveEvidence) to by on the case as it is now: its state, and
// by's relation to it (an uploader whose role an admin changed meanwhile
// is refused as the upload's creation would be). A nil by (a token's
// holder, the system) re-checks the state alone.
func addEvidence(ctx context.Context, tx *wtx, ev *domain.Evidence, action string, extra map[string]any, rule domain.Action, by *domain.User) error {
	if err := lockCaseFor(ctx, tx, ev.CaseID, by, rule); err != nil {
		return err
	}
	if err := insertEvidence(ctx, tx, ev); err != nil {
		return err
	}
	if err := enqueueJob(ctx, tx, domain.JobProcessEvidence, ev.ID, ev.CreatedAt); err != nil {
		return err
	}
	if err := timestampEvidence(ctx, tx, ev); err != nil {
		return err
	}
	data := map[string]any{"filename": ev.Filename, "kind": ev.Kind, "size": ev.Size, "sha256": ev.SHA256}
	for k, v := range extra {
		data[k] = v
	}
	_, err := appendAudit(ctx, tx, ev.CreatedAt, Audit{CaseID: ev.CaseID, ActorID: ev.UploadedBy, Action: action, Target: ev.ID, Data: data})
	return err
}

// AddLiveAnnotation stores a live annotation by an officer of the case,
// who must still be one (the policy's join_live, checked again in its
// transaction: the policy's refusal if not).
func (d *DB) AddLiveAnnotation(ctx context.Context, cs *domain.Case, ls *domain.LiveSession, author *domain.User, in domain.AnnotationInput, recordingMS int64) (*domain.LiveAnnotation, error) {
	return d.addLiveAnnotation(ctx, cs, ls, author, in, recordingMS, false)
}

// addLiveAnnotation stores a live annotation, or a shot mark (shot), with
// its audit event in one transaction.
func (d *DB) addLiveAnnotation(ctx context.Context, cs *domain.Case, ls *domain.LiveSession, author *domain.User, in domain.AnnotationInput, recordingMS int64, shot bool) (*domain.LiveAnnotation, error) {
	if ls.Status != domain.LiveOpen {
		return nil, domain.Coded(domain.ErrInvalidState, "live_ended", "this live inspection has ended")
	}
	pt, err := d.CasePermitType(ctx, cs)
	if err != nil {
		return nil, err
	}
	if recordingMS < 0 {
		recordingMS = 0
	}
	in.StartMS, in.EndMS, in.Page = &recordingMS, nil, nil
	// Checked as a note on a recording whose length is not known yet.
	if err := domain.CheckAnnotation(&in, &domain.Evidence{Kind: domain.KindRecording}, pt.Checklist); err != nil {
		return nil, err
	}
	now := d.now().UTC().Truncate(time.Millisecond)
	la := &domain.LiveAnnotation{ID: domain.NewID(), SessionID: ls.ID, Author: &domain.UserRef{ID: author.ID, Username: author.Username, DisplayName: author.DisplayName, Org: author.Org},
		Body: in.Body, Shape: in.Shape, ChecklistItem: in.ChecklistItem, Severity: in.Severity, RecordingMS: recordingMS, CreatedAt: now, Shot: shot}
	var shape any
	if in.Shape != nil {
		shape = in.Shape
	}
	err = d.tx(ctx, func(tx *wtx) error {
		// An officer's note: the room let them in when they joined, which
		// may be minutes ago; the case's officers may have changed since.
		// (A shot mark may be the phone's, whose applicant the table
		// grants nothing live: the room decides those.)
		if !shot {
			if err := lockCaseFor(ctx, tx, cs.ID, author, domain.ActionJoinLive); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO live_annotations (id, session_id, author_id, body, shape, checklist_item, severity, recording_ms, created_at, shot)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, la.ID, ls.ID, author.ID, la.Body, jsonOrNull(shape), la.ChecklistItem, la.Severity, recordingMS, ms(now), boolInt(shot)); err != nil {
			return err
		}
		action := "live.annotation"
		if shot {
			action = "live.shot"
		}
		_, err := appendAudit(ctx, tx, now, Audit{CaseID: cs.ID, ActorID: author.ID, Action: action, Target: la.ID,
			Data: map[string]any{"live_session": ls.ID, "recording_ms": recordingMS, "annotation": in}})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("add live annotation: %w", err)
	}
	return la, nil
}

// ListLiveAnnotations returns a session's live annotations in recording order.
func (d *DB) ListLiveAnnotations(ctx context.Context, sessionID string) ([]*domain.LiveAnnotation, error) {
	rows, err := d.query(ctx, `SELECT l.id, l.session_id, u.id, u.username, u.display_name, u.org, l.body, l.shape, l.checklist_item, l.severity, l.recording_ms, l.created_at, l.annotation_id, l.shot
		FROM live_annotations l JOIN users u ON u.id = l.author_id WHERE l.session_id = ? AND l.evidence_id IS NULL ORDER BY l.recording_ms, l.created_at, l.id`, sessionID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	list := []*domain.LiveAnnotation{}
	for rows.Next() {
		var la domain.LiveAnnotation
		var u domain.UserRef
		var shape, ann sql.NullString
		var created int64
		var shot int
		if err := rows.Scan(&la.ID, &la.SessionID, &u.ID, &u.Username, &u.DisplayName, &u.Org, &la.Body, &shape, &la.ChecklistItem, &la.Severity, &la.RecordingMS, &created, &ann, &shot); err != nil {
			return nil, err
		}
		la.Author, la.CreatedAt, la.Shot = &u, time.UnixMilli(created).UTC(), shot != 0
		if shape.Valid {
			la.Shape = &domain.Shape{}
			if err := json.Unmarshal([]byte(shape.String), la.Shape); err != nil {
				return nil, err
			}
		}
		if ann.Valid {
			la.AnnotationID = &ann.String
		}
		list = append(list, &la)
	}
	return list, rows.Err()
}

// materializeLiveAnnotations turns the live annotations of the session whose
// recording is ev into ordinary annotations on it, at their recording
// position (clamped into the recording) and the frame shown there; and the
// shot marks an upload carried (live_annotations.evidence_id = ev). It runs
// when the pipeline marks the evidence ready, in that transaction.
func materializeLiveAnnotations(ctx context.Context, tx *wtx, ev *domain.Evidence, now time.Time) error {
	rows, err := tx.QueryContext(ctx, `SELECT l.id, l.author_id, l.body, l.shape, l.checklist_item, l.severity, l.recording_ms, s.case_id
		FROM live_annotations l JOIN live_sessions s ON s.id = l.session_id
		WHERE (l.evidence_id = ? OR (l.evidence_id IS NULL AND s.evidence_id = ?)) AND l.annotation_id IS NULL
		ORDER BY l.recording_ms, l.id`, ev.ID, ev.ID)
	if err != nil {
		return err
	}
	type pending struct {
		id, author, body, item, severity, caseID string
		shape                                    sql.NullString
		at                                       int64
	}
	var list []pending
	for rows.Next() {
		var p pending
		if err := rows.Scan(&p.id, &p.author, &p.body, &p.shape, &p.item, &p.severity, &p.at, &p.caseID); err != nil {
			rows.Close()
			return err
		}
		list = append(list, p)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, p := range list {
		at := p.at
		if m := ev.Media; m != nil && m.DurationMS != nil && at > *m.DurationMS {
			at = *m.DurationMS
		}
		var frame *int64
		if m := ev.Media; m != nil && m.FPS != nil && *m.FPS > 0 {
			f := domain.FrameAt(at, *m.FPS)
			frame = &f
		}
		id := domain.NewID()
		if _, err := tx.ExecContext(ctx, `INSERT INTO annotations (id, case_id, evidence_id, author_id, body, start_ms, start_frame, shape, checklist_item, severity, position, version, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?)`, id, p.caseID, ev.ID, p.author, p.body, at, frame, p.shape, p.item, p.severity, at, ms(now), ms(now)); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE live_annotations SET annotation_id = ? WHERE id = ?`, id, p.id); err != nil {
			return err
		}
		if _, err := appendAudit(ctx, tx, now, Audit{CaseID: p.caseID, ActorID: p.author, Action: "annotation.created", Target: id,
			Data: map[string]any{"evidence_id": ev.ID, "live_annotation": p.id, "start_ms": at, "start_frame": frame}}); err != nil {
			return err
		}
	}
	return nil
}

// RecordLiveInstruction validates a text instruction sent in a live
// session's room and appends it to the case's audit log; actorID is "" for
// the applicant's phone (its token, not a login). It returns the trimmed text.
func (d *DB) RecordLiveInstruction(ctx context.Context, ls *domain.LiveSession, actorID, text string, recordingMS int64) (string, error) {
	text = strings.TrimSpace(text)
	if text == "" || utf8.RuneCountInString(text) > 1000 {
		return "", domain.Coded(domain.ErrInvalid, "instruction_length", "an instruction has 1 to 1000 characters")
	}
	_, err := d.RecordAudit(ctx, Audit{CaseID: ls.CaseID, ActorID: actorID, Action: "live.instruction", Target: ls.ID,
		Data: map[string]any{"text": text, "recording_ms": recordingMS}})
	return text, err
}
