package pipeline_test

import (
	"bytes"
	"context"
	"image/jpeg"
	"image/png"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"siteinspect/domain"
	"siteinspect/internal/testenv"
	"siteinspect/media"
	"siteinspect/pipeline"
	"siteinspect/storage"
)

// reportCase is a draft case with a ready numbered clip, an inspector,
// and a report maker on the env's MinIO.
type reportCase struct {
	*env
	insp    *domain.User
	video   *domain.Evidence
	reports *pipeline.Reports
	pics    string // where the reports keep drawn pictures of the case
}

func newReportCase(t *testing.T) *reportCase {
	t.Helper()
	ctx := context.Background()
	e := newEnv(t)
	rc := &reportCase{env: e}
	ev := e.upload(t, testenv.NumberedClip(t, filepath.Join(t.TempDir(), "numbered.mp4"), 10))
	if rc.video = e.waitDone(t, ev.ID); rc.video.Status != domain.EvidenceReady {
		t.Fatalf("clip: got %q (%s), want ready", rc.video.Status, rc.video.StatusReason)
	}
	var err error
	if rc.insp, err = e.db.CreateUser(ctx, "insp", "correct horse battery", domain.RoleInspector, "检查员", "binhai"); err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	rc.reports = &pipeline.Reports{DB: e.db, Objects: e.objects, WorkDir: work, Location: time.UTC, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	rc.pics = filepath.Join(work, "report-pictures", e.cs.ID)
	return rc
}

// note annotates the frame of the clip that starts at frame's time, for
// the fire-exits item, with a rectangle.
func (rc *reportCase) note(t *testing.T, frame int64) *domain.Annotation {
	t.Helper()
	ms := (frame*1001 + 15) / 30
	a, err := rc.db.CreateAnnotation(context.Background(), rc.cs, rc.video, rc.insp, domain.AnnotationInput{Body: "frame", StartMS: &ms, ChecklistItem: "fire-exits",
		Shape: &domain.Shape{Type: "rect", Points: [][2]float64{{0.1, 0.75}, {0.4, 0.95}}}})
	if err != nil {
		t.Fatal(err)
	}
	if a.StartFrame == nil || *a.StartFrame != frame {
		t.Fatalf("annotation at %d ms: got frame %v, want %d", ms, a.StartFrame, frame)
	}
	return a
}

// review submits the case and has the inspector take it.
func (rc *reportCase) review(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	cs, err := rc.db.Case(ctx, rc.cs.ID)
	if err != nil {
		t.Fatal(err)
	}
	if cs, err = rc.db.SubmitCase(ctx, cs, rc.user, time.UTC); err != nil {
		t.Fatal(err)
	}
	if rc.cs, err = rc.db.AssignCase(ctx, cs, rc.insp, "", ""); err != nil {
		t.Fatal(err)
	}
}

// write makes the report with a fresh verification code and returns it
// with the URL printed on it.
func (rc *reportCase) write(t *testing.T, asJSON bool) ([]byte, string) {
	t.Helper()
	cs, err := rc.db.Case(context.Background(), rc.cs.ID)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	url, err := rc.reports.WriteStored(context.Background(), cs, &buf, asJSON, "https://permits.example.gov/verify/"+cs.ID+"-"+domain.NewID())
	if err != nil {
		t.Fatalf("report: %v", err)
	}
	if !bytes.Contains(buf.Bytes(), []byte(strings.TrimPrefix(url, "https://permits.example.gov/verify/"))) && asJSON {
		t.Fatalf("report.json does not hold the code of %s it says it printed", url)
	}
	return buf.Bytes(), url
}

// framesDrawn reads the frame number off each picture kept for the case.
func (rc *reportCase) framesDrawn(t *testing.T) []int64 {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(rc.pics, "*.jpg"))
	var got []int64
	for _, p := range files {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		img, err := jpeg.Decode(f)
		f.Close()
		if err != nil {
			t.Fatalf("picture %s: %v", p, err)
		}
		got = append(got, testenv.FrameNumber(img))
	}
	slices.Sort(got)
	return got
}

