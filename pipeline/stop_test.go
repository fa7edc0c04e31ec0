package pipeline_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"siteinspect/domain"
	"siteinspect/internal/testenv"
	"siteinspect/pipeline"
	"siteinspect/storage"
	"siteinspect/storage/objects"
)

// TestStopLetsRunningJobFinish: when Run's context ends (SIGTERM), a
// worker with a StopGrace claims nothing more but lets the job it is
// running finish; without one, the job is cut short and stays claimed,
// to run again later.
func TestStopLetsRunningJobFinish(t *testing.T) {
	for _, grace := range []time.Duration{time.Minute, 0} {
		t.Run(grace.String(), func(t *testing.T) {
			ctx := context.Background()
			db := testenv.NewDB(t)
			store, err := objects.NewDisk(filepath.Join(t.TempDir(), "store"))
			if err != nil {
				t.Fatal(err)
			}
			ups, _ := storage.NewUploads(db, store, domain.UploadConfig{SpoolDir: t.TempDir(), PartSize: objects.MinPartSize})
			user, _ := db.CreateUser(ctx, "applicant", "correct horse battery", domain.RoleApplicant, "", "Acme")
			cs, _ := db.CreateCase(ctx, user, "binhai", "BH", time.UTC, domain.NewCase{PermitType: "hotel", SiteName: "s", SiteAddress: "a"})
			clip := testenv.MakeMP4(t, t.TempDir(), 6, "640x360")
			var evs []*domain.Evidence
			for range 2 {
				f, _ := os.Open(clip)
				st, _ := f.Stat()
				up, _ := ups.CreateUpload(ctx, cs, user, st.Size(), map[string]string{"filename": "clip.mp4"}, "")
				_, ev, err := ups.Append(ctx, up.ID, 0, f, nil)
				f.Close()
				if err != nil || ev == nil {
					t.Fatalf("upload: got %v, %v; want evidence", ev, err)
				}
				evs = append(evs, ev)
			}
			w, err := pipeline.New(pipeline.Config{DB: db, Objects: store, WorkDir: filepath.Join(t.TempDir(), "work"),
				Concurrency: 1, Poll: 20 * time.Millisecond, StopGrace: grace})
			if err != nil {
				t.Fatal(err)
			}
			wctx, stop := context.WithCancel(ctx)
			done := make(chan struct{})
			go func() { defer close(done); w.Run(wctx) }()
			t.Cleanup(func() { stop(); <-done })
			jobState := func(ev *domain.Evidence) (state string, attempts int) {
				t.Helper()
				if err := db.SQL().QueryRow(`SELECT state, attempts FROM jobs WHERE evidence_id = ?`, ev.ID).Scan(&state, &attempts); err != nil {
					t.Fatal(err)
				}
				return state, attempts
			}
			// Stop as soon as one job runs.
			var running, waiting *domain.Evidence
			for deadline := time.Now().Add(30 * time.Second); running == nil; time.Sleep(5 * time.Millisecond) {
				for i, ev := range evs {
					if s, _ := jobState(ev); s == domain.JobRunning {
						running, waiting = ev, evs[1-i]
					}
				}
				if time.Now().After(deadline) {
					t.Fatal("no job running within 30 s")
				}
			}
			stopped := time.Now()
			stop()
			select {
			case <-done:
			case <-time.After(90 * time.Second):
				t.Fatal("Run did not return within 90 s of its context ending")
			}
			t.Logf("grace %v: Run returned %v after its context ended", grace, time.Since(stopped).Round(time.Millisecond))
			ev, err := db.Evidence(ctx, running.ID)
			if err != nil {
				t.Fatal(err)
			}
			state, attempts := jobState(running)
			if grace > 0 && (ev.Status != domain.EvidenceReady || state != domain.JobDone) {
				t.Fatalf("running job with a grace: got evidence %q, job %q; want ready and done", ev.Status, state)
			}
			if grace == 0 && (ev.Status != domain.EvidenceProcessing || state != domain.JobRunning || attempts != 1) {
				t.Fatalf("running job without a grace: got evidence %q, job %q (attempt %d); want processing, still claimed at attempt 1", ev.Status, state, attempts)
			}
			if state, attempts := jobState(waiting); state != domain.JobQueued || attempts != 0 {
				t.Fatalf("job not yet started when Run stopped: got %q after %d attempts, want queued and never claimed", state, attempts)
			}
		})
	}
}
