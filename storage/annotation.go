package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"
)

// Shape is a drawing on a frame, page or photo, in coordinates from 0 to 1
// of its width and height, so it survives any display size.
type Shape struct {
	Type   string       `json:"type"`
	Points [][2]float64 `json:"points"`
	Color  string       `json:"color,omitempty"`
}

// Severities of an annotation.
const (
	SeverityInfo      = "info"
	SeverityConcern   = "concern"
	SeverityViolation = "violation"
)

// Annotation is an officer's note on a piece of evidence: at a moment or
// over a range of a video (milliseconds and the frame the player showed),
// on a PDF page, or on a photo, optionally with a shape and tied to a
// checklist item.
type Annotation struct {
	ID            string     `json:"id"`
	CaseID        string     `json:"case_id"`
	EvidenceID    string     `json:"evidence_id"`
	Author        *UserRef   `json:"author"`
	Body          string     `json:"body"`
	StartMS       *int64     `json:"start_ms"`
	EndMS         *int64     `json:"end_ms"`
	StartFrame    *int64     `json:"start_frame"`
	EndFrame      *int64     `json:"end_frame"`
	Page          *int       `json:"page"`
	Shape         *Shape     `json:"shape"`
	ChecklistItem string     `json:"checklist_item"`
	Severity      string     `json:"severity"`
	Resolved      bool       `json:"resolved"`
	ResolvedAt    *time.Time `json:"resolved_at"`
	Deleted       bool       `json:"deleted,omitempty"`
	Version       int        `json:"version"`
	CreatedAt     time.Time  `json:"created_at"`
	UpdatedAt     time.Time  `json:"updated_at"`
	Replies       []Reply    `json:"replies"`

	// memo is set on the shared annotations of the listing cache
	// (annotation_cache.go), which must not be changed.
	memo *annMemo
}

// Reply is a message in an annotation's thread.
type Reply struct {
	ID        string    `json:"id"`
	Author    *UserRef  `json:"author"`
	Body      string    `json:"body"`
	CreatedAt time.Time `json:"created_at"`
}

// AnnotationInput is what a client sends to create or edit an annotation.
type AnnotationInput struct {
	Body          string `json:"body"`
	StartMS       *int64 `json:"start_ms"`
	EndMS         *int64 `json:"end_ms"`
	StartFrame    *int64 `json:"start_frame"`
	EndFrame      *int64 `json:"end_frame"`
	Page          *int   `json:"page"`
	Shape         *Shape `json:"shape"`
	ChecklistItem string `json:"checklist_item"`
	Severity      string `json:"severity"`
}

// position orders annotations for reading: by time, or by page.
func (in *AnnotationInput) position() int64 {
	switch {
	case in.StartMS != nil:
		return *in.StartMS
	case in.Page != nil:
		return int64(*in.Page)
	}
	return 0
}

var colorRE = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)

// frameAt is the frame shown at ms in a stream of fps frames a second: the
// last one that started at or before it. Half a millisecond of slack
// absorbs a client that rounded the frame's start time to whole ms.
func frameAt(ms int64, fps float64) int64 {
	return int64(math.Floor((float64(ms) + 0.5) * fps / 1000))
}

