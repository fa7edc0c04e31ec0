// Package pipeline turns uploaded evidence into something an inspector can
// review in a browser: it runs the jobs the upload path enqueues, calls
// media/ on a local copy of the original, stores what it derives next to
// the original, and records the media facts on the evidence item.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"siteinspect/domain"
	"siteinspect/media"
	"siteinspect/storage/objects"
	"siteinspect/timestamp"
)

// WorkerRecords is what the worker needs from the records: the job queue
// and the evidence items its jobs process.
type WorkerRecords interface {
	// ClaimJob leases the oldest runnable job of lane for owner;
	// ErrNotFound when there is none.
	ClaimJob(ctx context.Context, owner string, lease time.Duration, lane domain.JobLane) (*domain.Job, error)
	// ExtendJob renews owner's lease on a running job; ErrConflict when
	// the lease was lost.
	ExtendJob(ctx context.Context, id, owner string, lease time.Duration) error
	// FinishJob ends a job (done, queued again after retryAfter, or
	// failed) and returns the state it is left in.
	FinishJob(ctx context.Context, j *domain.Job, owner string, runErr error, retry bool, retryAfter time.Duration) (state string, err error)
	// Evidence returns one item or ErrNotFound.
	Evidence(ctx context.Context, id string) (*domain.Evidence, error)
	// SetEvidenceResult records what the pipeline made of an item.
	SetEvidenceResult(ctx context.Context, id, status, reason string, m *domain.Media, der *domain.Derived) error
	// SetEvidencePlayable records that a browser can play an item that is
	// still processing; ErrConflict once it is no longer processing.
	SetEvidencePlayable(ctx context.Context, id string, m *domain.Media, der *domain.Derived) error
	// TimestampRecords are the time-stamps that time-stamp jobs obtain.
	TimestampRecords
}

// Config is what the worker needs.
type Config struct {
	// DB holds the jobs and the evidence records.
	DB WorkerRecords
	// Objects holds the originals and receives the derived files.
	Objects objects.ObjectStore
	// Media runs ffprobe, ffmpeg and the PDF tools under limits.
	Media media.Runner
	// WorkDir holds one folder of temporary files per running job. Whatever
	// is in it at start-up was left by a killed process and is removed.
	WorkDir string
	// Concurrency is how many jobs run at once. Each may run ffmpeg, which
	// uses every core by itself: on a small machine, one.
	Concurrency int
	// LeaseTTL is how long a job stays claimed without renewal; a job whose
	// worker died runs again after it.
	LeaseTTL time.Duration
	// Poll is how often the queue is checked when nobody calls Notify.
	Poll time.Duration
	// RetryBase is the wait before a failed job's second attempt; it doubles
	// with each further attempt.
	RetryBase time.Duration
	// Logger receives job outcomes.
	Logger *slog.Logger
	// StopGrace is how long the jobs running when Run's context ends may
	// go on to finish (the worker claims no new one meanwhile); those
	// still running after it are cancelled and run again later, here
	// after a restart or on another replica once their lease runs out.
	// Zero cancels them at once.
	StopGrace time.Duration
	// Timestamps obtains the RFC 3161 tokens that time-stamp jobs ask for;
	// nil fails such jobs (no --tsa-url).
	Timestamps *timestamp.Client
	// TimestampRetry is the wait before a failed time-stamp's second
	// attempt; it doubles with each further attempt, up to ten minutes.
	// Zero means RetryBase.
	TimestampRetry time.Duration
	// HeadTimestampEvery is how often, while audit events arrive, the audit
	// chain's head is time-stamped besides at decisions; zero means hourly.
	HeadTimestampEvery time.Duration
	// Notifications are the records delivery jobs read; nil, like a nil
	// Notifier, fails such jobs.
	Notifications NotificationRecords
	// Notifier sends notifications by e-mail and SMS (package notify).
	Notifier Notifier
	// NotifyRetry is the wait before a failed delivery's second attempt;
	// it doubles with each further attempt, up to ten minutes. Zero means
	// RetryBase.
	NotifyRetry time.Duration
}

// requestJobs is how many time-stamp and delivery jobs run at once, in
// their lane beside media work's (domain.JobLane): each is one request to
// a TSA, a mail server or an SMS gateway, and one at a time they go in the
// order they were queued, so a recipient's messages arrive in the order of
// their events (a decision's notice before the countersignature's; with
// four at once TestNotificationDelivery saw them swapped).
const requestJobs = 1

