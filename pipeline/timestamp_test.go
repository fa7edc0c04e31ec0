package pipeline_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"siteinspect/domain"
	"siteinspect/internal/pdftest"
	"siteinspect/internal/testenv"
	"siteinspect/internal/tsatest"
	"siteinspect/media"
	"siteinspect/pipeline"
	"siteinspect/storage"
	"siteinspect/storage/objects"
	"siteinspect/timestamp"
)

// TestTimestampJobs: an upload's time-stamp is obtained by the worker and
// verifies against the TSA's CA; with the TSA stopped the upload still
// completes, its time-stamp waits (pending, the error noted) and is
// obtained once the TSA is back on the same address; a live inspection's
// recording gets a token of its own kind.
func TestTimestampJobs(t *testing.T) {
	ctx := context.Background()
	tsa := tsatest.Start(t)
	roots, err := timestamp.LoadRoots(tsa.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	tsc, err := timestamp.NewClient(timestamp.Config{URL: tsa.URL, Roots: roots, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	db := testenv.NewDB(t)
	db.EnableTimestamps()
	store, err := objects.NewDisk(filepath.Join(t.TempDir(), "objects"))
	if err != nil {
		t.Fatal(err)
	}
	ups, err := storage.NewUploads(db, store, domain.UploadConfig{SpoolDir: filepath.Join(t.TempDir(), "spool"), PartSize: objects.MinPartSize})
	if err != nil {
		t.Fatal(err)
	}
	// hold, when set, keeps the next media tool from starting until
	// release is closed (the end of the test).
	var hold atomic.Bool
	held, release := make(chan struct{}, 1), make(chan struct{})
	hook := func(name string, args []string) {
		if hold.CompareAndSwap(true, false) {
			held <- struct{}{}
			<-release
		}
	}
	w, err := pipeline.New(pipeline.Config{DB: db, Objects: store, WorkDir: filepath.Join(t.TempDir(), "work"),
		Poll: 50 * time.Millisecond, Timestamps: tsc, TimestampRetry: 100 * time.Millisecond,
		Concurrency: 1, Media: media.Runner{Trace: hook}})
	if err != nil {
		t.Fatal(err)
	}
	user, err := db.CreateUser(ctx, "applicant", "correct horse battery", domain.RoleApplicant, "", "Acme")
	if err != nil {
		t.Fatal(err)
	}
	cs, err := db.CreateCase(ctx, user, "binhai", "BH", time.UTC, domain.NewCase{PermitType: "hotel", SiteName: "s", SiteAddress: "a"})
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); w.Run(wctx) }()
	t.Cleanup(func() { cancel(); <-done })
	var releaseOnce sync.Once
	t.Cleanup(func() { releaseOnce.Do(func() { close(release) }) })

	upload := func(name string, body []byte) *domain.Evidence {
		t.Helper()
		up, err := ups.CreateUpload(ctx, cs, user, int64(len(body)), map[string]string{"filename": name}, "")
		if err != nil {
			t.Fatal(err)
		}
		_, ev, err := ups.Append(ctx, up.ID, 0, bytes.NewReader(body), nil)
		if err != nil || ev == nil {
			t.Fatalf("upload %s: got %v, %v; want evidence", name, ev, err)
		}
		w.Notify()
		return ev
	}
	// waitFor polls the case's time-stamp for ev until cond holds.
	waitFor := func(ev *domain.Evidence, what string, cond func(*domain.Timestamp) bool) *domain.Timestamp {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			all, err := db.CaseTimestamps(ctx, cs.ID)
			if err != nil {
				t.Fatal(err)
			}
			for _, ts := range all {
				if ts.EvidenceID == ev.ID && cond(ts) {
					return ts
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("time-stamp of %s: not %s within 20s (have %+v)", ev.Filename, what, all)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	verify := func(ts *domain.Timestamp, ev *domain.Evidence) {
		t.Helper()
		if ts.Kind != domain.TimestampEvidence || ts.Digest != ev.SHA256 {
			t.Errorf("time-stamp: got kind %q digest %s, want evidence %s", ts.Kind, ts.Digest, ev.SHA256)
		}
		digest, _ := hex.DecodeString(ev.SHA256)
		info, err := timestamp.Verify(ts.Token, digest, roots)
		if err != nil {
			t.Fatalf("Verify the stored token: %v", err)
		}
		if ts.GenTime == nil || !info.GenTime.Equal(*ts.GenTime) || ts.TSA != tsa.URL {
			t.Errorf("stored gen_time %v, tsa %q; want %s, %q", ts.GenTime, ts.TSA, info.GenTime, tsa.URL)
		}
	}
	isDone := func(ts *domain.Timestamp) bool { return ts.State == domain.TimestampDone }

	first := upload("a.pdf", minimalPDF("first"))
	verify(waitFor(first, "done", isDone), first)

	tsa.Stop()
	second := upload("b.pdf", minimalPDF("second"))
	waiting := waitFor(second, "pending after a failed attempt", func(ts *domain.Timestamp) bool {
		return ts.State == domain.TimestampPending && strings.Contains(ts.LastError, "unavailable")
	})
	if pending, err := db.TimestampPending(ctx, cs.ID); err != nil || !pending {
		t.Errorf("TimestampPending with the TSA down: got %v, %v; want true", pending, err)
	}
	if waiting.Token != nil {
		t.Errorf("pending time-stamp holds a %d-byte token, want none", len(waiting.Token))
	}

	tsa.Restart(t)
	verify(waitFor(second, "done after the TSA returned", isDone), second)
	if pending, err := db.TimestampPending(ctx, cs.ID); err != nil || pending {
		t.Errorf("TimestampPending after the TSA returned: got %v, %v; want false", pending, err)
	}

	// A time-stamp does not wait for media work: with the one media slot
	// taken by an item whose first tool is held back, the next item's
	// time-stamp is obtained all the same (its own lane, domain.JobLane).
	hold.Store(true)
	upload("c.pdf", minimalPDF("held"))
	select {
	case <-held:
	case <-time.After(20 * time.Second):
		t.Fatal("c.pdf's media work did not start within 20s")
	}
	next := upload("d.pdf", minimalPDF("next"))
	verify(waitFor(next, "done while the media slot is taken", isDone), next)
	releaseOnce.Do(func() { close(release) })

	// A live inspection's recording is time-stamped as a recording.
	if cs, err = db.Case(ctx, cs.ID); err != nil {
		t.Fatal(err)
	}
	if cs, err = db.SubmitCase(ctx, cs, user, time.UTC); err != nil {
		t.Fatal(err)
	}
	insp, err := db.CreateUser(ctx, "inspector", "correct horse battery", domain.RoleInspector, "", "binhai")
	if err != nil {
		t.Fatal(err)
	}
	if cs, err = db.AssignCase(ctx, cs, insp, insp.ID, ""); err != nil {
		t.Fatal(err)
	}
	ls, _, err := db.CreateLiveSession(ctx, cs, insp, nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	recSum := sha256.Sum256([]byte("recording bytes"))
	_, rec, err := db.EndLiveSession(ctx, ls, insp.ID, "done", &domain.LiveRecording{ObjectKey: "cases/" + cs.ID + "/live.webm",
		ContentType: "video/webm", Filename: "live.webm", Size: 15, SHA256: hex.EncodeToString(recSum[:]), Segments: 1, DurationMS: 1000})
	if err != nil || rec == nil {
		t.Fatalf("EndLiveSession: got %v, %v; want a recording", rec, err)
	}
	w.Notify()
	recTS := waitFor(rec, "done", isDone)
	if recTS.Kind != domain.TimestampRecording || recTS.Digest != rec.SHA256 {
		t.Errorf("recording's time-stamp: got kind %q digest %s, want recording %s", recTS.Kind, recTS.Digest, rec.SHA256)
	}
	if _, err := timestamp.Verify(recTS.Token, recSum[:], roots); err != nil {
		t.Errorf("Verify the recording's token: %v", err)
	}
}

// TestHeadTimestamps: while audit events arrive the worker has the chain's
// head time-stamped every HeadTimestampEvery, and not again while none do.
func TestHeadTimestamps(t *testing.T) {
	ctx := context.Background()
	tsa := tsatest.Start(t)
	roots, err := timestamp.LoadRoots(tsa.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	tsc, err := timestamp.NewClient(timestamp.Config{URL: tsa.URL, Roots: roots})
	if err != nil {
		t.Fatal(err)
	}
	db := testenv.NewDB(t)
	db.EnableTimestamps()
	store, err := objects.NewDisk(filepath.Join(t.TempDir(), "objects"))
	if err != nil {
		t.Fatal(err)
	}
	w, err := pipeline.New(pipeline.Config{DB: db, Objects: store, WorkDir: filepath.Join(t.TempDir(), "work"),
		Poll: 50 * time.Millisecond, Timestamps: tsc, HeadTimestampEvery: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); w.Run(wctx) }()
	t.Cleanup(func() { cancel(); <-done })

	heads := func() []*domain.Timestamp {
		t.Helper()
		all, err := db.AllTimestamps(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var out []*domain.Timestamp
		for _, ts := range all {
			if ts.Kind == domain.TimestampAuditHead {
				out = append(out, ts)
			}
		}
		return out
	}
	// waitHead waits for a token over event seq and checks it.
	waitHead := func(seq int64, hash string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			for _, ts := range heads() {
				if ts.AuditSeq == seq && ts.State == domain.TimestampDone {
					digest, _ := hex.DecodeString(hash)
					if ts.Digest != hash {
						t.Errorf("head time-stamp of event %d: digest %s, want the event's hash %s", seq, ts.Digest, hash)
					}
					if _, err := timestamp.Verify(ts.Token, digest, roots); err != nil {
						t.Errorf("Verify the head token of event %d: %v", seq, err)
					}
					return
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("no head time-stamp of event %d within 10s (have %d)", seq, len(heads()))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	record := func() (int64, string) {
		t.Helper()
		if _, err := db.RecordAudit(ctx, storage.Audit{Action: "test.event"}); err != nil {
			t.Fatal(err)
		}
		seq, hash, err := db.AuditHead(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return seq, hash
	}

	record()
	waitHead(record())
	n := len(heads())
	time.Sleep(300 * time.Millisecond) // six periods without an event
	if got := len(heads()); got != n {
		t.Errorf("head time-stamps after a quiet spell: got %d, want still %d", got, n)
	}
	waitHead(record())
	if got := len(heads()); got != n+1 {
		t.Errorf("head time-stamps after one more event: got %d, want %d", got, n+1)
	}
}

// minimalPDF is a valid one-page PDF saying text, so that the upload is
// processed (a case is submitted only with evidence that was).
func minimalPDF(text string) []byte {
	objs := []string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
		"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
	}
	stream := "BT /F1 12 Tf 20 100 Td (" + text + ") Tj ET"
	objs = append(objs, fmt.Sprintf("<< /Length %d >>\nstream\n%s\nendstream", len(stream), stream))
	return pdftest.PDF(objs, "")
}