// checkAnnotation validates in against the evidence it is on and fills in
// frame numbers: a video note needs start_ms, a PDF note a page, a photo
// neither.
func checkAnnotation(in *AnnotationInput, ev *Evidence, checklist []ChecklistItem) error {
	in.Body = strings.TrimSpace(in.Body)
	if in.Body == "" || utf8.RuneCountInString(in.Body) > 5000 {
		return codedf(ErrInvalid, "annotation_body_length", "body must have 1 to 5000 characters")
	}
	if in.Severity == "" {
		in.Severity = SeverityInfo
	}
	if in.Severity != SeverityInfo && in.Severity != SeverityConcern && in.Severity != SeverityViolation {
		return codedf(ErrInvalid, "annotation_severity_invalid", "severity must be info, concern or violation")
	}
	if in.ChecklistItem != "" {
		found := false
		for _, c := range checklist {
			found = found || c.ID == in.ChecklistItem
		}
		if !found {
			return codedf(ErrInvalid, "unknown_checklist_item", fmt.Sprintf("checklist item %q is not on this permit type's checklist", in.ChecklistItem))
		}
	}
	switch ev.Kind {
	case KindVideo, KindRecording:
		if in.Page != nil {
			return codedf(ErrInvalid, "annotation_anchor_invalid", "a video annotation has start_ms, not page")
		}
		if in.StartMS == nil || *in.StartMS < 0 {
			return codedf(ErrInvalid, "annotation_anchor_invalid", "a video annotation needs start_ms ≥ 0")
		}
		if in.EndMS != nil && *in.EndMS <= *in.StartMS {
			return codedf(ErrInvalid, "annotation_anchor_invalid", "end_ms must be after start_ms")
		}
		if m := ev.Media; m != nil && m.DurationMS != nil && (*in.StartMS > *m.DurationMS || in.EndMS != nil && *in.EndMS > *m.DurationMS) {
			return codedf(ErrInvalid, "annotation_anchor_invalid", fmt.Sprintf("the video lasts %d ms", *m.DurationMS))
		}
		in.StartFrame, in.EndFrame = nil, nil
		if m := ev.Media; m != nil && m.FPS != nil && *m.FPS > 0 {
			f := frameAt(*in.StartMS, *m.FPS)
			in.StartFrame = &f
			if in.EndMS != nil {
				e := frameAt(*in.EndMS, *m.FPS)
				in.EndFrame = &e
			}
		}
	case KindPDF:
		if in.StartMS != nil || in.EndMS != nil {
			return codedf(ErrInvalid, "annotation_anchor_invalid", "a PDF annotation has page, not start_ms")
		}
		if in.Page == nil || *in.Page < 1 || ev.Media != nil && ev.Media.Pages != nil && *in.Page > *ev.Media.Pages {
			return codedf(ErrInvalid, "annotation_anchor_invalid", "a PDF annotation needs a page that the PDF has")
		}
		in.StartFrame, in.EndFrame = nil, nil
	default:
		if in.StartMS != nil || in.EndMS != nil || in.Page != nil {
			return codedf(ErrInvalid, "annotation_anchor_invalid", "a photo annotation has neither start_ms nor page")
		}
		in.StartFrame, in.EndFrame = nil, nil
	}
	if s := in.Shape; s != nil {
		want := map[string][2]int{"rect": {2, 2}, "ellipse": {2, 2}, "arrow": {2, 2}, "line": {2, 2}, "point": {1, 1}, "freehand": {2, 2000}}[s.Type]
		if want[0] == 0 {
			return codedf(ErrInvalid, "annotation_shape_invalid", "shape type must be rect, ellipse, arrow, line, freehand or point")
		}
		if len(s.Points) < want[0] || len(s.Points) > want[1] {
			return codedf(ErrInvalid, "annotation_shape_invalid", fmt.Sprintf("a %s has %d to %d points", s.Type, want[0], want[1]))
		}
		for _, p := range s.Points {
			if p[0] < 0 || p[0] > 1 || p[1] < 0 || p[1] > 1 || math.IsNaN(p[0]) || math.IsNaN(p[1]) {
				return codedf(ErrInvalid, "annotation_shape_invalid", "shape points must lie within 0..1 of the width and height")
			}
		}
		if s.Color != "" && !colorRE.MatchString(s.Color) {
			return codedf(ErrInvalid, "annotation_shape_invalid", "shape color must look like #rrggbb")
		}
	}
	return nil
}

func jsonOrNull(v any) sql.NullString {
	if v == nil {
		return sql.NullString{}
	}
	b, _ := json.Marshal(v)
	if string(b) == "null" {
		return sql.NullString{}
	}
	return sql.NullString{String: string(b), Valid: true}
}

