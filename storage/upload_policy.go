package storage

import (
	"context"
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

// checkAccepting refuses, before any byte is read, an upload whose case no
// longer takes evidence under the upload's rule; the refused upload is
// discarded (its parts aborted, its spool removed) and the refusal audited.
// The completion transaction checks again (lockCaseFor).
func (s *Uploads) checkAccepting(ctx context.Context, up *domain.Upload) error {
	st, err := s.db.caseStatus(ctx, up.CaseID)
	if err != nil {
		return err
	}
	if slices.Contains(domain.StatesFor(up.Rule()), st) {
		return nil
	}
	return s.refuse(ctx, up, (&domain.Case{ID: up.CaseID, Status: st}).StateRefusal(up.Rule()))
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
