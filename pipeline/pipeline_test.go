package pipeline_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"siteinspect/domain"
	"siteinspect/internal/testenv"
	"siteinspect/media"
	"siteinspect/pipeline"
	"siteinspect/storage"
	"siteinspect/storage/objects"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// env is a worker running against a real SQLite file and MinIO bucket.
type env struct {
	db      *storage.DB
	objects *objects.MinIO
	ups     *storage.Uploads
	worker  *pipeline.Worker
	user    *domain.User
	cs      *domain.Case
	work    string
}

func newEnv(t *testing.T, opts ...func(*pipeline.Config)) *env {
	t.Helper()
	ctx := context.Background()
	e := &env{db: testenv.NewDB(t), objects: testenv.NewMinIO(t), work: filepath.Join(t.TempDir(), "work")}
	var err error
	if e.ups, err = storage.NewUploads(e.db, e.objects, domain.UploadConfig{SpoolDir: filepath.Join(t.TempDir(), "spool"), PartSize: objects.MinPartSize}); err != nil {
		t.Fatal(err)
	}
	cfg := pipeline.Config{DB: e.db, Objects: e.objects, WorkDir: e.work, Poll: 50 * time.Millisecond}
	for _, o := range opts {
		o(&cfg)
	}
	if e.worker, err = pipeline.New(cfg); err != nil {
		t.Fatal(err)
	}
	if e.user, err = e.db.CreateUser(ctx, "applicant", "correct horse battery", domain.RoleApplicant, "", "Acme"); err != nil {
		t.Fatal(err)
	}
	if e.cs, err = e.db.CreateCase(ctx, e.user, "binhai", "BH", time.UTC, domain.NewCase{PermitType: "hotel", SiteName: "s", SiteAddress: "a"}); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); e.worker.Run(wctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return e
}

// upload stores a file as evidence of the case through the upload path,
// which enqueues its processing job.
func (e *env) upload(t *testing.T, path string) *domain.Evidence {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	ctx := context.Background()
	up, err := e.ups.CreateUpload(ctx, e.cs, e.user, st.Size(), map[string]string{"filename": filepath.Base(path)}, "")
	if err != nil {
		t.Fatal(err)
	}
	_, ev, err := e.ups.Append(ctx, up.ID, 0, f, nil)
	if err != nil || ev == nil {
		t.Fatalf("upload %s: got %v, %v; want evidence", path, ev, err)
	}
	if ev.Status != domain.EvidenceProcessing {
		t.Fatalf("new evidence status: got %q, want processing", ev.Status)
	}
	e.worker.Notify()
	return ev
}