// CreateAnnotation adds an annotation by author on ev.
func (d *DB) CreateAnnotation(ctx context.Context, cs *Case, ev *Evidence, author *User, in AnnotationInput) (*Annotation, error) {
	pt, err := d.PermitType(ctx, cs.PermitType)
	if err != nil {
		return nil, err
	}
	if err := cs.Authorize(author, ActionAnnotate); err != nil {
		return nil, err
	}
	if err := checkAnnotation(&in, ev, pt.Checklist); err != nil {
		return nil, err
	}
	id := NewID()
	now := d.now().UTC().Truncate(time.Millisecond)
	var shape any
	if in.Shape != nil {
		shape = in.Shape
	}
	err = d.groupTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if err := lockCaseFor(ctx, tx, cs.ID, ActionAnnotate); err != nil {
			return err
		}
		_, err := d.txExec(ctx, tx, `INSERT INTO annotations (id, case_id, evidence_id, author_id, body, start_ms, end_ms, start_frame, end_frame, page, shape, checklist_item, severity, position, version, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?)`,
			id, cs.ID, ev.ID, author.ID, in.Body, in.StartMS, in.EndMS, in.StartFrame, in.EndFrame, in.Page, jsonOrNull(shape), in.ChecklistItem, in.Severity, in.position(), ms(now), ms(now))
		if err != nil {
			return err
		}
		_, err = d.appendAudit(ctx, tx, now, Audit{CaseID: cs.ID, ActorID: author.ID, Action: "annotation.created", Target: id, Data: map[string]any{"evidence_id": ev.ID, "annotation": in}})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("create annotation: %w", err)
	}
	a := &Annotation{ID: id, CaseID: cs.ID, EvidenceID: ev.ID, Author: &UserRef{ID: author.ID, Username: author.Username, DisplayName: author.DisplayName, Org: author.Org},
		Body: in.Body, StartMS: in.StartMS, EndMS: in.EndMS, StartFrame: in.StartFrame, EndFrame: in.EndFrame, Page: in.Page, Shape: in.Shape,
		ChecklistItem: in.ChecklistItem, Severity: in.Severity, Version: 1, CreatedAt: now, UpdatedAt: now, Replies: []Reply{}}
	// The new row is known whole: the pages that list it next need not
	// read it. The cache gets its own copy, as it would from the database.
	d.annCache.put(annKey{version: 1, updated: ms(now), resolved: -1}, cloneAnnotation(a))
	return a, nil
}

// cloneAnnotation copies a new annotation deeply enough that changing
// either copy leaves the other as it was; its shape goes through JSON as it
// does through the database.
func cloneAnnotation(a *Annotation) *Annotation {
	c := *a
	c.memo = nil
	ref := *a.Author
	c.Author = &ref
	i64 := func(v *int64) *int64 {
		if v == nil {
			return nil
		}
		x := *v
		return &x
	}
	c.StartMS, c.EndMS, c.StartFrame, c.EndFrame = i64(a.StartMS), i64(a.EndMS), i64(a.StartFrame), i64(a.EndFrame)
	if a.Page != nil {
		p := *a.Page
		c.Page = &p
	}
	if a.Shape != nil {
		b, _ := json.Marshal(a.Shape)
		c.Shape = new(Shape)
		json.Unmarshal(b, c.Shape)
	}
	c.Replies = append([]Reply{}, a.Replies...)
	return &c
}

// annotationSelect reads live annotations (its users add "deleted_at IS
// NULL") without their authors, which come from the user cache, with the
// count of the replies of each, so that pages with no threads, the usual case, need
// no second query, and so that the row's cache key (annKey) is read
// together with its content. Every column costs a few calls into SQLite
// per row, so there are no more of them than the API shows.
const annotationSelect = `SELECT a.id, a.case_id, a.evidence_id, a.author_id, a.body, a.start_ms, a.end_ms, a.start_frame, a.end_frame,
	a.page, a.shape, a.checklist_item, a.severity, a.resolved_at, a.version, a.created_at, a.updated_at, a.reply_count
	FROM annotations a`

