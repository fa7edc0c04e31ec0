package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"
	_ "time/tzdata" // the office's time zone must resolve on minimal hosts too

	"github.com/prometheus/client_golang/prometheus"

	"siteinspect/domain"
	"siteinspect/live"
	"siteinspect/media"
	"siteinspect/pipeline"
	"siteinspect/server"
	"siteinspect/storage"
	"siteinspect/web"
)

func runServe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("serve", stderr)
	var sf storageFlags
	sf.register(fs)
	listen := fs.String("listen", "127.0.0.1:8080", "address to listen on (port 0 picks a free port)")
	demo := fs.Bool("demo", false, "create demo users of every role and print their passwords (embedded default only)")
	office := fs.String("office", "binhai", "the permit office served; officers' --org must equal it")
	officeName := fs.String("office-name", "", "the office's name as people read it (GET /api/v1/config); empty shows --office")
	prefix := fs.String("number-prefix", "BH", "prefix of case numbers")
	tz := fs.String("timezone", "Asia/Shanghai", "the office's time zone (due dates, case-number years)")
	sessionTTL := fs.String("session-ttl", "12h", "how long a login lasts")
	sweep := fs.String("sweep-interval", "1m", "how often abandoned uploads are looked for")
	secure := fs.Bool("secure-cookies", false, "mark cookies Secure (behind a TLS proxy)")
	trustProxy := fs.Bool("trust-proxy", false, "take client addresses from X-Forwarded-For")
	publicURL := fs.String("public-url", "", "the address the public reaches this service at (https://permits.example.gov), printed on reports for /verify; empty takes the request's host")
	logJSON := fs.Bool("log-json", false, "log JSON lines instead of text")
	jobs := fs.Int("jobs", 1, "media jobs (ffmpeg, PDF rendering) at once; each uses every core (one more for a photo or a PDF up to 4 MiB; time-stamps, e-mail and SMS run in a lane of their own, one at a time in order). 0 runs none: jobs wait in the queue for another process")
	mediaTimeout := fs.String("media-timeout", "30m", "longest one media tool may run; a pass over a whole video (proxy, filmstrip) may take it plus 8× the video's length, the proxy stopped after this long without progress")
	mediaMemMiB := fs.Int64("media-memory-mib", 2048, "address-space limit of each media tool, in MiB")
	videoWork := fs.Float64("video-work-gpx", media.DefaultVideoWork/1e9, "billions of pixels decoded for one video at most (width × height × frame rate × seconds; video_too_long past it): 1000 is about 4.5 hours of 1080p or 1.1 hours of 4K at 30 fps")
	warnKM := fs.Float64("location-warn-km", 1, "flag evidence captured farther than this from the case's site")
	followUpDays := fs.Int("followup-days", 5, "working days the office gives itself to close the follow-up (整改) of a rating of 不满意 or worse")
	drainGrace := fs.String("drain-grace", "5s", "on SIGTERM, how long /readyz answers 503 while requests are still served, so that a load balancer checking it stops sending any; skipped when /readyz was never asked; 0 stops at once")
	var lf liveFlags
	lf.register(fs)
	var gf signFlags
	gf.register(fs)
	var df downloadFlags
	df.register(fs)
	var tf tsaFlags
	tf.register(fs)
	var nf notifyFlags
	nf.register(fs)
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	if getenv("GOGC") == "" {
		// The heap is small (a few tens of MiB) and most garbage is
		// short-lived request and packet buffers: collecting at 5× the
		// live heap instead of 2× takes a few MiB and shortens the
		// latency tail under load (docs/BENCHMARKS.md, annotations).
		debug.SetGCPercent(400)
	}
	var handler slog.Handler = slog.NewTextHandler(stderr, nil)
	if *logJSON {
		handler = slog.NewJSONHandler(stderr, nil)
	}
	log := slog.New(handler)
	loc, err := time.LoadLocation(*tz)
	if err != nil {
		return fmt.Errorf("--timezone: %w", err)
	}
	sttl, err1 := parseDuration(*sessionTTL)
	sweepEvery, err2 := parseDuration(*sweep)
	mto, err3 := parseDuration(*mediaTimeout)
	grace, err4 := time.ParseDuration(*drainGrace)
	if err4 != nil || grace < 0 {
		err4 = fmt.Errorf("--drain-grace: bad duration %q: want e.g. 5s, or 0", *drainGrace)
	}
	var err5 error
	if *followUpDays < 1 || *followUpDays > 60 {
		err5 = fmt.Errorf("--followup-days: %d is not 1 to 60 working days", *followUpDays)
	}
	if err := errors.Join(err1, err2, err3, err4, err5); err != nil {
		return err
	}
	directTTL, err := df.directTTL(sf.s3Endpoint != "")
	if err != nil {
		return err
	}
	tsa, tsaRetry, err := tf.client()
	if err != nil {
		return err
	}
	sender, err := nf.sender(loc, *publicURL)
	if err != nil {
		return err
	}
	st, err := sf.open(ctx, log)
	if err != nil {
		return err
	}
	defer st.db.Close()
	// Live invitations keep their join link sealed under a key in the
	// object store (storage/notify_key.go). Only a server writes them; the
	// other commands (user, audit verify) leave the key and the rows alone.
	if err := st.db.LoadNotifyKey(ctx, st.objects); err != nil {
		return err
	}
	if st.db.Dialect() == "postgres" {
		// A new PostgreSQL connection is a new server process: the first
		// burst of requests would wait for them (docs/BENCHMARKS.md). On
		// SQLite a connection opens in the process, and warming each
		// added ~2 MiB to the embedded default's peak memory.
		if err := st.db.WarmPool(ctx); err != nil {
			return err
		}
	}
	if tsa != nil {
		st.db.EnableTimestamps()
		log.Info("time-stamping originals, recordings and decisions", "tsa", tsa.URL())
	}
	if email, sms := sender.Channels(); email || sms {
		st.db.EnableNotifyChannels(email, sms)
		log.Info("notifying by e-mail and SMS besides the app", "email", email, "sms", sms)
	}
	if err := st.db.SeedPermitTypes(ctx); err != nil {
		return err
	}
	// Other replicas' changes and ended sessions (PostgreSQL), heard until
	// the HTTP server has stopped, not only until SIGTERM: requests
	// served while draining need them too.
	listenCtx, stopListening := context.WithCancel(context.WithoutCancel(ctx))
	listenDone := make(chan struct{})
	go func() { defer close(listenDone); st.db.Listen(listenCtx, log) }()
	defer func() { stopListening(); <-listenDone }()
	if !strings.HasPrefix(sf.db, "postgres") {
		// SQLite means one process: any upload lease left is a dead one.
		if err := st.uploads.ReleaseAllLeases(ctx); err != nil {
			return err
		}
		if err := st.db.ReleaseAllJobLeases(ctx); err != nil {
			return err
		}
	}
	// An admin's retention setting for the office overrides the flag.
	st.retention.Office = *office
	if *demo {
		if err := createDemoUsers(ctx, st.db, *office, filepath.Join(sf.data, "demo-passwords.json"), stdout); err != nil {
			return err
		}
	}
	if *videoWork <= 0 {
		return fmt.Errorf("--video-work-gpx: got %g, want more than 0", *videoWork)
	}
	mr := media.Runner{Timeout: mto, MemoryBytes: *mediaMemMiB << 20, VideoWork: *videoWork * 1e9, Zone: loc}
	worker, err := pipeline.New(pipeline.Config{
		DB: st.db, Objects: st.objects, WorkDir: filepath.Join(sf.data, "work"), Concurrency: *jobs, Logger: log,
		// SIGTERM: no new job; the running ones may finish meanwhile
		// (the drain and the HTTP shutdown take as long), then are cut
		// short and taken over after their lease.
		StopGrace: 25 * time.Second,
		Media:     mr,

		// RFC 3161 tokens over originals, recordings and the audit head.
		Timestamps: tsa, TimestampRetry: tsaRetry,

		// E-mail and SMS, retried while the mail server or gateway is down.
		Notifications: st.db, Notifier: sender, NotifyRetry: nf.retry,
	})
	if err != nil {
		return err
	}
	signer, err := gf.signer(sf.data, cmp.Or(*officeName, *office), *demo, loc, log)
	if err != nil {
		return err
	}
	if signer != nil && tsa != nil {
		timestampSignatures(signer, tsa, log) // PAdES-B-T: the TSA's token in each signature
	}
	reports := &pipeline.Reports{DB: st.db, Objects: st.objects, WorkDir: filepath.Join(sf.data, "work"), Location: loc, OfficeName: *officeName, Logger: log, Jobs: max(2, *jobs),
		Media: mr, Signer: signer,
		LocationWarnM: *warnKM * 1000}
	webFS, err := web.FS()
	if err != nil {
		return err
	}
	// Listening first: a replica's default id and internal URL take the
	// port it got.
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	defer ln.Close()
	replica, err := lf.replica(*listen, ln.Addr(), sf.data)
	if err != nil {
		return err
	}
	mgr, lcfg, err := lf.open(sf.data, log)
	if err != nil {
		return err
	}
	defer mgr.Close()
	liveSvc, err := live.New(live.Config{DB: st.db, Objects: st.objects, Media: mgr, Replica: replica, Idle: lf.idle, MaxDuration: lf.maxDur,
		Notify: worker.Notify, Logger: log.With("component", "live")})
	if err != nil {
		return err
	}
	// What a killed process left of its sessions is dealt with before
	// anyone can publish into them again.
	liveSvc.Recover(ctx)
	// Heartbeats and the idle sweep go on while draining; Close (by
	// srv.Close below) stops them.
	go liveSvc.Run(context.WithoutCancel(ctx))
	srv, err := server.New(server.Config{
		DB: st.db, Objects: st.objects, Uploads: st.uploads, Web: webFS, Logger: log,
		Registry: prometheus.NewRegistry(), Office: *office, OfficeName: *officeName, NumberPrefix: *prefix, Location: loc,
		RetentionDays: sf.retentionDays,
		SessionTTL:    sttl, SecureCookies: *secure, TrustProxy: *trustProxy, Notify: worker.Notify,
		LocationWarnMeters: *warnKM * 1000, Reports: reports, PublicURL: *publicURL,
		Live: liveSvc, LiveICEServers: lcfg.ICEServers, LiveTokenTTL: lf.tokenTTL,
		Retention: st.retention, DirectDownloadTTL: directTTL, NotificationWords: sender, FollowUpDays: *followUpDays,
	})
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute, ErrorLog: slog.NewLogLogger(handler, slog.LevelWarn)}
	hs.RegisterOnShutdown(srv.EndStreams)
	fmt.Fprintf(stdout, "siteinspect listening on http://%s (objects: %s)\n", ln.Addr(), st.kind)
	log.Info("serving", "addr", ln.Addr().String(), "objects", st.kind)

	sweepDone := make(chan struct{})
	go func() {
		defer close(sweepDone)
		t := time.NewTicker(sweepEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if n, err := st.uploads.Sweep(ctx); err != nil {
					log.Error("sweep uploads", "err", err)
				} else if n > 0 {
					log.Info("expired abandoned uploads", "count", n)
				}
				st.db.DeleteExpiredSessions(ctx)
				// 承诺办: a reminder a day for each owed material past due.
				if n, err := st.db.RemindOverdueOwed(ctx, 24*time.Hour); err != nil {
					log.Error("remind overdue owed materials", "err", err)
				} else if n > 0 {
					log.Info("reminded of overdue owed materials", "count", n)
				}
				// Withdrawn cases past their retention, not held.
				if n, err := st.retention.Sweep(ctx); err != nil {
					log.Error("purge withdrawn cases", "err", err)
				} else if n > 0 {
					log.Info("purged withdrawn cases past their retention", "count", n)
				}
			}
		}
	}()

	// The supervision figures' closed days, kept ahead of the first
	// request for a year (storage/stats_days.go): at start, then hourly.
	statsDone := make(chan struct{})
	go func() {
		defer close(statsDone)
		t := time.NewTicker(time.Hour)
		defer t.Stop()
		for {
			if n, err := st.db.FillStatsDays(ctx, *office, loc, storage.MaxStatsDays); err != nil && ctx.Err() == nil {
				log.Error("keep the supervision figures' closed days", "err", err)
			} else if n > 0 {
				log.Info("kept the supervision figures' closed days", "days", n)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()

	workerDone := make(chan struct{})
	go func() {
		defer close(workerDone)
		if *jobs > 0 {
			go wakeOnChanges(ctx, st.db.Changed, worker.Notify, 100*time.Millisecond)
			worker.Run(ctx)
		}
	}()

	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	// Drain: out of the balancer's rotation first, then stop accepting.
	if srv.Drain() && grace > 0 {
		log.Info("draining: /readyz answers 503, still serving", "for", grace)
		select {
		case err := <-errc:
			return fmt.Errorf("serve: %w", err)
		case <-time.After(grace):
		}
	}
	log.Info("shutting down: finishing requests in flight")
	shutCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = hs.Shutdown(shutCtx)
	// Open live sessions end now: their recordings become evidence.
	if lerr := srv.Close(shutCtx); lerr != nil {
		log.Error("ending live sessions", "err", lerr)
	}
	<-sweepDone
	<-statsDone
	<-workerDone
	if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// demoUsers are the accounts --demo makes: one per role, plus an applicant
// of a second company to show that companies do not see each other.
var demoUsers = []struct {
	username, role, name, org string
}{
	{"applicant", "applicant", "王芳 Wang Fang", "Binhai Harbour Hotel Co."},
	{"applicant2", "applicant", "李强 Li Qiang", "Tianjin Seal Works Ltd."},
	{"inspector", "inspector", "张伟 Zhang Wei", ""},
	{"reviewer", "reviewer", "刘洋 Liu Yang", ""},
	{"supervisor", "supervisor", "陈静 Chen Jing", ""},
	{"admin", "admin", "系统管理员 Admin", ""},
}

// demoUserStore is what createDemoUsers needs from the records.
type demoUserStore interface {
	CreateUser(ctx context.Context, username, password string, role domain.Role, displayName, org string) (*domain.User, error)
	SetPassword(ctx context.Context, username, password string) error
	Authenticate(ctx context.Context, username, password string) (*domain.User, error)
}

// createDemoUsers makes the demo accounts and prints their passwords. The
// passwords are kept in file (in the data folder, readable by its owner
// only), so that a restart on the same folder keeps them, and with them
// everyone's sessions (a new password ends the user's sessions). A user
// that is missing, or whose password no longer matches the file's (changed
// in the app, or another data folder's server set it), gets a new one.
func createDemoUsers(ctx context.Context, db demoUserStore, office, file string, stdout io.Writer) error {
	saved := map[string]string{}
	if b, err := os.ReadFile(file); err == nil {
		if err := json.Unmarshal(b, &saved); err != nil {
			return fmt.Errorf("demo passwords %s: %w", file, err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("demo passwords: %w", err)
	}
	fmt.Fprintf(stdout, "demo users (passwords kept in %s):\n", file)
	changed := false
	for _, u := range demoUsers {
		pw, ok := saved[u.username]
		if ok {
			if _, err := db.Authenticate(ctx, u.username, pw); err == nil {
				fmt.Fprintf(stdout, "  %-10s %-10s password: %s\n", u.role, u.username, pw)
				continue
			}
		}
		pw = rand.Text()[:16]
		org := u.org
		if org == "" {
			org = office
		}
		_, err := db.CreateUser(ctx, u.username, pw, domain.Role(u.role), u.name, org)
		if errors.Is(err, domain.ErrConflict) {
			err = db.SetPassword(ctx, u.username, pw)
		}
		if err != nil {
			return fmt.Errorf("demo user %s: %w", u.username, err)
		}
		saved[u.username], changed = pw, true
		fmt.Fprintf(stdout, "  %-10s %-10s password: %s\n", u.role, u.username, pw)
	}
	if !changed {
		return nil
	}
	b, _ := json.MarshalIndent(saved, "", "  ")
	tmp := file + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("demo passwords: %w", err)
	}
	if err := os.Rename(tmp, file); err != nil {
		return fmt.Errorf("demo passwords: %w", err)
	}
	return nil
}

func parseDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("bad duration %q: want e.g. 30s, 15m, 24h", s)
	}
	return d, nil
}

func mkdirAll(dir string) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	return nil
}
