// Package jobs_test measures our job queue (storage/job.go, worked the way
// pipeline.Worker works it) against River (github.com/riverqueue/river) on
// the same database server, side by side in one run. It lives in a package
// of its own, with tests only, so that River stays out of the server's
// binary: nothing outside this folder imports it.
package jobs_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	_ "modernc.org/sqlite" // the "sqlite" driver, ours too

	"siteinspect/domain"
	"siteinspect/internal/pgtest"
	"siteinspect/storage"
)

// workers is how many jobs run at once in each queue.
const workers = 4

// queue is one job queue under measurement. Each job carries its number i
// (0…n-1); enqueue inserts job i in a transaction of its own and returns
// once it has committed; start works the queue until the returned stop is
// called, calling started(i) when job i's work begins and done(i) once its
// completion is recorded in the database.
type queue interface {
	enqueue(ctx context.Context, i int) error
	start(ctx context.Context, started, done func(i int)) (stop func())
}

// figures are one queue's results on one database.
type figures struct {
	db, queue      string
	enqueuePerSec  float64
	drainPerSec    float64
	p50, p99, pmax time.Duration
	rate           float64 // achieved enqueue rate of the latency phase
	// latency with the jobs enqueued through another handle (PostgreSQL)
	rp50, rp99, rpmax time.Duration
	uploadPerSec      float64 // ours only: the whole upload completion
}

// BenchmarkJobQueue compares, for n no-op jobs (SITEINSPECT_BENCH_JOBS,
// default 2000) and 4 workers, our queue with River on PostgreSQL (pgx
// driver, River's own schema migrated into a database of its own) and on
// SQLite (River's riversqlite driver over modernc.org/sqlite, our driver):
//
//   - enqueue: 4 goroutines insert the n jobs, one job per transaction
//     (as completing an upload does), nobody working; jobs per second;
//   - drain: then the workers start and run all n; jobs per second from
//     their start to the last completion recorded;
//   - latency: on a fresh database with the workers running, one goroutine
//     enqueues n jobs at SITEINSPECT_BENCH_JOB_RATE per second (default
//     100); the time from the insert's commit to the job's start, p50/p99;
//   - replica latency (PostgreSQL): the same, with the jobs enqueued
//     through a second handle on the database, as another replica would.
//
// Ours also gets the enqueue figure of the whole upload completion
// (AddObjectEvidence: evidence row, job and audit event in one
// transaction), for scale. Both queues keep their production defaults:
// ours polls every 2 s and is woken in-process after each enqueue (as the
// server does after an upload), River fetches on LISTEN/NOTIFY (on SQLite
// an outbox table it polls every 50 ms) or every 1 s, at most every
// FetchCooldown (100 ms); "river-1ms" is River with the minimum cooldown.
// docs/BENCHMARKS.md has the figures.
func BenchmarkJobQueue(b *testing.B) {
	if testing.Short() {
		b.Skip("runs tens of thousands of jobs; not in -short")
	}
	n := envInt(b, "SITEINSPECT_BENCH_JOBS", 2000)
	rate := envInt(b, "SITEINSPECT_BENCH_JOB_RATE", 100)
	var rows []figures
	for b.Loop() {
		rows = rows[:0]
		for _, db := range []string{"postgres", "sqlite"} {
			for _, name := range []string{"ours", "river", "river-1ms"} {
				rows = append(rows, measure(b, db, name, n, rate))
			}
		}
	}
	fmt.Printf("\njob queue, %d no-op jobs, %d workers, GOMAXPROCS=%d, load %s\n", n, workers, runtime.GOMAXPROCS(0), loadAverage())
	fmt.Printf("%-9s %-9s %10s %8s %9s %9s %9s %6s %11s %11s %11s %9s\n", "database", "queue", "enqueue/s", "drain/s",
		"lat p50", "lat p99", "lat max", "at /s", "replica p50", "replica p99", "replica max", "upload/s")
	for _, r := range rows {
		up := "-"
		if r.uploadPerSec > 0 {
			up = fmt.Sprintf("%.0f", r.uploadPerSec)
		}
		rp50, rp99, rpmax := "-", "-", "-"
		if r.rp50 > 0 {
			rp50, rp99, rpmax = round(r.rp50), round(r.rp99), round(r.rpmax)
		}
		fmt.Printf("%-9s %-9s %10.0f %8.0f %9s %9s %9s %6.0f %11s %11s %11s %9s\n", r.db, r.queue, r.enqueuePerSec, r.drainPerSec,
			round(r.p50), round(r.p99), round(r.pmax), r.rate, rp50, rp99, rpmax, up)
	}
}