// annotationKeySelect reads only what says which state of a row it is
// (annKey), for the pages served from the cache.
// Its columns are all in the index annotations_order, so that a page by
// case and evidence never reads the table.
const annotationKeySelect = `SELECT a.id, a.version, a.updated_at, a.resolved_at, a.reply_count FROM annotations a`

// scanAnnotation reads a row of annotationSelect; the author has only its
// id until fillAnnotations.
func scanAnnotation(row interface{ Scan(...any) error }) (a *Annotation, hasReplies bool, err error) {
	a, k, err := scanAnnotationKey(row)
	return a, k.replies > 0, err
}

// scanAnnotationKey is scanAnnotation that also tells the row's annKey.
func scanAnnotationKey(row interface{ Scan(...any) error }) (a *Annotation, k annKey, err error) {
	a = &Annotation{Author: &UserRef{}, Replies: []Reply{}}
	var startMS, endMS, startF, endF, page, resolved sql.NullInt64
	var shape sql.NullString
	var created, updated, replies int64
	err = row.Scan(&a.ID, &a.CaseID, &a.EvidenceID, &a.Author.ID, &a.Body, &startMS, &endMS, &startF, &endF,
		&page, &shape, &a.ChecklistItem, &a.Severity, &resolved, &a.Version, &created, &updated, &replies)
	if err != nil {
		return nil, k, err
	}
	k = annKey{version: a.Version, updated: updated, resolved: -1, replies: replies}
	if resolved.Valid {
		k.resolved = resolved.Int64
	}
	i64 := func(v sql.NullInt64) *int64 {
		if !v.Valid {
			return nil
		}
		x := v.Int64
		return &x
	}
	a.StartMS, a.EndMS, a.StartFrame, a.EndFrame = i64(startMS), i64(endMS), i64(startF), i64(endF)
	if page.Valid {
		p := int(page.Int64)
		a.Page = &p
	}
	if shape.Valid {
		a.Shape = new(Shape)
		json.Unmarshal([]byte(shape.String), a.Shape)
	}
	a.ResolvedAt, a.Resolved = fromMS(resolved), resolved.Valid
	a.CreatedAt, a.UpdatedAt = time.UnixMilli(created).UTC(), time.UnixMilli(updated).UTC()
	return a, k, nil
}

// fillAnnotations puts in the authors of list and the threads of those of
// them that have replies (withReplies).
func (d *DB) fillAnnotations(ctx context.Context, list, withReplies []*Annotation) error {
	ids := make([]string, 0, 4)
	for _, a := range list {
		if len(ids) == 0 || ids[len(ids)-1] != a.Author.ID {
			ids = append(ids, a.Author.ID)
		}
	}
	refs, err := d.userRefs(ctx, ids)
	if err != nil {
		return err
	}
	for _, a := range list {
		a.Author = refs[a.Author.ID]
	}
	return d.loadReplies(ctx, withReplies)
}

// Annotation returns one annotation with its replies, or ErrNotFound (also
// for a deleted one).
func (d *DB) Annotation(ctx context.Context, id string) (*Annotation, error) {
	a, hasReplies, err := scanAnnotation(d.queryRow(ctx, annotationSelect+` WHERE a.id = ? AND a.deleted_at IS NULL`, id))
	if err != nil {
		return nil, notFound(err, "annotation "+id)
	}
	list := []*Annotation{a}
	var threads []*Annotation
	if hasReplies {
		threads = list
	}
	return a, d.fillAnnotations(ctx, list, threads)
}

// AnnotationFilter narrows a listing; zero fields do not filter.
type AnnotationFilter struct {
	CaseID, EvidenceID, ChecklistItem, Severity string
	// Resolved filters by state when not nil.
	Resolved *bool
	// FromPosition keeps annotations at or after this position (ms of a
	// video, page of a PDF): the ones around a playhead.
	FromPosition *int64
	// Limit and Offset page through a long list; Limit 0 means all.
	Limit, Offset int
}