// pdfFrames reads the frame number off each image of the PDF, in order.
func pdfFrames(t *testing.T, pdf []byte) []int64 {
	t.Helper()
	dir := t.TempDir()
	file := filepath.Join(dir, "report.pdf")
	if err := os.WriteFile(file, pdf, 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := exec.Command("pdfimages", "-png", file, filepath.Join(dir, "img")).CombinedOutput(); err != nil {
		t.Fatalf("pdfimages: %v %s", err, b)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "img-*.png"))
	slices.Sort(files)
	var got []int64
	for _, p := range files {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, testenv.FrameNumber(img))
	}
	return got
}

// TestReportStoredUntilTheCaseChanges: a report of a case that has not
// changed is the stored copy, byte for byte, with the verification URL it
// was first printed with, and nothing is drawn again; new evidence, the
// submission and assignment, a new annotation, an edited shape, findings
// and a decision each make a new report, extracting only the frames whose
// pictures are new. An issued report (an audit event that shows nowhere in
// the report) changes nothing. The pictures show the annotated frames; one
// no report has used for a day is removed.
func TestReportStoredUntilTheCaseChanges(t *testing.T) {
	ctx := context.Background()
	rc := newReportCase(t)
	want := pipeline.ReportCounts{}
	check := func(step string) {
		t.Helper()
		if got := rc.reports.Counts(); got != want {
			t.Fatalf("%s: got counts %+v, want %+v", step, got, want)
		}
	}

	pdf, url := rc.write(t, false)
	want.Made = 1
	check("first report")
	// Same case, and after its issue is audited (as the server does): the stored copy.
	if _, err := rc.db.RecordAudit(ctx, storage.Audit{CaseID: rc.cs.ID, ActorID: rc.user.ID, Action: "report.issued", Target: "pdf"}); err != nil {
		t.Fatal(err)
	}
	again, url2 := rc.write(t, false)
	want.Reused++
	check("unchanged case")
	if !bytes.Equal(again, pdf) || url2 != url {
		t.Fatalf("unchanged case: got %d bytes printed with %s, want the stored %d bytes printed with %s", len(again), url2, len(pdf), url)
	}
	// JSON has its own copy.
	js, jsURL := rc.write(t, true)
	want.Made++
	check("first report.json")
	if js2, jsURL2 := rc.write(t, true); !bytes.Equal(js2, js) || jsURL2 != jsURL || jsURL == url {
		t.Fatalf("unchanged case as JSON: got %s with %s, want the stored %s with %s (not the PDF's %s)", js2, jsURL2, js, jsURL, url)
	}
	want.Reused++
	check("unchanged report.json")

	var a1 *domain.Annotation
	for _, c := range []struct {
		name               string
		change             func()
		sources, reusedPic int64 // pictures the new report extracts and reuses
	}{
		{"new evidence", func() {
			ev := rc.upload(t, testenv.MakeMP4(t, t.TempDir(), 1, "160x120"))
			if ev = rc.waitDone(t, ev.ID); ev.Status != domain.EvidenceReady {
				t.Fatalf("second clip: got %q", ev.Status)
			}
		}, 0, 0},
		{"submitted and assigned", func() { rc.review(t) }, 0, 0},
		{"first annotation", func() { a1 = rc.note(t, 96) }, 1, 0},
		{"second annotation", func() { rc.note(t, 150) }, 1, 1},
		{"shape edited", func() {
			in := domain.AnnotationInput{Body: a1.Body, StartMS: a1.StartMS, ChecklistItem: a1.ChecklistItem,
				Shape: &domain.Shape{Type: "ellipse", Points: [][2]float64{{0.2, 0.2}, {0.6, 0.7}}}}
			var err error
			if a1, err = rc.db.UpdateAnnotation(ctx, a1, rc.video, rc.cs, rc.insp, a1.Version, in); err != nil {
				t.Fatal(err)
			}
		}, 1, 1},
		{"findings", func() {
			for _, f := range []domain.Finding{{ChecklistItem: "fire-exits", Result: "fail", Note: "纸箱堵塞", AnnotationIDs: []string{a1.ID}},
				{ChecklistItem: "guest-registration", Result: "pass"}, {ChecklistItem: "cctv-entrances", Result: "pass"}, {ChecklistItem: "valuables-storage", Result: "na"}} {
				if _, err := rc.db.SetFinding(ctx, rc.cs, rc.insp, f); err != nil {
					t.Fatal(err)
				}
			}
		}, 0, 2},
		{"a day later, a finding's note", func() {
			// Frame 96 twice: with its first shape and with its second; the
			// report made now drops the one no report has used for a day.
			if got := rc.framesDrawn(t); !slices.Equal(got, []int64{96, 96, 150}) {
				t.Fatalf("pictures drawn: show frames %v, want [96 96 150]", got)
			}
			files, _ := filepath.Glob(filepath.Join(rc.pics, "*.jpg"))
			for _, f := range files {
				old := time.Now().Add(-25 * time.Hour)
				if err := os.Chtimes(f, old, old); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := rc.db.SetFinding(ctx, rc.cs, rc.insp, domain.Finding{ChecklistItem: "valuables-storage", Result: "na", Note: "不提供寄存"}); err != nil {
				t.Fatal(err)
			}
		}, 0, 2},
		{"decision", func() {
			cs, err := rc.db.Case(ctx, rc.cs.ID)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := rc.db.Decide(ctx, cs, rc.insp, time.UTC, domain.DecisionInput{Outcome: "approve", Summary: "整改后符合条件", Reason: "纸箱已当场清除，消防通道畅通"}); err != nil {
				t.Fatal(err)
			}
		}, 0, 2},
	} {
		c.change()
		got, gotURL := rc.write(t, false)
		want.Made++
		want.Sources += c.sources
		want.PicturesReused += c.reusedPic
		check("after " + c.name)
		if bytes.Equal(got, pdf) || gotURL == url {
			t.Fatalf("after %s: got the stored report (printed with %s), want a new one", c.name, gotURL)
		}
		pdf, url = got, gotURL
		if again, againURL := rc.write(t, false); !bytes.Equal(again, pdf) || againURL != url {
			t.Fatalf("after %s, unchanged: got %d bytes with %s, want the stored %d bytes with %s", c.name, len(again), againURL, len(pdf), url)
		}
		want.Reused++
		check("after " + c.name + ", unchanged")
	}
	// The last report took both its pictures as drawn before: they are in it.
	if got := pdfFrames(t, pdf); !slices.Equal(got, []int64{96, 150}) {
		t.Fatalf("last report's pictures: show frames %v, want [96 150]", got)
	}
	if got := rc.framesDrawn(t); !slices.Equal(got, []int64{96, 150}) {
		t.Fatalf("pictures kept a day later: show frames %v, want [96 150] (the first shape's picture gone)", got)
	}
}

// TestReportWithoutAPictureIsNotStored: a report that lacks a picture
// because its frame could not be extracted this time (ffmpeg cannot start
// under a 1 MiB memory limit) is not kept, so the next report tries again
// and, once the frame can be made, is kept.
func TestReportWithoutAPictureIsNotStored(t *testing.T) {
	rc := newReportCase(t)
	rc.review(t)
	rc.note(t, 96)
	healthy := rc.reports
	broken := &pipeline.Reports{DB: healthy.DB, Objects: healthy.Objects, WorkDir: t.TempDir(), Location: time.UTC, Logger: healthy.Logger,
		Media: media.Runner{MemoryBytes: 1 << 20}}
	rc.reports = broken
	rc.write(t, false)
	rc.write(t, false)
	if got, want := broken.Counts(), (pipeline.ReportCounts{Made: 2}); got != want {
		t.Fatalf("reports lacking their picture: got counts %+v, want %+v", got, want)
	}
	rc.reports = healthy
	rc.write(t, false)
	rc.write(t, false)
	if got, want := healthy.Counts(), (pipeline.ReportCounts{Made: 1, Reused: 1, Sources: 1}); got != want {
		t.Fatalf("reports with their picture: got counts %+v, want %+v", got, want)
	}
}
