package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"siteinspect/domain"
	"slices"
)

// MarkLive records that upload id was created with live session sessionID's
// publish token (the phone's own recording), so that it joins the case
// under the rule for live material rather than the company's. Until it is
// marked the stricter rule holds, so a crash in between fails safe.
func (s *Uploads) MarkLive(ctx context.Context, id, sessionID string) error {
	_, err := s.db.exec(ctx, `UPDATE uploads SET live_session_id = ? WHERE id = ?`, sessionID, id)
	if err != nil {
		return fmt.Errorf("mark upload %s live: %w", id, err)
	}
	return nil
}

// checkAccepting refuses, before any byte is read, an upload that the
// policy no longer lets join its case under the upload's rule: the case's
// state, and the uploader's relation to it (an applicant an admin made an
// officer, or disabled, since the upload began gets the refusal its
// creation would get now). The refused upload is discarded (its parts
// aborted, its spool removed) and the refusal audited. The completion
// transaction checks again (addEvidence).
func (s *Uploads) checkAccepting(ctx context.Context, up *domain.Upload) error {
	by, err := uploaderOf(func(q string, args ...any) *sql.Row { return s.db.queryRow(ctx, q, args...) }, up)
	if err != nil {
		if refusedUploader(err) {
			return s.refuse(ctx, up, err)
		}
		return err
	}
	if by == nil {
		st, err := s.db.caseStatus(ctx, up.CaseID)
		if err != nil {
			return err
		}
		if slices.Contains(domain.StatesFor(up.Rule()), st) {
			return nil
		}
		return s.refuse(ctx, up, (&domain.Case{ID: up.CaseID, Status: st}).StateRefusal(up.Rule()))
	}
	cs, err := s.db.CaseCore(ctx, up.CaseID)
	if err != nil {
		return err
	}
	if err := cs.Authorize(by, up.Rule()); err != nil {
		return s.refuse(ctx, up, err)
	}
	return nil
}

// rowFunc reads one row, in a transaction or not.
type rowFunc func(q string, args ...any) *sql.Row

// uploaderOf is the user whose relation to the case the policy checks
// for up, as row reads the account now: nil for the phone's recording
// (its rule is the state's alone), and a refusal for an account an admin
// disabled since the upload began (it stands in no relation to any case:
// the policy's not_found, as for an outsider).
func uploaderOf(row rowFunc, up *domain.Upload) (*domain.User, error) {
	if up.Rule() == domain.ActionAddLiveEvidence {
		return nil, nil
	}
	u, err := scanUser(row(`SELECT `+userColumns+` FROM users WHERE id = ?`, up.UserID))
	if errors.Is(err, sql.ErrNoRows) || (err == nil && u.DisabledAt != nil) {
		return nil, domain.Errorf(domain.ErrNotFound, "no such case")
	}
	if err != nil {
		return nil, fmt.Errorf("read uploader %s: %w", up.UserID, err)
	}
	return u, nil
}

// refusedUploader reports whether err is the policy's refusal of a
// person rather than of the case's state: not_found for who no longer
// sees the case, forbidden for who sees it but may not add to it.
func refusedUploader(err error) bool {
	var se *domain.Error
	return errors.As(err, &se) && (se.Kind == domain.ErrNotFound || se.Kind == domain.ErrForbidden)
}

// refuse discards a refused upload and records the refusal in the case's
// audit chain, then returns why.
func (s *Uploads) refuse(ctx context.Context, up *domain.Upload, why error) error {
	ctx = context.WithoutCancel(ctx)
	if err := s.discard(ctx, up); err != nil {
		s.cfg.Logger.Warn("discard refused upload", "upload", up.ID, "err", err)
	}
	st, _ := s.db.caseStatus(ctx, up.CaseID)
	data := map[string]any{"upload_id": up.ID, "filename": up.Filename, "offset": up.Offset, "length": up.Length,
		"case_status": string(st), "rule": string(up.Rule())}
	if up.LiveSessionID != "" {
		data["live_session"] = up.LiveSessionID
	}
	if _, err := s.db.RecordAudit(ctx, Audit{CaseID: up.CaseID, ActorID: up.UserID, Action: "evidence.refused", Target: up.ID, Data: data}); err != nil {
		s.cfg.Logger.Warn("audit refused upload", "upload", up.ID, "err", err)
	}
	return why
}