// ListAnnotations returns live annotations in playback order: by evidence,
// then time or page, then creation.
func (d *DB) ListAnnotations(ctx context.Context, f AnnotationFilter) ([]*Annotation, error) {
	where := []string{"a.deleted_at IS NULL"}
	var args []any
	for _, c := range []struct{ col, v string }{{"a.case_id", f.CaseID}, {"a.evidence_id", f.EvidenceID}, {"a.checklist_item", f.ChecklistItem}, {"a.severity", f.Severity}} {
		if c.v != "" {
			where = append(where, c.col+" = ?")
			args = append(args, c.v)
		}
	}
	if f.FromPosition != nil {
		where = append(where, "a.position >= ?")
		args = append(args, *f.FromPosition)
	}
	if f.Resolved != nil {
		if *f.Resolved {
			where = append(where, "a.resolved_at IS NOT NULL")
		} else {
			where = append(where, "a.resolved_at IS NULL")
		}
	}
	q := annotationKeySelect + ` WHERE ` + strings.Join(where, " AND ") + ` ORDER BY a.case_id, a.evidence_id, a.position, a.created_at, a.id`
	if f.Limit > 0 {
		q += ` LIMIT ? OFFSET ?`
		args = append(args, f.Limit, f.Offset)
	}
	select {
	case d.heavyReads <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-d.heavyReads }()
	rows, err := d.query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list annotations: %w", err)
	}
	defer rows.Close()
	n := min(f.Limit, 1000)
	ids, keys := make([]string, 0, n), make([]annKey, 0, n)
	for rows.Next() {
		var id string
		var k annKey
		var resolved sql.NullInt64
		if err := rows.Scan(&id, &k.version, &k.updated, &resolved, &k.replies); err != nil {
			return nil, err
		}
		k.resolved = -1
		if resolved.Valid {
			k.resolved = resolved.Int64
		}
		ids, keys = append(ids, id), append(keys, k)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows.Close()
	out := make([]*Annotation, len(ids))
	if hits := d.annCache.get(ids, keys, out); hits == len(ids) {
		return out, nil
	}
	var missing []string
	for i, a := range out {
		if a == nil {
			missing = append(missing, ids[i])
		}
	}
	read, err := d.readAnnotations(ctx, missing)
	if err != nil {
		return nil, err
	}
	// A row that changed since the page's query comes as it is now; one
	// deleted since is left out.
	list := out[:0]
	for i, a := range out {
		if a == nil {
			a = read[ids[i]]
		}
		if a != nil {
			list = append(list, a)
		}
	}
	return list, nil
}

// annotationsByID is how many rows readAnnotations asks for at a time: a
// single prepared query, padded with repeated ids.
const annotationsByID = 50

var annotationsByIDQuery = annotationSelect + ` WHERE a.deleted_at IS NULL AND a.id IN (?` + strings.Repeat(`, ?`, annotationsByID-1) + `)`

// readAnnotations reads the live annotations of ids whole, with their
// authors and threads, and caches them.
func (d *DB) readAnnotations(ctx context.Context, ids []string) (map[string]*Annotation, error) {
	got := make(map[string]*Annotation, len(ids))
	list := make([]*Annotation, 0, len(ids))
	keys := make([]annKey, 0, len(ids))
	var threads []*Annotation
	args := make([]any, annotationsByID)
	for len(ids) > 0 {
		chunk := ids[:min(len(ids), annotationsByID)]
		ids = ids[len(chunk):]
		for i := range args {
			args[i] = chunk[min(i, len(chunk)-1)]
		}
		err := func() error {
			rows, err := d.query(ctx, annotationsByIDQuery, args...)
			if err != nil {
				return fmt.Errorf("list annotations: %w", err)
			}
			defer rows.Close()
			for rows.Next() {
				a, k, err := scanAnnotationKey(rows)
				if err != nil {
					return err
				}
				if got[a.ID] != nil {
					continue
				}
				got[a.ID] = a
				list, keys = append(list, a), append(keys, k)
				if k.replies > 0 {
					threads = append(threads, a)
				}
			}
			return rows.Err()
		}()
		if err != nil {
			return nil, err
		}
	}
	if err := d.fillAnnotations(ctx, list, threads); err != nil {
		return nil, err
	}
	for i, a := range list {
		d.annCache.put(keys[i], a)
	}
	return got, nil
}