// measure runs the three phases for one queue on one database.
func measure(b *testing.B, db, name string, n, rate int) figures {
	ctx := context.Background()
	f := figures{db: db, queue: name}

	// Enqueue, then drain what was enqueued.
	q, upload := newQueue(b, db, name, n, false)
	next := atomic.Int64{}
	t0 := time.Now()
	runParallel(workers, func() error {
		for {
			i := int(next.Add(1)) - 1
			if i >= n {
				return nil
			}
			if err := q.enqueue(ctx, i); err != nil {
				return err
			}
		}
	}, b)
	f.enqueuePerSec = float64(n) / time.Since(t0).Seconds()

	var doneCount atomic.Int64
	all := make(chan struct{})
	t0 = time.Now()
	stop := q.start(ctx, func(int) {}, func(int) {
		if doneCount.Add(1) == int64(n) {
			close(all)
		}
	})
	waitAll(b, all, &doneCount, n, name+" drain")
	f.drainPerSec = float64(n) / time.Since(t0).Seconds()
	stop()

	if upload != nil {
		t0 = time.Now()
		next.Store(0)
		runParallel(workers, func() error {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return nil
				}
				if err := upload(ctx, i); err != nil {
					return err
				}
			}
		}, b)
		f.uploadPerSec = float64(n) / time.Since(t0).Seconds()
	}

	// Latency, on a fresh database, the workers waiting; then, on
	// PostgreSQL, with the jobs enqueued by another replica (a second
	// handle on the database, which cannot wake the workers in-process).
	q, _ = newQueue(b, db, name, n, false)
	f.p50, f.p99, f.pmax, f.rate = latency(b, q, n, rate, db+" "+name)
	if db == "postgres" {
		q, _ = newQueue(b, db, name, n, true)
		f.rp50, f.rp99, f.rpmax, _ = latency(b, q, n, rate, db+" "+name+" remote")
	}
	b.Logf("%s %s: enqueue %.0f/s, drain %.0f/s, latency p50 %v p99 %v at %.0f/s", db, name, f.enqueuePerSec, f.drainPerSec, f.p50, f.p99, f.rate)
	return f
}

// latency enqueues n jobs at rate per second into q, whose workers run,
// and returns the percentiles of the time from an insert's commit to its
// job's start, and the rate achieved.
func latency(b *testing.B, q queue, n, rate int, what string) (p50, p99, pmax time.Duration, achieved float64) {
	ctx := context.Background()
	committed := make([]atomic.Int64, n)
	began := make([]atomic.Int64, n)
	var doneCount atomic.Int64
	all := make(chan struct{})
	stop := q.start(ctx, func(i int) { began[i].Store(time.Now().UnixNano()) }, func(int) {
		if doneCount.Add(1) == int64(n) {
			close(all)
		}
	})
	time.Sleep(time.Second) // River elects a leader and starts listening
	tick := time.NewTicker(time.Second / time.Duration(rate))
	t0 := time.Now()
	for i := range n {
		<-tick.C
		if err := q.enqueue(ctx, i); err != nil {
			b.Fatalf("%s: enqueue %d: %v", what, i, err)
		}
		committed[i].Store(time.Now().UnixNano())
	}
	achieved = float64(n) / time.Since(t0).Seconds()
	tick.Stop()
	waitAll(b, all, &doneCount, n, what)
	stop()
	lat := make([]time.Duration, n)
	for i := range n {
		lat[i] = max(0, time.Duration(began[i].Load()-committed[i].Load()))
	}
	slices.Sort(lat)
	return pct(lat, 50), pct(lat, 99), lat[n-1], achieved
}

