package storage

import (
	"context"
	"fmt"
	"siteinspect/domain"
	"time"
)

// RemindOverdueOwed records a reminder (owed.reminder, in the case's audit
// chain, which the applicant's progress shows) for each owed item past its
// due date with nothing delivered, on an approved case or one waiting for a
// supplement, at most once per every. Each reminder is claimed by a
// compare-and-swap on reminded_at, so replicas sweeping at once send one.
// It returns how many it recorded.
func (d *DB) RemindOverdueOwed(ctx context.Context, every time.Duration) (int, error) {
	now := d.now().UTC().Truncate(time.Millisecond)
	rows, err := d.query(ctx, `SELECT o.id, o.case_id, o.text, o.due_at, o.reminded_at IS NULL FROM owed_items o JOIN cases c ON c.id = o.case_id
		WHERE o.fulfilled_at IS NULL AND o.evidence_id IS NULL AND o.due_at < ? AND c.status IN (?, ?)
		AND (o.reminded_at IS NULL OR o.reminded_at <= ?) ORDER BY o.due_at LIMIT 1000`,
		ms(now), string(domain.StatusApproved), string(domain.StatusSupplementRequested), ms(now.Add(-every)))
	if err != nil {
		return 0, fmt.Errorf("overdue owed items: %w", err)
	}
	type item struct {
		id, caseID, text string
		due              int64
		first            bool
	}
	var due []item
	for rows.Next() {
		var it item
		if err := rows.Scan(&it.id, &it.caseID, &it.text, &it.due, &it.first); err != nil {
			rows.Close()
			return 0, fmt.Errorf("scan overdue owed item: %w", err)
		}
		due = append(due, it)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("overdue owed items: %w", err)
	}
	sent := 0
	for _, it := range due {
		err := d.tx(ctx, func(tx *wtx) error {
			res, err := tx.ExecContext(ctx, `UPDATE owed_items SET reminded_at = ? WHERE id = ? AND fulfilled_at IS NULL AND evidence_id IS NULL AND (reminded_at IS NULL OR reminded_at <= ?)`,
				ms(now), it.id, ms(now.Add(-every)))
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n != 1 {
				return nil // another replica's, or delivered meanwhile
			}
			sent++
			dueAt := time.UnixMilli(it.due).UTC()
			_, err = appendAudit(ctx, tx, now, Audit{CaseID: it.caseID, Action: "owed.reminder", Target: it.id,
				Data: map[string]any{"text": it.text, "due_at": dueAt.Format(time.RFC3339), "days_overdue": int(now.Sub(dueAt).Hours() / 24), "first": it.first}})
			return err
		})
		if err != nil {
			return sent, fmt.Errorf("remind owed item %s: %w", it.id, err)
		}
	}
	return sent, nil
}