// Worker runs evidence-processing jobs, and time-stamp and delivery jobs,
// each in its lanes (domain.JobLane).
type Worker struct {
	cfg   Config
	wake  [domain.Lanes]chan struct{} // by lane
	owner string
}

// New checks cfg and prepares the work folder.
func New(cfg Config) (*Worker, error) {
	if cfg.DB == nil || cfg.Objects == nil || cfg.WorkDir == "" {
		return nil, errors.New("pipeline: DB, Objects and WorkDir are required")
	}
	if cfg.Concurrency < 1 {
		cfg.Concurrency = 1
	}
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = time.Minute
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 2 * time.Second
	}
	if cfg.RetryBase <= 0 {
		cfg.RetryBase = 10 * time.Second
	}
	if cfg.TimestampRetry <= 0 {
		cfg.TimestampRetry = cfg.RetryBase
	}
	if cfg.NotifyRetry <= 0 {
		cfg.NotifyRetry = cfg.RetryBase
	}
	if cfg.HeadTimestampEvery <= 0 {
		cfg.HeadTimestampEvery = time.Hour
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if err := os.RemoveAll(cfg.WorkDir); err != nil {
		return nil, fmt.Errorf("pipeline: clear work folder: %w", err)
	}
	if err := os.MkdirAll(cfg.WorkDir, 0o750); err != nil {
		return nil, fmt.Errorf("pipeline: work folder: %w", err)
	}
	w := &Worker{cfg: cfg, owner: domain.NewID()}
	for i := range w.wake {
		w.wake[i] = make(chan struct{}, 1)
	}
	return w, nil
}

// Notify tells the worker a job may be waiting, so it need not wait for the
// next poll.
func (w *Worker) Notify() {
	for _, c := range w.wake {
		select {
		case c <- struct{}{}:
		default:
		}
	}
}

// Run claims and runs jobs, at most Concurrency media jobs, one more
// photo's or small PDF's, and requestJobs others (domain.JobLane), until
// ctx ends; then it claims no more, lets the running jobs finish for up
// to StopGrace, cancels those still running (killing their tools) and
// waits for them. A cancelled job stays claimed and runs again after a
// restart, or on another replica once its lease runs out.
func (w *Worker) Run(ctx context.Context) {
	// Jobs run on a context of their own, which ends StopGrace after ctx
	// does (deferred after wg.Wait, so that waiting for the jobs comes
	// first).
	jobCtx, cancelJobs := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelJobs()
	stop := context.AfterFunc(ctx, func() {
		if w.cfg.StopGrace <= 0 {
			cancelJobs()
			return
		}
		t := time.AfterFunc(w.cfg.StopGrace, cancelJobs)
		context.AfterFunc(jobCtx, func() { t.Stop() })
	})
	defer stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	if w.cfg.Timestamps != nil {
		wg.Go(func() { w.stampHeads(ctx) })
	}
	wg.Go(func() { w.claim(ctx, jobCtx, &wg, domain.LaneRequests, requestJobs) })
	wg.Go(func() { w.claim(ctx, jobCtx, &wg, domain.LaneQuickMedia, 1) })
	w.claim(ctx, jobCtx, &wg, domain.LaneMedia, w.cfg.Concurrency)
}

