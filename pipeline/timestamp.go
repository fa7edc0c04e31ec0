package pipeline

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"siteinspect/domain"
	"siteinspect/timestamp"
)

// TimestampRecords is what a time-stamp job reads and writes.
type TimestampRecords interface {
	// Timestamp returns one time-stamp row or ErrNotFound.
	Timestamp(ctx context.Context, id string) (*domain.Timestamp, error)
	// SetTimestampToken stores the token obtained for a time-stamp.
	SetTimestampToken(ctx context.Context, id string, token []byte, genTime time.Time, tsa string) error
	// NoteTimestampError records why an attempt failed; failed gives the
	// time-stamp up.
	NoteTimestampError(ctx context.Context, id, msg string, failed bool) error
	// TimestampHeadIfStale requests a token over the audit chain's head if
	// events arrived since the newest one, requested more than maxAge ago.
	TimestampHeadIfStale(ctx context.Context, maxAge time.Duration) (bool, error)
}

// maxTimestampBackoff caps the wait between attempts at a time-stamp, so a
// token arrives soon after its authority comes back from a long outage.
const maxTimestampBackoff = 10 * time.Minute

// errNoTSA fails a time-stamp job found in the queue of a process started
// without --tsa-url.
var errNoTSA = errors.New("no time-stamping authority configured (--tsa-url)")

// obtainTimestamp asks the authority for the token a time-stamp row waits
// for and stores it.
func (w *Worker) obtainTimestamp(ctx context.Context, job *domain.Job) error {
	if w.cfg.Timestamps == nil {
		return errNoTSA
	}
	ts, err := w.cfg.DB.Timestamp(ctx, job.TimestampID)
	if err != nil {
		return err
	}
	if ts.State == domain.TimestampDone {
		return nil // a job that ran twice (a lost lease)
	}
	digest, err := hex.DecodeString(ts.Digest)
	if err != nil {
		return fmt.Errorf("time-stamp %s: digest %q is not hex: %w", ts.ID, ts.Digest, err)
	}
	tok, err := w.cfg.Timestamps.Timestamp(ctx, digest)
	if err != nil {
		return err
	}
	return w.cfg.DB.SetTimestampToken(ctx, ts.ID, tok.DER, tok.GenTime, w.cfg.Timestamps.URL())
}

// finishTimestamp records a time-stamp job's outcome: every failure is
// retried (an authority that answers badly may be repaired, and an outage
// is expected), with a doubling wait up to maxTimestampBackoff, until the
// job's attempts run out.
func (w *Worker) finishTimestamp(ctx context.Context, job *domain.Job, err error, took time.Duration) {
	if err == nil {
		w.cfg.DB.FinishJob(ctx, job, w.owner, nil, false, 0)
		w.cfg.Logger.Info("time-stamp obtained", "timestamp", job.TimestampID, "took", took.Round(time.Millisecond))
		return
	}
	retry := !errors.Is(err, errNoTSA)
	backoff := min(w.cfg.TimestampRetry<<min(job.Attempts-1, 12), maxTimestampBackoff)
	state, ferr := w.cfg.DB.FinishJob(ctx, job, w.owner, err, retry, backoff)
	if ferr == nil {
		w.cfg.DB.NoteTimestampError(ctx, job.TimestampID, err.Error(), state == domain.JobFailed)
	}
	level := w.cfg.Logger.Warn
	if state == domain.JobFailed {
		level = w.cfg.Logger.Error
	}
	level("time-stamp not obtained", "timestamp", job.TimestampID, "attempt", job.Attempts,
		"retryable", errors.Is(err, timestamp.ErrUnavailable), "err", err, "next", state)
}

// stampHeads has the audit chain's head time-stamped every
// HeadTimestampEvery while events arrive (issue 13: at least hourly), until
// ctx ends.
func (w *Worker) stampHeads(ctx context.Context) {
	t := time.NewTicker(w.cfg.HeadTimestampEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		requested, err := w.cfg.DB.TimestampHeadIfStale(ctx, w.cfg.HeadTimestampEvery)
		switch {
		case err != nil && ctx.Err() == nil:
			w.cfg.Logger.Error("time-stamp the audit head", "err", err)
		case requested:
			w.Notify()
		}
	}
}
