package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"siteinspect/domain"
)

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
func (d *DB) CreateAnnotation(ctx context.Context, cs *domain.Case, ev *domain.Evidence, author *domain.User, in domain.AnnotationInput) (*domain.Annotation, error) {
	pt, err := d.CasePermitType(ctx, cs)
	if err != nil {
		return nil, err
	}
	if err := cs.Authorize(author, domain.ActionAnnotate); err != nil {
		return nil, err
	}
	if err := domain.CheckAnnotation(&in, ev, pt.Checklist); err != nil {
		return nil, err
	}
	id := domain.NewID()
	now := d.now().UTC().Truncate(time.Millisecond)
	var shape any
	if in.Shape != nil {
		shape = in.Shape
	}
	err = d.groupTx(ctx, cs.ID, func(ctx context.Context, tx *wtx) error {
		// One statement checks the case's state and the author's
		// relation to it (still its inspector or reviewer), takes its
		// row's lock until the commit (LockRows; on SQLite the writer
		// excludes everyone already) and inserts: lockCaseFor's rule
		// without its UPDATE, one round trip less for each write of a
		// batch.
		cond, args := caseGrant(author, domain.ActionAnnotate, append(annotationArgs(id, cs.ID, ev.ID, author.ID, in, shape, now), cs.ID))
		if tx.notes != nil {
			// A batch on PostgreSQL: its creates go in together at its
			// end, under the same rule (flushNotes).
			tx.notes.add(cs.ID, annotationFromCase+cond, args)
		} else {
			res, err := d.txExec(ctx, tx, annotationInsertSQL+cond+d.dialect.LockRows(), args...)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n != 1 {
				return caseRefusal(ctx, tx, cs.ID, author, domain.ActionAnnotate)
			}
		}
		_, err := appendAudit(ctx, tx, now, Audit{CaseID: cs.ID, ActorID: author.ID, Action: "annotation.created", Target: id, Data: map[string]any{"evidence_id": ev.ID, "annotation": in}})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("create annotation: %w", err)
	}
	a := &domain.Annotation{ID: id, CaseID: cs.ID, EvidenceID: ev.ID, Author: &domain.UserRef{ID: author.ID, Username: author.Username, DisplayName: author.DisplayName, Org: author.Org},
		Body: in.Body, StartMS: in.StartMS, EndMS: in.EndMS, StartFrame: in.StartFrame, EndFrame: in.EndFrame, Page: in.Page, Shape: in.Shape,
		ChecklistItem: in.ChecklistItem, Severity: in.Severity, Version: 1, CreatedAt: now, UpdatedAt: now, Replies: []domain.Reply{}}
	// The new row is known whole: the pages that list it next need not
	// read it. The cache gets its own copy, as it would from the database.
	d.annCache.put(annKey{version: 1, updated: ms(now), resolved: -1}, domain.CloneAnnotation(a))
	return a, nil
}

// annotationInsertSQL inserts an annotation if the policy lets its author
// annotate its case (a row of cases c locked with the dialect's LockRows):
// its arguments are annotationArgs, then the case's id and the condition's
// (caseGrant).
const annotationInsertSQL = annotationInsertInto + annotationFromCase

// annotationInsertInto and annotationFromCase are annotationInsertSQL's
// two halves: flushNotes puts several of the second, joined by UNION ALL,
// after one of the first.
const (
	annotationInsertInto = `INSERT INTO annotations (id, case_id, evidence_id, author_id, body, start_ms, end_ms, start_frame, end_frame, page, shape, checklist_item, severity, position, version, created_at, updated_at)
	`
	annotationFromCase = `SELECT ?, ?, ?, ?, CAST(? AS TEXT), CAST(? AS BIGINT), CAST(? AS BIGINT), CAST(? AS BIGINT), CAST(? AS BIGINT), CAST(? AS BIGINT), CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS BIGINT), 1, CAST(? AS BIGINT), CAST(? AS BIGINT)
	FROM cases c WHERE c.id = ? AND `
)

// noteInserts are the annotation creates of one batch on PostgreSQL
// (runBatch), which flushNotes inserts with two statements at the batch's
// end instead of one round trip each while the batch holds the process's
// batch lead: on two cores shared with the database's processes, each
// round trip was 0.2–0.4 ms (docs/BENCHMARKS.md).
type noteInserts struct {
	cases   []string // the case of each create
	selects []string // annotationFromCase and the rule's condition, each
	args    []any    // all of their arguments, in order
}

func (n *noteInserts) add(caseID, sel string, args []any) {
	n.cases = append(n.cases, caseID)
	n.selects = append(n.selects, sel)
	n.args = append(n.args, args...)
}

// errNotesRefused is a batch's folded insert that inserted fewer rows than
// it had creates: a case's state or an author's relation changed after
// its request was checked. runBatch then runs each write alone, where the
// refused one gets its own code (caseRefusal).
var errNotesRefused = errors.New("a batched annotation create was refused")

// flushNotes inserts tx's batched creates: it locks their cases' rows in
// id order, as a create alone does with LockRows (so no decision or
// reassignment commits between the rule's check and the commit), then
// inserts them all with one INSERT … SELECT … UNION ALL …, each arm the
// statement a create alone runs, its rule included. If any arm inserts
// nothing, the batch fails with errNotesRefused.
func (d *DB) flushNotes(ctx context.Context, tx *wtx) error {
	n := tx.notes
	if n == nil || len(n.selects) == 0 {
		return nil
	}
	ids := slices.Clone(n.cases)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	lockArgs := make([]any, len(ids))
	for i, id := range ids {
		lockArgs[i] = id
	}
	rows, err := tx.QueryContext(ctx, `SELECT id FROM cases WHERE id IN (`+placeholders(len(ids))+`) ORDER BY id`+d.dialect.LockRows(), lockArgs...)
	if err != nil {
		return fmt.Errorf("lock the cases: %w", err)
	}
	for rows.Next() {
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("lock the cases: %w", err)
	}
	res, err := tx.ExecContext(ctx, annotationInsertInto+strings.Join(n.selects, "\n\tUNION ALL "), n.args...)
	if err != nil {
		return err
	}
	if got, err := res.RowsAffected(); err != nil || got != int64(len(n.selects)) {
		return errNotesRefused
	}
	return nil
}

// placeholders is n parameters for an IN list: "?, ?, …" (n ≥ 1).
func placeholders(n int) string { return "?" + strings.Repeat(", ?", n-1) }

func annotationArgs(id, caseID, evidenceID, authorID string, in domain.AnnotationInput, shape any, now time.Time) []any {
	return []any{id, caseID, evidenceID, authorID, in.Body, in.StartMS, in.EndMS, in.StartFrame, in.EndFrame, in.Page, jsonOrNull(shape), in.ChecklistItem, in.Severity, in.Position(), ms(now), ms(now)}
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
func scanAnnotation(row scanner) (a *domain.Annotation, hasReplies bool, err error) {
	a, k, err := scanAnnotationKey(row)
	return a, k.replies > 0, err
}

// scanAnnotationKey is scanAnnotation that also tells the row's annKey.
func scanAnnotationKey(row scanner) (a *domain.Annotation, k annKey, err error) {
	a = &domain.Annotation{Author: &domain.UserRef{}, Replies: []domain.Reply{}}
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
		a.Shape = new(domain.Shape)
		json.Unmarshal([]byte(shape.String), a.Shape)
	}
	a.ResolvedAt, a.Resolved = fromMS(resolved), resolved.Valid
	a.CreatedAt, a.UpdatedAt = time.UnixMilli(created).UTC(), time.UnixMilli(updated).UTC()
	return a, k, nil
}

// fillAnnotations puts in the authors of list and the threads of those of
// them that have replies (withReplies).
func (d *DB) fillAnnotations(ctx context.Context, list, withReplies []*domain.Annotation) error {
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
func (d *DB) Annotation(ctx context.Context, id string) (*domain.Annotation, error) {
	a, hasReplies, err := scanAnnotation(d.queryRow(ctx, annotationSelect+` WHERE a.id = ? AND a.deleted_at IS NULL`, id))
	if err != nil {
		return nil, notFound(err, "annotation "+id)
	}
	list := []*domain.Annotation{a}
	var threads []*domain.Annotation
	if hasReplies {
		threads = list
	}
	return a, d.fillAnnotations(ctx, list, threads)
}

// annotationPageQuery is ListAnnotations' query of the keys of f's
// annotations, in order. With a case (and an item of it) it is served by
// the covering index annotations_order.
func annotationPageQuery(f domain.AnnotationFilter) (string, []any) {
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
	return q, args
}

// ListAnnotations returns live annotations in playback order: by evidence,
// then time or page, then creation.
func (d *DB) ListAnnotations(ctx context.Context, f domain.AnnotationFilter) ([]*domain.Annotation, error) {
	q, args := annotationPageQuery(f)
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
	out := make([]*domain.Annotation, len(ids))
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

var annotationsByIDQuery = annotationSelect + ` WHERE a.deleted_at IS NULL AND a.id IN (` + placeholders(annotationsByID) + `)`

// readAnnotations reads the live annotations of ids whole, with their
// authors and threads, and caches them.
func (d *DB) readAnnotations(ctx context.Context, ids []string) (map[string]*domain.Annotation, error) {
	got := make(map[string]*domain.Annotation, len(ids))
	list := make([]*domain.Annotation, 0, len(ids))
	keys := make([]annKey, 0, len(ids))
	var threads []*domain.Annotation
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
func (d *DB) loadReplies(ctx context.Context, list []*domain.Annotation) error {
	if len(list) == 0 {
		return nil
	}
	byID := map[string]*domain.Annotation{}
	for _, a := range list {
		byID[a.ID] = a
	}
	q := `SELECT r.id, r.annotation_id, u.id, u.username, u.display_name, u.org, r.body, r.created_at FROM annotation_replies r JOIN users u ON u.id = r.author_id`
	var args []any
	if len(list) <= 200 {
		q += ` WHERE r.annotation_id IN (` + placeholders(len(list)) + `)`
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
		var r domain.Reply
		var aid string
		var u domain.UserRef
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
func (d *DB) UpdateAnnotation(ctx context.Context, a *domain.Annotation, ev *domain.Evidence, cs *domain.Case, editor *domain.User, ifVersion int, in domain.AnnotationInput) (*domain.Annotation, error) {
	pt, err := d.CasePermitType(ctx, cs)
	if err != nil {
		return nil, err
	}
	if err := domain.CheckAnnotation(&in, ev, pt.Checklist); err != nil {
		return nil, err
	}
	now := d.now().UTC().Truncate(time.Millisecond)
	var shape any
	if in.Shape != nil {
		shape = in.Shape
	}
	err = d.tx(ctx, func(tx *wtx) error {
		if err := lockCaseFor(ctx, tx, a.CaseID, editor, domain.ActionAnnotate); err != nil {
			return err
		}
		// The conditional UPDATE first: of two edits of one version, the
		// second finds the version moved on (412), rather than colliding
		// on the kept copy of that version.
		res, err := tx.ExecContext(ctx, `UPDATE annotations SET body = ?, start_ms = ?, end_ms = ?, start_frame = ?, end_frame = ?, page = ?, shape = ?, checklist_item = ?, severity = ?,
			position = ?, version = version + 1, updated_at = ? WHERE id = ? AND version = ? AND deleted_at IS NULL`,
			in.Body, in.StartMS, in.EndMS, in.StartFrame, in.EndFrame, in.Page, jsonOrNull(shape), in.ChecklistItem, in.Severity, in.Position(), ms(now), a.ID, ifVersion)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return domain.Coded(domain.ErrPrecondition, "annotation_changed", fmt.Sprintf("the annotation is at version %d, not %d; reload it", a.Version, ifVersion))
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
//
// ifVersion, when not 0, is the version the caller read (If-Match): an
// annotation edited since is not deleted (ErrPrecondition,
// annotation_changed), so that nobody deletes an edit they never saw.
func (d *DB) DeleteAnnotation(ctx context.Context, a *domain.Annotation, by *domain.User, ifVersion int) error {
	now := d.now().UTC()
	defer d.annCache.drop(a.ID)
	return d.tx(ctx, func(tx *wtx) error {
		if err := lockCaseFor(ctx, tx, a.CaseID, by, domain.ActionAnnotate); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE annotations SET deleted_at = ?, deleted_by = ?, updated_at = ? WHERE id = ? AND deleted_at IS NULL AND (? = 0 OR version = ?)`,
			ms(now), by.ID, ms(now), a.ID, ifVersion, ifVersion)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			var version int
			var deleted sql.NullInt64
			if err := tx.QueryRowContext(ctx, `SELECT version, deleted_at FROM annotations WHERE id = ?`, a.ID).Scan(&version, &deleted); err != nil {
				return notFound(err, "annotation "+a.ID)
			}
			if deleted.Valid {
				return fmt.Errorf("annotation %s: %w", a.ID, domain.ErrNotFound)
			}
			return domain.Coded(domain.ErrPrecondition, "annotation_changed", fmt.Sprintf("the annotation is at version %d, not %d; reload it", version, ifVersion))
		}
		_, err = appendAudit(ctx, tx, now, Audit{CaseID: a.CaseID, ActorID: by.ID, Action: "annotation.deleted", Target: a.ID})
		return err
	})
}

// ResolveAnnotation marks an annotation resolved, or open again.
func (d *DB) ResolveAnnotation(ctx context.Context, a *domain.Annotation, by *domain.User, resolved bool) (*domain.Annotation, error) {
	now := d.now().UTC().Truncate(time.Millisecond)
	err := d.tx(ctx, func(tx *wtx) error {
		if err := lockCaseFor(ctx, tx, a.CaseID, by, domain.ActionAnnotate); err != nil {
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
func (d *DB) AddReply(ctx context.Context, a *domain.Annotation, by *domain.User, body string) (*domain.Reply, error) {
	body = strings.TrimSpace(body)
	if body == "" || utf8.RuneCountInString(body) > 5000 {
		return nil, domain.Coded(domain.ErrInvalid, "annotation_body_length", "body must have 1 to 5000 characters")
	}
	r := &domain.Reply{ID: domain.NewID(), Author: &domain.UserRef{ID: by.ID, Username: by.Username, DisplayName: by.DisplayName, Org: by.Org}, Body: body, CreatedAt: d.now().UTC().Truncate(time.Millisecond)}
	err := d.tx(ctx, func(tx *wtx) error {
		if err := lockCaseFor(ctx, tx, a.CaseID, by, domain.ActionAnnotate); err != nil {
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