// waitDone polls until the item leaves processing.
func (e *env) waitDone(t *testing.T, id string) *domain.Evidence {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		ev, err := e.db.Evidence(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if ev.Status != domain.EvidenceProcessing {
			return ev
		}
		if time.Now().After(deadline) {
			t.Fatalf("evidence %s still processing after 90s", id)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// fetch copies a derived object to a local file.
func (e *env) fetch(t *testing.T, ev *domain.Evidence, name string) string {
	t.Helper()
	o, err := e.objects.Open(context.Background(), domain.DerivedKey(ev.CaseID, ev.ID, name))
	if err != nil {
		t.Fatalf("derived %s: %v", name, err)
	}
	defer o.Close()
	p := filepath.Join(t.TempDir(), strings.ReplaceAll(name, "/", "_"))
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := io.Copy(f, o); err != nil {
		t.Fatal(err)
	}
	return p
}

type probe struct {
	Streams []struct {
		CodecType string `json:"codec_type"`
		CodecName string `json:"codec_name"`
		Width     int    `json:"width"`
		Height    int    `json:"height"`
	} `json:"streams"`
}

func ffprobe(t *testing.T, path string) probe {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-show_streams", "-of", "json", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	var p probe
	if err := json.Unmarshal(out, &p); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRotatedHEVCGetsAProxy: an iPhone-like HEVC clip turned 90° is not
// playable in browsers, so it gets an upright H.264/AAC proxy; its media
// facts say portrait.
func TestRotatedHEVCGetsAProxy(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	flat, src := filepath.Join(dir, "flat.mov"), filepath.Join(dir, "iphone.mov")
	testenv.FFmpeg(t, "-f", "lavfi", "-i", "testsrc=size=640x360:rate=30", "-f", "lavfi", "-i", "sine=frequency=440",
		"-t", "3", "-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "log-level=error", "-tag:v", "hvc1", "-c:a", "aac", flat)
	// ffmpeg 5.1 writes the display matrix for "rotate" only when remuxing.
	testenv.FFmpeg(t, "-i", flat, "-c", "copy", "-metadata:s:v:0", "rotate=90",
		"-metadata", "location=+39.0842+117.2009/", "-metadata", "creation_time=2026-05-01T08:30:00Z", src)
	ev := e.waitDone(t, e.upload(t, src).ID)
	if ev.Status != domain.EvidenceReady {
		t.Fatalf("status: got %q (%s), want ready", ev.Status, ev.StatusReason)
	}
	m := ev.Media
	if m == nil || m.Width == nil || *m.Width != 360 || *m.Height != 640 || m.VideoCodec != "hevc" || m.DurationMS == nil || *m.DurationMS < 2900 || *m.DurationMS > 3100 {
		b, _ := json.Marshal(m)
		t.Fatalf("media: got %s, want 360x640 hevc of ~3000 ms", b)
	}
	if m.Location == nil || *m.Location != "39.084200,117.200900" || m.CapturedAt == nil || *m.CapturedAt != "2026-05-01T08:30:00Z" {
		t.Fatalf("capture: got location %v time %v, want 39.084200,117.200900 at 2026-05-01T08:30:00Z", m.Location, m.CapturedAt)
	}
	d := ev.Derived
	if d == nil || !d.Proxy || !d.Poster || d.Filmstrip == nil || d.Filmstrip.Count < 1 {
		t.Fatalf("derived: got %+v, want proxy, poster and filmstrip", d)
	}
	p := ffprobe(t, e.fetch(t, ev, domain.DerivedProxy))
	var v, a string
	var w, h int
	for _, s := range p.Streams {
		switch s.CodecType {
		case "video":
			v, w, h = s.CodecName, s.Width, s.Height
		case "audio":
			a = s.CodecName
		}
	}
	if v != "h264" || a != "aac" || w != 360 || h != 640 {
		t.Fatalf("proxy: got %s/%s %dx%d, want h264/aac 360x640", v, a, w, h)
	}
	if pp := ffprobe(t, e.fetch(t, ev, domain.DerivedPoster)); len(pp.Streams) != 1 || pp.Streams[0].Height != 640 {
		t.Fatalf("poster: got %+v, want one upright 640-high image", pp.Streams)
	}
	if entries, _ := os.ReadDir(e.work); len(entries) != 0 {
		t.Fatalf("work folder after the job: got %d entries, want none", len(entries))
	}
}

// TestPlayableVideoNeedsNoProxy: an H.264 MP4 plays as it is.
func TestPlayableVideoNeedsNoProxy(t *testing.T) {
	e := newEnv(t)
	ev := e.waitDone(t, e.upload(t, testenv.MakeMP4(t, t.TempDir(), 2, "320x240")).ID)
	if ev.Status != domain.EvidenceReady || ev.Derived == nil || ev.Derived.Proxy || !ev.Derived.Poster || ev.Media.VideoCodec != "h264" || ev.Media.AudioCodec != "aac" {
		t.Fatalf("got status %q derived %+v media %+v, want ready h264/aac with a poster and no proxy", ev.Status, ev.Derived, ev.Media)
	}
}

// playableAtPoster is what the records and the store said when the
// pipeline started making an item's poster.
type playableAtPoster struct {
	status   string
	playable bool
	poster   bool
	proxy    bool
	stored   []string // of original, poster, proxy: those in the store
}

// TestVideoIsPlayableBeforeItsPoster: an H.264/AAC MP4 is marked playable
// (on its original) as soon as the probe has found it playable, and an
// HEVC MOV as soon as its proxy is stored; both before their poster is
// even begun. The order is taken from the pipeline's own ffmpeg calls: at
// the moment the poster's command starts, the item is still processing,
// says playable, and its poster does not exist.
func TestVideoIsPlayableBeforeItsPoster(t *testing.T) {
	var e *env
	var mu sync.Mutex
	seen := map[string]playableAtPoster{} // evidence id → state at its poster
	trace := func(name string, args []string) {
		// The poster's command is the one that takes a single frame as
		// JPEG (it writes to a temporary name, renamed afterwards).
		if name != "ffmpeg" || !slices.Contains(args, "mjpeg") || !slices.Contains(args, "-frames:v") {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		// The work folder is named after the job; the evidence is found
		// by the only processing item whose poster is being made.
		ctx := context.Background()
		items, err := e.db.ListEvidence(ctx, e.cs.ID)
		if err != nil {
			t.Errorf("list evidence: %v", err)
			return
		}
		for _, ev := range items {
			if _, done := seen[ev.ID]; done || ev.Status != domain.EvidenceProcessing {
				continue
			}
			st := playableAtPoster{status: ev.Status}
			if ev.Derived != nil {
				st.playable, st.poster, st.proxy = ev.Derived.Playable, ev.Derived.Poster, ev.Derived.Proxy
			}
			for _, k := range []struct{ name, key string }{
				{"original", ev.ObjectKey},
				{"poster", domain.DerivedKey(ev.CaseID, ev.ID, domain.DerivedPoster)},
				{"proxy", domain.DerivedKey(ev.CaseID, ev.ID, domain.DerivedProxy)},
			} {
				if _, err := e.objects.Stat(ctx, k.key); err == nil {
					st.stored = append(st.stored, k.name)
				}
			}
			seen[ev.ID] = st
		}
	}
	e = newEnv(t, func(c *pipeline.Config) { c.Media.Trace = trace })
	dir := t.TempDir()
	mp4 := testenv.MakeMP4(t, dir, 2, "320x240")
	mov := filepath.Join(dir, "hevc.mov")
	testenv.FFmpeg(t, "-f", "lavfi", "-i", "testsrc=size=320x240:rate=30", "-f", "lavfi", "-i", "sine=frequency=440",
		"-t", "2", "-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "log-level=error", "-c:a", "aac", mov)
	for _, c := range []struct {
		path      string
		wantProxy bool
		wantStore string
	}{
		{mp4, false, "original"},
		{mov, true, "original proxy"},
	} {
		ev := e.waitDone(t, e.upload(t, c.path).ID)
		if ev.Status != domain.EvidenceReady || ev.Derived == nil || !ev.Derived.Playable || !ev.Derived.Poster || ev.Derived.Proxy != c.wantProxy {
			t.Fatalf("%s at the end: got %q derived %+v, want ready, playable, a poster, proxy %t", filepath.Base(c.path), ev.Status, ev.Derived, c.wantProxy)
		}
		mu.Lock()
		got, ok := seen[ev.ID]
		mu.Unlock()
		if !ok {
			t.Fatalf("%s: no poster command seen", filepath.Base(c.path))
		}
		want := playableAtPoster{status: domain.EvidenceProcessing, playable: true, proxy: c.wantProxy, stored: strings.Fields(c.wantStore)}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s when its poster began: got %+v, want %+v", filepath.Base(c.path), got, want)
		}
	}
}

// TestPhotoDoesNotWaitForVideo: with the one media slot taken by a video
// whose first tool is held back, a photo and a small PDF uploaded after it
// are made ready all the same, by the quick media lane (domain.JobLane).
func TestPhotoDoesNotWaitForVideo(t *testing.T) {
	var hold atomic.Bool
	hold.Store(true)
	held, release := make(chan struct{}, 1), make(chan struct{})
	e := newEnv(t, func(c *pipeline.Config) {
		c.Concurrency = 1
		c.Media.Trace = func(name string, args []string) {
			if hold.CompareAndSwap(true, false) {
				held <- struct{}{}
				<-release
			}
		}
	})
	var releaseOnce sync.Once
	t.Cleanup(func() { releaseOnce.Do(func() { close(release) }) }) // before the worker's stop
	dir := t.TempDir()
	video := e.upload(t, testenv.MakeMP4(t, dir, 2, "320x240"))
	select {
	case <-held:
	case <-time.After(20 * time.Second):
		t.Fatal("the video's processing did not start within 20s")
	}
	photo := filepath.Join(dir, "site.jpg")
	testenv.FFmpeg(t, "-f", "lavfi", "-i", "testsrc=size=640x480", "-frames:v", "1", photo)
	doc := filepath.Join(dir, "licence.pdf")
	if err := os.WriteFile(doc, minimalPDF("licence"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{photo, doc} {
		if ev := e.waitDone(t, e.upload(t, p).ID); ev.Status != domain.EvidenceReady {
			t.Fatalf("%s: got %q (%s), want ready", filepath.Base(p), ev.Status, ev.StatusReason)
		}
	}
	if ev, err := e.db.Evidence(context.Background(), video.ID); err != nil || ev.Status != domain.EvidenceProcessing {
		t.Fatalf("the held video: got %+v, %v; want it still processing", ev, err)
	}
	releaseOnce.Do(func() { close(release) })
	if ev := e.waitDone(t, video.ID); ev.Status != domain.EvidenceReady {
		t.Fatalf("the video once released: got %q (%s), want ready", ev.Status, ev.StatusReason)
	}
}

// TestPlayableOnlyWhileProcessing: marking an item playable is refused
// once it is ready (the pipeline's last word stands) and for an unknown
// item; while processing it records the media facts with it.
func TestPlayableOnlyWhileProcessing(t *testing.T) {
	e := newEnv(t, func(c *pipeline.Config) { c.Poll = time.Hour })
	ctx := context.Background()
	// The worker sleeps (an hour's poll, never notified): the item stays
	// processing until this test says otherwise.
	f, err := os.Open(testenv.MakeMP4(t, t.TempDir(), 1, "160x120"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	up, err := e.ups.CreateUpload(ctx, e.cs, e.user, st.Size(), map[string]string{"filename": "a.mp4"}, "")
	if err != nil {
		t.Fatal(err)
	}
	_, ev, err := e.ups.Append(ctx, up.ID, 0, f, nil)
	if err != nil || ev == nil {
		t.Fatalf("upload: got %v, %v; want evidence", ev, err)
	}
	dur := int64(1000)
	if err := e.db.SetEvidencePlayable(ctx, ev.ID, &domain.Media{DurationMS: &dur, VideoCodec: "h264"}, &domain.Derived{Playable: true}); err != nil {
		t.Fatalf("mark processing item playable: %v", err)
	}
	got, err := e.db.Evidence(ctx, ev.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != domain.EvidenceProcessing || got.Derived == nil || !got.Derived.Playable || got.Media == nil || got.Media.VideoCodec != "h264" {
		t.Fatalf("after marking: got %q derived %+v media %+v, want processing, playable, h264", got.Status, got.Derived, got.Media)
	}
	if err := e.db.SetEvidenceResult(ctx, ev.ID, domain.EvidenceReady, "", got.Media, &domain.Derived{Playable: true, Poster: true}); err != nil {
		t.Fatal(err)
	}
	if err := e.db.SetEvidencePlayable(ctx, ev.ID, nil, &domain.Derived{Playable: true}); !errors.Is(err, domain.ErrConflict) {
		t.Errorf("mark a ready item playable: got %v, want ErrConflict", err)
	}
	if got, _ := e.db.Evidence(ctx, ev.ID); got.Derived == nil || !got.Derived.Poster || got.Media == nil {
		t.Errorf("ready item after a refused mark: got derived %+v media %+v, want both kept", got.Derived, got.Media)
	}
	if err := e.db.SetEvidencePlayable(ctx, "nosuch", nil, &domain.Derived{Playable: true}); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("mark an unknown item playable: got %v, want ErrNotFound", err)
	}
}

// TestBrokenInputFailsWithAReason: a truncated PDF and a video whose bytes
// after the header are garbage end failed with a reason, and do not retry.
func TestBrokenInputFailsWithAReason(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	broken := filepath.Join(dir, "broken.mp4")
	os.WriteFile(broken, append([]byte("\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomavc1"), make([]byte, 50000)...), 0o644)
	pdf := filepath.Join(dir, "truncated.pdf")
	os.WriteFile(pdf, []byte("%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n2 0 obj << /Type /Pages /Kids [3 0 R] /Cou"), 0o644)
	for _, p := range []string{broken, pdf} {
		ev := e.waitDone(t, e.upload(t, p).ID)
		if ev.Status != domain.EvidenceFailed || ev.StatusReason == "" || strings.Contains(ev.StatusReason, "attempts") {
			t.Errorf("%s: got status %q reason %q, want failed with the input's fault", filepath.Base(p), ev.Status, ev.StatusReason)
		}
	}
	counts, _ := e.db.JobCounts(context.Background())
	if counts[domain.JobDone] != 2 || counts[domain.JobQueued] != 0 {
		t.Errorf("jobs: got %v, want 2 done and none queued for retry", counts)
	}
}

// TestFailedJobIsRetried: a job that fails for a passing reason (here the
// original is missing from the store for a while) is retried with backoff
// and succeeds; one that keeps failing ends failed after its attempts.
func TestFailedJobIsRetried(t *testing.T) {
	ctx := context.Background()
	db := testenv.NewDB(t)
	store, err := objects.NewDisk(filepath.Join(t.TempDir(), "store"))
	if err != nil {
		t.Fatal(err)
	}
	ups, _ := storage.NewUploads(db, store, domain.UploadConfig{SpoolDir: t.TempDir(), PartSize: objects.MinPartSize})
	user, _ := db.CreateUser(ctx, "applicant", "correct horse battery", domain.RoleApplicant, "", "Acme")
	cs, _ := db.CreateCase(ctx, user, "binhai", "BH", time.UTC, domain.NewCase{PermitType: "hotel", SiteName: "s", SiteAddress: "a"})
	upload := func(path string) *domain.Evidence {
		f, _ := os.Open(path)
		defer f.Close()
		st, _ := f.Stat()
		up, _ := ups.CreateUpload(ctx, cs, user, st.Size(), map[string]string{"filename": filepath.Base(path)}, "")
		_, ev, err := ups.Append(ctx, up.ID, 0, f, nil)
		if err != nil {
			t.Fatal(err)
		}
		return ev
	}
	clip := testenv.MakeMP4(t, t.TempDir(), 1, "160x120")
	flaky, lost := upload(clip), upload(clip)
	// Hide both originals: every attempt fails until one comes back.
	hide := func(ev *domain.Evidence) string {
		o, _ := store.Open(ctx, ev.ObjectKey)
		b, _ := io.ReadAll(o)
		o.Close()
		// The store refuses to delete an original; remove its file.
		if p, err := store.Locate(ctx, ev.ObjectKey); err != nil || os.Remove(p) != nil {
			t.Fatalf("hide original %s: %v", ev.ObjectKey, err)
		}
		return string(b)
	}
	flakyBytes := hide(flaky)
	hide(lost)
	w, err := pipeline.New(pipeline.Config{DB: db, Objects: store, WorkDir: filepath.Join(t.TempDir(), "work"), Poll: 20 * time.Millisecond, RetryBase: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); w.Run(wctx) }()
	t.Cleanup(func() { cancel(); <-done })
	// Wait until the flaky job's first attempt has failed and it waits to
	// be retried; only then does its original come back.
	deadline := time.Now().Add(30 * time.Second)
	for {
		var state, lastErr string
		var attempts int
		err := db.SQL().QueryRow(`SELECT state, attempts, last_error FROM jobs WHERE evidence_id = ?`, flaky.ID).Scan(&state, &attempts, &lastErr)
		if err != nil {
			t.Fatal(err)
		}
		if state == domain.JobQueued && attempts >= 1 && lastErr != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("flaky job: got state %q after %d attempts, want queued for a retry within 30s", state, attempts)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := store.Put(ctx, flaky.ObjectKey, strings.NewReader(flakyBytes), int64(len(flakyBytes)), "video/mp4"); err != nil {
		t.Fatal(err)
	}
	e := &env{db: db}
	if got := e.waitDone(t, flaky.ID); got.Status != domain.EvidenceReady {
		t.Fatalf("flaky: got %q (%s), want ready after a retry", got.Status, got.StatusReason)
	}
	got := e.waitDone(t, lost.ID)
	if got.Status != domain.EvidenceFailed || !strings.Contains(got.StatusReason, "3 attempts") {
		t.Fatalf("lost: got %q (%s), want failed after 3 attempts", got.Status, got.StatusReason)
	}
	var attempts int
	db.SQL().QueryRow(`SELECT attempts FROM jobs WHERE evidence_id = ?`, flaky.ID).Scan(&attempts)
	if attempts < 2 {
		t.Fatalf("flaky job attempts: got %d, want at least 2", attempts)
	}
}

// TestVideoBombFailsWithItsCode: the 25 KB file claiming ten hours of
// 1080p ends failed at once, its status_reason starting with the stable
// code the UI translates, in one attempt (it was retried after each
// 10-minute timeout of its proxy).
func TestVideoBombFailsWithItsCode(t *testing.T) {
	e := newEnv(t)
	bomb := filepath.Join(t.TempDir(), "bomb.mkv")
	if b, err := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", "color=s=1920x1080:r=30",
		"-frames:v", "2", "-vf", "setpts=N*36000/TB", "-c:v", "mjpeg", "-f", "matroska", bomb).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, b)
	}
	start := time.Now()
	ev := e.waitDone(t, e.upload(t, bomb).ID)
	if ev.Status != domain.EvidenceFailed || !strings.HasPrefix(ev.StatusReason, media.CodeVideoTooLong+": ") {
		t.Fatalf("got status %q reason %q after %v, want failed with %s", ev.Status, ev.StatusReason, time.Since(start), media.CodeVideoTooLong)
	}
}