// newQueue makes a queue on a fresh database of kind db. With remote, its
// enqueue goes through a second handle on the database, as another replica
// would (PostgreSQL only). For ours it also returns upload, which completes
// an upload through AddObjectEvidence (evidence, job and audit event in one
// transaction).
func newQueue(b *testing.B, db, name string, n int, remote bool) (queue, func(context.Context, int) error) {
	var dsn string
	if db == "postgres" {
		dsn = pgtest.URL(b)
	} else {
		dsn = filepath.Join(b.TempDir(), "bench.db")
	}
	if name == "ours" {
		return newOurs(b, dsn, n, remote)
	}
	// River's defaults fetch at most every FetchCooldown (100 ms) as many
	// jobs as there are free workers, which caps no-op jobs at 4 per
	// 100 ms; "river-1ms" lowers the cooldown to its minimum.
	cooldown := time.Duration(0)
	if name == "river-1ms" {
		cooldown = time.Millisecond
	}
	if db == "postgres" {
		return newRiverPostgres(b, dsn, cooldown, remote), nil
	}
	return newRiverSQLite(b, dsn, cooldown), nil
}

// ours is storage's queue, claimed and finished as pipeline.Worker does.
type ours struct {
	db       *storage.DB
	via      *storage.DB    // another replica's handle that enqueues, or nil
	evidence []string       // evidence ID of job i
	index    map[string]int // job number of an evidence ID
	wake     chan struct{}
	upload   func(ctx context.Context, i int) error
}

