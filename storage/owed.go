package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"siteinspect/domain"
	"strings"
	"time"
	"unicode/utf8"
)

// This file is 承诺办 followed through: the applicant's commitment, each
// owed item delivered into its slot by an upload, the inspector's
// acceptance (FulfillOwed, decision.go) or return, and the office's list
// of what is owed and overdue.

// owedColumns are the owed_items columns scanOwed reads, aliased o.
const owedColumns = `o.id, o.text, o.due_at, o.created_at, o.fulfilled_at, o.evidence_id, o.delivered_at, o.returned_at, o.return_reason`

// scanOwed reads owedColumns (and any columns after them into rest).
func scanOwed(row scanner, now time.Time, rest ...any) (*domain.Owed, error) {
	var o domain.Owed
	var due, created int64
	var done, delivered, returned sql.NullInt64
	var ev sql.NullString
	dest := append([]any{&o.ID, &o.Text, &due, &created, &done, &ev, &delivered, &returned, &o.ReturnReason}, rest...)
	if err := row.Scan(dest...); err != nil {
		return nil, fmt.Errorf("scan owed item: %w", err)
	}
	o.DueAt, o.CreatedAt, o.FulfilledAt = time.UnixMilli(due).UTC(), time.UnixMilli(created).UTC(), fromMS(done)
	o.EvidenceID, o.DeliveredAt, o.ReturnedAt = ev.String, fromMS(delivered), fromMS(returned)
	switch {
	case o.FulfilledAt != nil:
		o.State = domain.OwedAccepted
	case ev.Valid:
		o.State = domain.OwedDelivered
	default:
		o.State = domain.OwedOpen
	}
	o.Overdue = o.State == domain.OwedOpen && now.After(o.DueAt)
	return &o, nil
}