// loadReplies fills in the threads of list in one query.
func (d *DB) loadReplies(ctx context.Context, list []*Annotation) error {
	if len(list) == 0 {
		return nil
	}
	byID := map[string]*Annotation{}
	for _, a := range list {
		byID[a.ID] = a
	}
	q := `SELECT r.id, r.annotation_id, u.id, u.username, u.display_name, u.org, r.body, r.created_at FROM annotation_replies r JOIN users u ON u.id = r.author_id`
	var args []any
	if len(list) <= 200 {
		q += ` WHERE r.annotation_id IN (?` + strings.Repeat(`, ?`, len(list)-1) + `)`
		for _, a := range list {
			args = append(args, a.ID)
		}
	} else {
		q += ` WHERE r.annotation_id IN (SELECT id FROM annotations WHERE case_id = ?)`
		args = append(args, list[0].CaseID)
	}
	rows, err := d.query(ctx, q+` ORDER BY r.created_at, r.id`, args...)
	if err != nil {
		return fmt.Errorf("replies: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var r Reply
		var aid string
		var u UserRef
		var created int64
		if err := rows.Scan(&r.ID, &aid, &u.ID, &u.Username, &u.DisplayName, &u.Org, &r.Body, &created); err != nil {
			return err
		}
		r.Author, r.CreatedAt = &u, time.UnixMilli(created).UTC()
		if a := byID[aid]; a != nil {
			a.Replies = append(a.Replies, r)
		}
	}
	return rows.Err()
}

// UpdateAnnotation replaces an annotation's content if its version is
// still ifVersion (ErrPrecondition otherwise), keeping the old version.
func (d *DB) UpdateAnnotation(ctx context.Context, a *Annotation, ev *Evidence, cs *Case, editor *User, ifVersion int, in AnnotationInput) (*Annotation, error) {
	pt, err := d.PermitType(ctx, cs.PermitType)
	if err != nil {
		return nil, err
	}
	if err := checkAnnotation(&in, ev, pt.Checklist); err != nil {
		return nil, err
	}
	now := d.now().UTC().Truncate(time.Millisecond)
	var shape any
	if in.Shape != nil {
		shape = in.Shape
	}
	err = d.tx(ctx, func(tx *sql.Tx) error {
		if err := lockCaseFor(ctx, tx, a.CaseID, ActionAnnotate); err != nil {
			return err
		}
		// The conditional UPDATE first: of two edits of one version, the
		// second finds the version moved on (412), rather than colliding
		// on the kept copy of that version.
		res, err := tx.ExecContext(ctx, `UPDATE annotations SET body = ?, start_ms = ?, end_ms = ?, start_frame = ?, end_frame = ?, page = ?, shape = ?, checklist_item = ?, severity = ?,
			position = ?, version = version + 1, updated_at = ? WHERE id = ? AND version = ? AND deleted_at IS NULL`,
			in.Body, in.StartMS, in.EndMS, in.StartFrame, in.EndFrame, in.Page, jsonOrNull(shape), in.ChecklistItem, in.Severity, in.position(), ms(now), a.ID, ifVersion)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return codedf(ErrPrecondition, "annotation_changed", fmt.Sprintf("the annotation is at version %d, not %d; reload it", a.Version, ifVersion))
		}
		old, _ := json.Marshal(a)
		if _, err := tx.ExecContext(ctx, `INSERT INTO annotation_versions (annotation_id, version, content, edited_by, edited_at) VALUES (?, ?, ?, ?, ?)`,
			a.ID, ifVersion, string(old), editor.ID, ms(now)); err != nil {
			return err
		}
		_, err = appendAudit(ctx, tx, now, Audit{CaseID: a.CaseID, ActorID: editor.ID, Action: "annotation.edited", Target: a.ID, Data: map[string]any{"version": ifVersion + 1, "annotation": in}})
		return err
	})
	d.annCache.drop(a.ID) // stale by its key already; this frees it sooner
	if err != nil {
		return nil, err
	}
	return d.Annotation(ctx, a.ID)
}