func newOurs(b *testing.B, dsn string, n int, remote bool) (*ours, func(context.Context, int) error) {
	ctx := context.Background()
	db, err := storage.OpenDB(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	db.SetPasswordCost(4)
	if err := db.SeedPermitTypes(ctx); err != nil {
		b.Fatal(err)
	}
	applicant, err := db.CreateUser(ctx, "applicant", "correct horse battery", domain.RoleApplicant, "", "Acme")
	if err != nil {
		b.Fatal(err)
	}
	inspector, err := db.CreateUser(ctx, "inspector", "correct horse battery", domain.RoleInspector, "", "binhai")
	if err != nil {
		b.Fatal(err)
	}
	cs, err := db.CreateCase(ctx, applicant, "binhai", "BH", time.UTC, domain.NewCase{PermitType: "hotel", SiteName: "s", SiteAddress: "a"})
	if err != nil {
		b.Fatal(err)
	}
	// The jobs' evidence rows, written under the API in one transaction
	// (a job must name an evidence item).
	q := &ours{db: db, index: map[string]int{}, wake: make(chan struct{}, 1)}
	tx, err := db.SQL().BeginTx(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	for i := range n {
		id, err := insertEvidence(ctx, tx, cs.ID, applicant.ID, i)
		if err != nil {
			b.Fatal(err)
		}
		q.evidence = append(q.evidence, id)
		q.index[id] = i
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	// A case in review takes evidence from its inspector (the upload
	// completion path measured for scale).
	if cs, err = db.Case(ctx, cs.ID); err != nil {
		b.Fatal(err)
	}
	if cs, err = db.SubmitCase(ctx, cs, applicant, time.UTC); err != nil {
		b.Fatal(err)
	}
	if cs, err = db.AssignCase(ctx, cs, inspector, inspector.ID, ""); err != nil {
		b.Fatal(err)
	}
	upload := func(ctx context.Context, i int) error {
		_, err := db.AddObjectEvidence(ctx, domain.NewObjectEvidence{CaseID: cs.ID, Filename: fmt.Sprintf("clip-%d.mp4", i),
			ContentType: "video/mp4", ObjectKey: "u/" + domain.NewID(), SHA256: fmt.Sprintf("%064x", i), Kind: domain.KindVideo, Size: 1000, By: inspector.ID})
		return err
	}
	if remote {
		if q.via, err = storage.OpenDB(ctx, dsn); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { q.via.Close() })
	}
	return q, upload
}

// insertEvidence writes an evidence row of case caseID in tx, under the
// API, and returns its ID.
func insertEvidence(ctx context.Context, tx *sql.Tx, caseID, by string, i int) (string, error) {
	id := domain.NewID()
	_, err := tx.ExecContext(ctx, `INSERT INTO evidence (id, case_id, kind, filename, content_type, size, sha256, status, object_key, uploaded_by, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, id, caseID, string(domain.KindVideo), "site.mp4", "video/mp4", 1000, fmt.Sprintf("%064x", i),
		domain.EvidenceReady, "k/"+id, by, time.Now().UnixMilli())
	if err != nil {
		return "", fmt.Errorf("insert evidence %d: %w", i, err)
	}
	return id, nil
}

func (q *ours) enqueue(ctx context.Context, i int) error {
	if q.via != nil {
		return q.via.EnqueueJob(ctx, domain.JobProcessEvidence, q.evidence[i])
	}
	if err := q.db.EnqueueJob(ctx, domain.JobProcessEvidence, q.evidence[i]); err != nil {
		return err
	}
	q.notify() // the server's Notify after an upload
	return nil
}

func (q *ours) notify() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// start works the queue the way pipeline.Worker.Run does: one loop claims
// while a slot is free, each claimed job runs in a goroutine of its own,
// and a finished job wakes the loop; with nothing to claim the loop waits
// for a wake-up or the 2 s poll (pipeline's default).
func (q *ours) start(ctx context.Context, started, done func(int)) func() {
	ctx, cancel := context.WithCancel(ctx)
	owner := domain.NewID()
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		slots := make(chan struct{}, workers)
		var wg sync.WaitGroup
		defer wg.Wait()
		tick := time.NewTicker(2 * time.Second)
		defer tick.Stop()
		for {
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				return
			}
			job, err := q.db.ClaimJob(ctx, owner, time.Minute, domain.LaneMedia)
			if err != nil {
				<-slots
				if !errors.Is(err, domain.ErrNotFound) && ctx.Err() == nil {
					panic(fmt.Sprintf("claim job: %v", err))
				}
				select {
				case <-ctx.Done():
					return
				case <-q.wake:
				case <-tick.C:
				}
				continue
			}
			wg.Go(func() {
				defer func() { <-slots }()
				i := q.index[job.EvidenceID]
				started(i)
				if _, err := q.db.FinishJob(context.Background(), job, owner, nil, false, 0); err != nil {
					panic(fmt.Sprintf("finish job: %v", err))
				}
				done(i)
				q.notify()
			})
		}
	}()
	return func() { cancel(); <-finished }
}

// noop is River's job: its number, nothing to do.
type noop struct {
	I int `json:"i"`
}

func (noop) Kind() string { return "noop" }

// noopWorker calls the started hook of the queue being measured.
type noopWorker struct {
	river.WorkerDefaults[noop]
	started *atomic.Pointer[func(int)]
}

func (w *noopWorker) Work(ctx context.Context, job *river.Job[noop]) error {
	(*w.started.Load())(job.Args.I)
	return nil
}

// riverQueue is River with driver TTx's transactions.
type riverQueue[TTx any] struct {
	client   *river.Client[TTx] // works the jobs
	inserter *river.Client[TTx] // inserts them: client, or another replica's
	started  *atomic.Pointer[func(int)]
	// insert runs fn in a transaction and commits it.
	insert func(ctx context.Context, fn func(TTx) error) error
}

func newRiverClient[TTx any](b *testing.B, drv riverdriver.Driver[TTx], cooldown time.Duration) (*river.Client[TTx], *atomic.Pointer[func(int)]) {
	ctx := context.Background()
	m, err := rivermigrate.New(drv, &rivermigrate.Config{Logger: quiet()})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		b.Fatalf("river migrate: %v", err)
	}
	started := &atomic.Pointer[func(int)]{}
	nothing := func(int) {}
	started.Store(&nothing)
	ws := river.NewWorkers()
	river.AddWorker(ws, &noopWorker{started: started})
	client, err := river.NewClient(drv, &river.Config{
		Queues:        map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: workers}},
		Workers:       ws,
		Logger:        quiet(),
		FetchCooldown: cooldown, // zero: River's default
	})
	if err != nil {
		b.Fatal(err)
	}
	return client, started
}

func newRiverPostgres(b *testing.B, dsn string, cooldown time.Duration, remote bool) *riverQueue[pgx.Tx] {
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		b.Fatal(err)
	}
	cfg.MaxConns = 24 // storage's pgMaxConns
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	client, started := newRiverClient(b, riverpgxv5.New(pool), cooldown)
	q := &riverQueue[pgx.Tx]{client: client, inserter: client, started: started, insert: func(ctx context.Context, fn func(pgx.Tx) error) error {
		return pgx.BeginFunc(ctx, pool, fn)
	}}
	if remote {
		// Another replica: its own pool and an insert-only client.
		other, err := pgxpool.NewWithConfig(ctx, cfg)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(other.Close)
		if q.inserter, err = river.NewClient(riverpgxv5.New(other), &river.Config{Logger: quiet()}); err != nil {
			b.Fatal(err)
		}
		q.insert = func(ctx context.Context, fn func(pgx.Tx) error) error { return pgx.BeginFunc(ctx, other, fn) }
	}
	return q
}

func newRiverSQLite(b *testing.B, path string, cooldown time.Duration) *riverQueue[*sql.Tx] {
	// River's advice for SQLite: one connection, which its own services
	// and the inserts share.
	pool, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(wal)&_pragma=busy_timeout(10000)&_txlock=immediate")
	if err != nil {
		b.Fatal(err)
	}
	pool.SetMaxOpenConns(1)
	b.Cleanup(func() { pool.Close() })
	client, started := newRiverClient(b, riversqlite.New(pool), cooldown)
	return &riverQueue[*sql.Tx]{client: client, inserter: client, started: started, insert: func(ctx context.Context, fn func(*sql.Tx) error) error {
		tx, err := pool.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if err := fn(tx); err != nil {
			tx.Rollback()
			return err
		}
		return tx.Commit()
	}}
}

func (q *riverQueue[TTx]) enqueue(ctx context.Context, i int) error {
	return q.insert(ctx, func(tx TTx) error {
		_, err := q.inserter.InsertTx(ctx, tx, noop{I: i}, nil)
		return err
	})
}

func (q *riverQueue[TTx]) start(ctx context.Context, started, done func(int)) func() {
	q.started.Store(&started)
	events, cancelSub := q.client.SubscribeConfig(&river.SubscribeConfig{Kinds: []river.EventKind{river.EventKindJobCompleted}, ChanSize: 1 << 20})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for ev := range events {
			var a noop
			if err := json.Unmarshal(ev.Job.EncodedArgs, &a); err != nil {
				panic(err)
			}
			done(a.I)
		}
	}()
	if err := q.client.Start(ctx); err != nil {
		panic(fmt.Sprintf("river start: %v", err))
	}
	return func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := q.client.Stop(stopCtx); err != nil {
			panic(fmt.Sprintf("river stop: %v", err))
		}
		cancelSub()
		<-finished
	}
}

// runParallel runs fn in k goroutines and fails b on the first error.
func runParallel(k int, fn func() error, b *testing.B) {
	var wg sync.WaitGroup
	errs := make(chan error, k)
	for range k {
		wg.Go(func() {
			if err := fn(); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
}

// waitAll waits for all to close, failing b after five minutes.
func waitAll(b *testing.B, all chan struct{}, count *atomic.Int64, n int, what string) {
	select {
	case <-all:
	case <-time.After(5 * time.Minute):
		b.Fatalf("%s: %d of %d jobs done after five minutes", what, count.Load(), n)
	}
}

// pct is the nearest-rank p-th percentile of sorted.
func pct(sorted []time.Duration, p int) time.Duration {
	k := (len(sorted)*p + 99) / 100
	return sorted[max(k, 1)-1]
}

func round(d time.Duration) string {
	if d >= time.Second {
		return d.Round(10 * time.Millisecond).String()
	}
	return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
}

func envInt(b *testing.B, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		b.Fatalf("%s=%q: want a positive whole number", name, v)
	}
	return n
}

// quiet is River's logger: warnings and errors only.
func quiet() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// loadAverage is the machine's 1-minute load, which shared machines need
// beside their figures.
func loadAverage() string {
	raw, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Fields(string(raw))[0]
}