// closeIfNothingOwed marks an approved case closed (owed_closed_at) once
// none of its owed items is open, audited as case.owed_closed.
func closeIfNothingOwed(ctx context.Context, tx *wtx, caseID string, by *domain.User, now time.Time) error {
	var open, all int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*), COUNT(*) - COUNT(fulfilled_at) FROM owed_items WHERE case_id = ?`, caseID).Scan(&all, &open); err != nil {
		return fmt.Errorf("count owed items: %w", err)
	}
	if open > 0 || all == 0 {
		return nil
	}
	res, err := tx.ExecContext(ctx, `UPDATE cases SET owed_closed_at = ?, updated_at = ? WHERE id = ? AND status = ? AND owed_closed_at IS NULL`,
		ms(now), ms(now), caseID, string(domain.StatusApproved))
	if err != nil {
		return fmt.Errorf("close case %s: %w", caseID, err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		_, err = appendAudit(ctx, tx, now, Audit{CaseID: caseID, ActorID: by.ID, Action: "case.owed_closed", Data: map[string]any{"owed_items": all}})
	}
	return err
}

// SignCommitment records the applicant's commitment (承诺书) on a draft
// case of a commitment-based permit type: the materials that follow later,
// each due the permit type's supplement days after signing (end of that
// day in loc), the statement as signed, the signer's name and the time.
// Signing again before submission replaces it; each signature is audited
// (case.commitment_signed).
func (d *DB) SignCommitment(ctx context.Context, cs *domain.Case, by *domain.User, loc *time.Location, in domain.CommitmentInput) (*domain.Commitment, error) {
	if err := cs.Authorize(by, domain.ActionSignCommitment); err != nil {
		return nil, err
	}
	pt, err := d.CasePermitType(ctx, cs)
	if err != nil {
		return nil, err
	}
	if !pt.CommitmentAllowed {
		return nil, domain.Coded(domain.ErrInvalid, domain.CodeCommitmentNotAllowed, "this permit type is not commitment-based: hand in every material before submitting")
	}
	name := strings.TrimSpace(in.SignerName)
	switch {
	case !in.Agree:
		return nil, domain.Coded(domain.ErrInvalid, domain.CodeCommitmentInvalid, "agree to the commitment's statement to sign it")
	case name == "" || utf8.RuneCountInString(name) > 100:
		return nil, domain.Coded(domain.ErrInvalid, domain.CodeCommitmentInvalid, "sign with your name (1 to 100 characters)")
	case len(in.Items) == 0:
		return nil, domain.Coded(domain.ErrInvalid, domain.CodeCommitmentInvalid, "name at least one material that follows later")
	}
	now := d.now().UTC().Truncate(time.Millisecond)
	due := domain.DueAt(now, 0, loc).AddDate(0, 0, pt.SupplementDays)
	c := &domain.Commitment{CaseID: cs.ID, Statement: domain.CommitmentStatement, SignerName: name, SignedAt: now,
		Signer: &domain.UserRef{ID: by.ID, Username: by.Username, DisplayName: by.DisplayName, Org: by.Org}}
	seen := map[string]bool{}
	for _, item := range in.Items {
		item = strings.TrimSpace(item)
		var m *domain.Text
		for i := range pt.Materials {
			if pt.Materials[i].ZH == item || strings.EqualFold(pt.Materials[i].EN, item) {
				m = &pt.Materials[i]
			}
		}
		if m == nil {
			return nil, domain.Coded(domain.ErrInvalid, domain.CodeCommitmentInvalid, fmt.Sprintf("%q is not one of this permit type's materials", item))
		}
		if !seen[m.ZH] {
			seen[m.ZH] = true
			c.Items = append(c.Items, domain.CommitmentItem{Material: *m, DueAt: due})
		}
	}
	items, _ := json.Marshal(c.Items)
	err = d.tx(ctx, func(tx *wtx) error {
		if err := lockCaseFor(ctx, tx, cs.ID, by, domain.ActionSignCommitment); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO commitments (case_id, items, statement_zh, statement_en, signer_name, signer_id, signed_at) VALUES (?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (case_id) DO UPDATE SET items = excluded.items, statement_zh = excluded.statement_zh, statement_en = excluded.statement_en,
			signer_name = excluded.signer_name, signer_id = excluded.signer_id, signed_at = excluded.signed_at`,
			cs.ID, string(items), c.Statement.ZH, c.Statement.EN, name, by.ID, ms(now)); err != nil {
			return fmt.Errorf("store commitment: %w", err)
		}
		_, err := appendAudit(ctx, tx, now, Audit{CaseID: cs.ID, ActorID: by.ID, Action: "case.commitment_signed",
			Data: map[string]any{"items": c.Items, "signer_name": name, "statement_zh": c.Statement.ZH, "statement_en": c.Statement.EN}})
		return err
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// Commitment returns the case's signed commitment, or nil when it has none.
func (d *DB) Commitment(ctx context.Context, caseID string) (*domain.Commitment, error) {
	c := domain.Commitment{CaseID: caseID}
	var items string
	var u domain.UserRef
	var at int64
	err := d.queryRow(ctx, `SELECT m.items, m.statement_zh, m.statement_en, m.signer_name, u.id, u.username, u.display_name, u.org, m.signed_at
		FROM commitments m JOIN users u ON u.id = m.signer_id WHERE m.case_id = ?`, caseID).
		Scan(&items, &c.Statement.ZH, &c.Statement.EN, &c.SignerName, &u.ID, &u.Username, &u.DisplayName, &u.Org, &at)
	if err == sql.ErrNoRows {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("commitment of case %s: %w", caseID, err)
	}
	if err := json.Unmarshal([]byte(items), &c.Items); err != nil {
		return nil, fmt.Errorf("commitment items of case %s: %w", caseID, err)
	}
	c.Signer, c.SignedAt = &u, time.UnixMilli(at).UTC()
	return &c, nil
}

// checkOwedUpload refuses, at creation, an upload naming an owed item that
// is not an open slot of its case (another case's, accepted, or delivered
// and waiting for the inspector).
func (d *DB) checkOwedUpload(ctx context.Context, caseID, owedID string) error {
	var n int
	if err := d.queryRow(ctx, `SELECT COUNT(*) FROM owed_items WHERE id = ? AND case_id = ? AND fulfilled_at IS NULL AND evidence_id IS NULL`, owedID, caseID).Scan(&n); err != nil {
		return fmt.Errorf("check owed item %s: %w", owedID, err)
	}
	if n != 1 {
		return domain.Coded(domain.ErrInvalidState, domain.CodeOwedItemNotOpen, "this owed item is not waiting for a material: it was handed in already, or is not on this case")
	}
	return nil
}