// claim claims the jobs of lane and runs each on jobCtx in a goroutine of
// wg, at most n at once, until ctx ends.
func (w *Worker) claim(ctx, jobCtx context.Context, wg *sync.WaitGroup, lane domain.JobLane, n int) {
	slots := make(chan struct{}, n)
	tick := time.NewTicker(w.cfg.Poll)
	defer tick.Stop()
	for {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		job, err := w.cfg.DB.ClaimJob(ctx, w.owner, w.cfg.LeaseTTL, lane)
		if err != nil {
			<-slots
			if !errors.Is(err, domain.ErrNotFound) && ctx.Err() == nil {
				w.cfg.Logger.Error("claim job", "lane", lane, "err", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-w.wake[lane]:
			case <-tick.C:
			}
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			w.run(jobCtx, job)
			// Another job may be waiting behind this one.
			w.Notify()
		}()
	}
}

// run processes one job while keeping its lease alive, and records the
// outcome: retried with backoff on a passing failure, failed for good on
// input that can never be processed.
func (w *Worker) run(ctx context.Context, job *domain.Job) {
	jctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopRenew := make(chan struct{})
	renewed := make(chan struct{})
	go func() {
		defer close(renewed)
		t := time.NewTicker(w.cfg.LeaseTTL / 3)
		defer t.Stop()
		for {
			select {
			case <-stopRenew:
				return
			case <-t.C:
				if err := w.cfg.DB.ExtendJob(jctx, job.ID, w.owner, w.cfg.LeaseTTL); err != nil && jctx.Err() == nil {
					w.cfg.Logger.Error("job lease lost; stopping it", "job", job.ID, "err", err)
					cancel()
					return
				}
			}
		}
	}()
	start := time.Now()
	err := w.safeProcess(jctx, job)
	close(stopRenew)
	<-renewed
	if ctx.Err() != nil {
		return // shutting down: the job runs again after the restart
	}
	bg := context.WithoutCancel(ctx)
	if job.Kind == domain.JobTimestamp {
		w.finishTimestamp(bg, job, err, time.Since(start))
		return
	}
	if channelOf(job.Kind) != "" {
		w.finishDelivery(bg, job, err, time.Since(start))
		return
	}
	var un *media.Unprocessable
	switch {
	case err == nil:
		w.cfg.DB.FinishJob(bg, job, w.owner, nil, false, 0)
		w.cfg.Logger.Info("evidence ready", "evidence", job.EvidenceID, "took", time.Since(start).Round(time.Millisecond))
	case errors.As(err, &un):
		w.cfg.DB.SetEvidenceResult(bg, job.EvidenceID, domain.EvidenceFailed, un.Reason, nil, nil)
		w.cfg.DB.FinishJob(bg, job, w.owner, nil, false, 0)
		w.cfg.Logger.Info("evidence cannot be processed", "evidence", job.EvidenceID, "reason", un.Reason)
	default:
		backoff := w.cfg.RetryBase << min(job.Attempts-1, 8)
		state, ferr := w.cfg.DB.FinishJob(bg, job, w.owner, err, true, backoff)
		if ferr == nil && state == domain.JobFailed {
			w.cfg.DB.SetEvidenceResult(bg, job.EvidenceID, domain.EvidenceFailed,
				fmt.Sprintf("processing failed after %d attempts", job.Attempts), nil, nil)
		}
		w.cfg.Logger.Error("job failed", "job", job.ID, "evidence", job.EvidenceID, "attempt", job.Attempts, "err", err, "next", state)
	}
}

// safeProcess is process that turns a panic — a bug meeting hostile input —
// into a failed attempt instead of taking the whole server down.
func (w *Worker) safeProcess(ctx context.Context, job *domain.Job) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	return w.process(ctx, job)
}

// process makes the derived files of one evidence item, or obtains a
// time-stamp.
func (w *Worker) process(ctx context.Context, job *domain.Job) error {
	if job.Kind == domain.JobTimestamp {
		return w.obtainTimestamp(ctx, job)
	}
	if channelOf(job.Kind) != "" {
		return w.deliver(ctx, job)
	}
	ev, err := w.cfg.DB.Evidence(ctx, job.EvidenceID)
	if err != nil {
		return err
	}
	dir := filepath.Join(w.cfg.WorkDir, job.ID)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	orig := filepath.Join(dir, "original")
	if err := w.download(ctx, ev.ObjectKey, orig); err != nil {
		return err
	}
	out := &result{w: w, ev: ev, dir: dir}
	switch ev.Kind {
	case domain.KindVideo, domain.KindRecording:
		err = out.video(ctx, orig)
	case domain.KindImage:
		err = out.image(ctx, orig)
	case domain.KindPDF:
		err = out.pdf(ctx, orig)
	default:
		err = &media.Unprocessable{Reason: "unknown kind " + string(ev.Kind)}
	}
	if err != nil {
		return err
	}
	return w.cfg.DB.SetEvidenceResult(ctx, ev.ID, domain.EvidenceReady, "", out.media, &out.derived)
}

// download copies an object to a local file: the tools need a seekable
// file, and reading the original once is cheaper than letting each tool
// fetch it.
func (w *Worker) download(ctx context.Context, key, path string) error {
	if err := copyObject(ctx, w.cfg.Objects, key, path); err != nil {
		return fmt.Errorf("download %s: %w", key, err)
	}
	return nil
}

// put stores a local derived file under the evidence item's derived keys.
func (w *Worker) put(ctx context.Context, ev *domain.Evidence, name, path, contentType string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	return w.cfg.Objects.Put(ctx, domain.DerivedKey(ev.CaseID, ev.ID, name), f, st.Size(), contentType)
}
