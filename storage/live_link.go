package storage

import (
	"context"
	"fmt"
	"time"

	"siteinspect/domain"
)

// ReissueLiveToken gives an open live session a fresh publish token (a new
// join link) and revokes the old one: only the new token's hash is kept, so
// the old link is refused from the next request on. The new token is valid
// for ttl from now (or from the scheduled time, when later) until the
// first publish, as at creation. It returns the session and the token
// (shown once), with a live.link_reissued audit event.
func (d *DB) ReissueLiveToken(ctx context.Context, cs *domain.Case, ls *domain.LiveSession, by *domain.User, ttl time.Duration) (*domain.LiveSession, string, error) {
	if err := cs.Authorize(by, domain.ActionStartLive); err != nil {
		return nil, "", err
	}
	now := d.now().UTC().Truncate(time.Millisecond)
	from := now
	if ls.ScheduledAt != nil && ls.ScheduledAt.After(from) {
		from = *ls.ScheduledAt
	}
	token := randomToken()
	hash, expires := tokenHash(token), from.Add(ttl)
	err := d.tx(ctx, func(tx *wtx) error {
		if err := lockCaseFor(ctx, tx, cs.ID, by, domain.ActionStartLive); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE live_sessions SET token_hash = ?, token_expires_at = ? WHERE id = ? AND case_id = ? AND status = ?`,
			hash, ms(expires), ls.ID, cs.ID, domain.LiveOpen)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return domain.Coded(domain.ErrInvalidState, "live_ended", "this live inspection has already ended")
		}
		_, err = appendAudit(ctx, tx, now, Audit{CaseID: cs.ID, ActorID: by.ID, Action: "live.link_reissued", Target: ls.ID,
			Data: map[string]any{"token_expires_at": expires.Format(time.RFC3339), "old_link_revoked": true}})
		return err
	})
	if err != nil {
		return nil, "", fmt.Errorf("reissue live link %s: %w", ls.ID, err)
	}
	out := *ls
	out.TokenHash, out.TokenExpiresAt = hash, expires
	return &out, token, nil
}