// deliverOwed puts evidence ev into its upload's owed slot, inside the
// transaction that adds the evidence. A slot no longer open refuses the
// evidence (CodeNotAcceptingEvidence), so nothing of the upload is kept.
func deliverOwed(ctx context.Context, tx *wtx, up *domain.Upload, ev *domain.Evidence) error {
	owedID := up.Metadata[domain.MetaOwedItem]
	res, err := tx.ExecContext(ctx, `UPDATE owed_items SET evidence_id = ?, delivered_at = ? WHERE id = ? AND case_id = ? AND fulfilled_at IS NULL AND evidence_id IS NULL`,
		ev.ID, ms(ev.CreatedAt), owedID, up.CaseID)
	if err != nil {
		return fmt.Errorf("deliver owed item %s: %w", owedID, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return domain.Coded(domain.ErrInvalidState, domain.CodeNotAcceptingEvidence, "this owed item is not waiting for a material any more")
	}
	_, err = appendAudit(ctx, tx, ev.CreatedAt, Audit{CaseID: up.CaseID, ActorID: up.UserID, Action: "owed.delivered", Target: owedID,
		Data: map[string]any{"evidence_id": ev.ID, "filename": ev.Filename, "sha256": ev.SHA256}})
	return err
}

// ReturnOwed is the inspector returning a delivered material (退回) with
// the reason: the slot opens again for another upload; the returned file
// stays in the case's evidence. Audited as owed.returned.
func (d *DB) ReturnOwed(ctx context.Context, cs *domain.Case, by *domain.User, owedID, reason string) error {
	if err := cs.Authorize(by, domain.ActionConfirmOwed); err != nil {
		return err
	}
	reason = strings.TrimSpace(reason)
	if reason == "" || utf8.RuneCountInString(reason) > 2000 {
		return domain.Coded(domain.ErrInvalid, domain.CodeReturnReasonRequired, "say why the material goes back (1 to 2000 characters)")
	}
	now := d.now().UTC().Truncate(time.Millisecond)
	return d.tx(ctx, func(tx *wtx) error {
		if err := lockCaseFor(ctx, tx, cs.ID, by, domain.ActionConfirmOwed); err != nil {
			return err
		}
		var ev sql.NullString
		var done sql.NullInt64
		err := tx.QueryRowContext(ctx, `SELECT evidence_id, fulfilled_at FROM owed_items WHERE id = ? AND case_id = ?`, owedID, cs.ID).Scan(&ev, &done)
		switch {
		case err == sql.ErrNoRows:
			return domain.Coded(domain.ErrNotFound, "owed_item_not_found", "no owed item "+owedID+" on this case")
		case err != nil:
			return fmt.Errorf("owed item %s: %w", owedID, err)
		case done.Valid || !ev.Valid:
			return domain.Coded(domain.ErrInvalidState, domain.CodeOwedNotDelivered, "only a delivered material that is not yet accepted can be returned")
		}
		if _, err := tx.ExecContext(ctx, `UPDATE owed_items SET evidence_id = NULL, delivered_at = NULL, returned_at = ?, return_reason = ? WHERE id = ?`,
			ms(now), reason, owedID); err != nil {
			return fmt.Errorf("return owed item %s: %w", owedID, err)
		}
		_, err = appendAudit(ctx, tx, now, Audit{CaseID: cs.ID, ActorID: by.ID, Action: "owed.returned", Target: owedID,
			Data: map[string]any{"evidence_id": ev.String, "reason": reason}})
		return err
	})
}

// OfficeOwed lists the open owed items of approved cases and cases waiting
// for a supplement, soonest due first: an administrator's of every office,
// an officer's of their own office; overdueOnly keeps those past due with
// nothing delivered (the escalation list).
func (d *DB) OfficeOwed(ctx context.Context, u *domain.User, overdueOnly bool, limit int) ([]*domain.OwedEntry, error) {
	q := `SELECT ` + owedColumns + `, c.id, c.number, c.permit_type, c.site_name, c.status, c.applicant_org, i.id, i.username, i.display_name, i.org
		FROM owed_items o JOIN cases c ON c.id = o.case_id LEFT JOIN users i ON i.id = c.inspector_id
		WHERE o.fulfilled_at IS NULL AND c.status IN (?, ?)`
	now := d.now().UTC()
	args := []any{string(domain.StatusApproved), string(domain.StatusSupplementRequested)}
	if u.Role != domain.RoleAdmin {
		q += ` AND c.office = ?`
		args = append(args, u.Org)
	}
	if overdueOnly {
		q += ` AND o.evidence_id IS NULL AND o.due_at < ?`
		args = append(args, ms(now))
	}
	q += ` ORDER BY o.due_at, c.number LIMIT ?`
	args = append(args, limit)
	rows, err := d.query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("office owed items: %w", err)
	}
	defer rows.Close()
	out := []*domain.OwedEntry{}
	for rows.Next() {
		var e domain.OwedEntry
		var i [4]sql.NullString
		o, err := scanOwed(rows, now, &e.CaseID, &e.CaseNumber, &e.PermitType, &e.SiteName, &e.CaseStatus, &e.ApplicantOrg, &i[0], &i[1], &i[2], &i[3])
		if err != nil {
			return nil, err
		}
		e.Owed, e.Inspector = *o, refFrom(i)
		out = append(out, &e)
	}
	return out, rows.Err()
}