// AnnotationVersions returns the earlier versions of an annotation, oldest
// first, as they were stored.
func (d *DB) AnnotationVersions(ctx context.Context, id string) ([]json.RawMessage, error) {
	rows, err := d.query(ctx, `SELECT content FROM annotation_versions WHERE annotation_id = ? ORDER BY version`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []json.RawMessage{}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, json.RawMessage(s))
	}
	return out, rows.Err()
}

// DeleteAnnotation hides an annotation; the row stays for the record.
func (d *DB) DeleteAnnotation(ctx context.Context, a *Annotation, by *User) error {
	now := d.now().UTC()
	defer d.annCache.drop(a.ID)
	return d.tx(ctx, func(tx *sql.Tx) error {
		if err := lockCaseFor(ctx, tx, a.CaseID, ActionAnnotate); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE annotations SET deleted_at = ?, deleted_by = ?, updated_at = ? WHERE id = ? AND deleted_at IS NULL`, ms(now), by.ID, ms(now), a.ID); err != nil {
			return err
		}
		_, err := appendAudit(ctx, tx, now, Audit{CaseID: a.CaseID, ActorID: by.ID, Action: "annotation.deleted", Target: a.ID})
		return err
	})
}

// ResolveAnnotation marks an annotation resolved, or open again.
func (d *DB) ResolveAnnotation(ctx context.Context, a *Annotation, by *User, resolved bool) (*Annotation, error) {
	now := d.now().UTC().Truncate(time.Millisecond)
	err := d.tx(ctx, func(tx *sql.Tx) error {
		if err := lockCaseFor(ctx, tx, a.CaseID, ActionAnnotate); err != nil {
			return err
		}
		var at sql.NullInt64
		var who sql.NullString
		action := "annotation.reopened"
		if resolved {
			at, who, action = sql.NullInt64{Int64: ms(now), Valid: true}, sql.NullString{String: by.ID, Valid: true}, "annotation.resolved"
		}
		if _, err := tx.ExecContext(ctx, `UPDATE annotations SET resolved_at = ?, resolved_by = ?, updated_at = ? WHERE id = ?`, at, who, ms(now), a.ID); err != nil {
			return err
		}
		_, err := appendAudit(ctx, tx, now, Audit{CaseID: a.CaseID, ActorID: by.ID, Action: action, Target: a.ID})
		return err
	})
	d.annCache.drop(a.ID) // stale by its key already; this frees it sooner
	if err != nil {
		return nil, err
	}
	return d.Annotation(ctx, a.ID)
}

// AddReply appends a message to an annotation's thread.
func (d *DB) AddReply(ctx context.Context, a *Annotation, by *User, body string) (*Reply, error) {
	body = strings.TrimSpace(body)
	if body == "" || utf8.RuneCountInString(body) > 5000 {
		return nil, codedf(ErrInvalid, "annotation_body_length", "body must have 1 to 5000 characters")
	}
	r := &Reply{ID: NewID(), Author: &UserRef{ID: by.ID, Username: by.Username, DisplayName: by.DisplayName, Org: by.Org}, Body: body, CreatedAt: d.now().UTC().Truncate(time.Millisecond)}
	err := d.tx(ctx, func(tx *sql.Tx) error {
		if err := lockCaseFor(ctx, tx, a.CaseID, ActionAnnotate); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO annotation_replies (id, annotation_id, author_id, body, created_at) VALUES (?, ?, ?, ?, ?)`, r.ID, a.ID, by.ID, body, ms(r.CreatedAt)); err != nil {
			return err
		}
		_, err := appendAudit(ctx, tx, r.CreatedAt, Audit{CaseID: a.CaseID, ActorID: by.ID, Action: "annotation.replied", Target: a.ID, Data: map[string]any{"reply_id": r.ID, "body": body}})
		return err
	})
	d.annCache.drop(a.ID)
	if err != nil {
		return nil, err
	}
	return r, nil
}
