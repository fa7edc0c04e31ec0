package storage

import (
	"context"
	"fmt"
	"io"
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

// rule is the policy action under which the upload joins its case (the
// live session's id is set before its first byte, and never changes).
func (up *Upload) rule() Action {
	if up.liveSessionID != "" {
		return ActionAddLiveEvidence
	}
	return ActionUpload
}

// checkAccepting refuses, before any byte is read, an upload whose case no
// longer takes evidence under the upload's rule; the refused upload is
// discarded (its parts aborted, its spool removed) and the refusal audited.
// The completion transaction checks again (lockCaseFor).
func (s *Uploads) checkAccepting(ctx context.Context, up *Upload) error {
	st, err := s.db.caseStatus(ctx, up.CaseID)
	if err != nil {
		return err
	}
	if slices.Contains(StatesFor(up.rule()), st) {
		return nil
	}
	return s.refuse(ctx, up, (&Case{ID: up.CaseID, Status: st}).stateRefusal(up.rule()))
}

// refuse discards a refused upload and records the refusal in the case's
// audit chain, then returns why.
func (s *Uploads) refuse(ctx context.Context, up *Upload, why error) error {
	ctx = context.WithoutCancel(ctx)
	if err := s.discard(ctx, up); err != nil {
		s.cfg.Logger.Warn("discard refused upload", "upload", up.ID, "err", err)
	}
	st, _ := s.db.caseStatus(ctx, up.CaseID)
	data := map[string]any{"upload_id": up.ID, "filename": up.Filename, "offset": up.Offset, "length": up.Length,
		"case_status": string(st), "rule": string(up.rule())}
	if up.liveSessionID != "" {
		data["live_session"] = up.liveSessionID
	}
	if _, err := s.db.RecordAudit(ctx, Audit{CaseID: up.CaseID, ActorID: up.UserID, Action: "evidence.refused", Target: up.ID, Data: data}); err != nil {
		s.cfg.Logger.Warn("audit refused upload", "upload", up.ID, "err", err)
	}
	return why
}

// CodeChunkPastLength refuses a PATCH whose body runs past the upload's
// length (tus: 413).
const CodeChunkPastLength = "chunk_exceeds_length"

// UnsizedBody marks a PATCH body whose length the client did not declare
// (chunked transfer encoding). It is appended whole or not at all, so that
// a body running past the upload's length leaves nothing behind.
type UnsizedBody struct{ io.Reader }
