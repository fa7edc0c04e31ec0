package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"siteinspect/domain"
	"siteinspect/internal/harness"
	"siteinspect/internal/testenv"
)

// TestFinishedCaseReport takes a case from upload to a countersigned
// approval through the API, then checks the report the applicant
// downloads: Chinese checklist text, every SHA-256, both officers, the
// annotated frame and page as images; and the audit chain verifies.
func TestFinishedCaseReport(t *testing.T) {
	data := t.TempDir()
	p := harness.StartServer(t, append([]string{"--data", data, "--jobs", "1"}, harness.S3Args(t)...)...)
	app := harness.Login(t, p.URL, "applicant", p.Demo["applicant"])
	insp := harness.Login(t, p.URL, "inspector", p.Demo["inspector"])
	rev := harness.Login(t, p.URL, "reviewer", p.Demo["reviewer"])
	cs := app.NewCase()
	dir := t.TempDir()
	pdf := filepath.Join(dir, "平面图.pdf")
	if err := os.WriteFile(pdf, harness.MinimalPDF(2, "Floor plan"), 0o644); err != nil {
		t.Fatal(err)
	}
	clip := testenv.MakeMP4(t, dir, 5, "320x240")
	videoID := app.MustUploadFile(cs.ID, clip)
	pdfID := app.MustUploadFile(cs.ID, pdf)
	var evs []domain.Evidence
	for _, id := range []string{videoID, pdfID} {
		ev := app.MustEvidenceDone(id, 2*time.Minute)
		if ev.Status != domain.EvidenceReady {
			t.Fatalf("%s: got %q (%s), want ready", ev.Filename, ev.Status, ev.StatusReason)
		}
		evs = append(evs, ev)
	}
	path := "/api/v1/cases/" + cs.ID
	app.MustJSON("POST", path+"/submit", nil, http.StatusOK, nil)
	insp.MustJSON("POST", path+"/assign", nil, http.StatusOK, nil)
	rev.MustJSON("POST", path+"/assign", nil, http.StatusOK, nil)
	var vnote, pnote domain.Annotation
	insp.MustJSON("POST", "/api/v1/evidence/"+videoID+"/annotations", map[string]any{"body": "安全出口门前堆放纸箱", "start_ms": 3200, "checklist_item": "fire-exits",
		"severity": "violation", "shape": map[string]any{"type": "rect", "points": [][2]float64{{0.2, 0.2}, {0.6, 0.7}}}}, http.StatusCreated, &vnote)
	insp.MustJSON("POST", "/api/v1/evidence/"+pdfID+"/annotations", map[string]any{"body": "登记终端位置已标注", "page": 2, "checklist_item": "guest-registration",
		"shape": map[string]any{"type": "ellipse", "points": [][2]float64{{0.1, 0.05}, {0.5, 0.15}}}}, http.StatusCreated, &pnote)
	for item, f := range map[string]map[string]any{
		"fire-exits":         {"result": "fail", "note": "纸箱已当场清除，复查合格", "annotation_ids": []string{vnote.ID}},
		"guest-registration": {"result": "pass", "annotation_ids": []string{pnote.ID}},
		"cctv-entrances":     {"result": "pass"},
		"valuables-storage":  {"result": "na", "note": "不提供寄存服务"},
	} {
		f["checklist_item"] = item
		insp.MustJSON("POST", path+"/findings", f, http.StatusCreated, nil)
	}
	app.MustJSON("GET", path+"/report.pdf", nil, http.StatusUnprocessableEntity, nil) // not before the decision is final
	// Approving over the failed fire-exits item needs a written reason, from
	// the inspector and from the reviewer who agrees.
	insp.MustJSON("POST", path+"/decision", map[string]any{"outcome": "approve", "summary": "现场整改后符合旅馆业特种行业许可条件", "reason": "纸箱已当场清除，消防通道畅通"}, http.StatusOK, nil)
	rev.MustJSON("POST", path+"/countersign", map[string]any{"agree": true, "comment": "同意", "reason": "已查看整改视频"}, http.StatusOK, nil)

	resp := app.Do("GET", path+"/report.pdf", nil, nil)
	defer resp.Body.Close()
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/pdf" || !bytes.HasPrefix(buf.Bytes(), []byte("%PDF-")) {
		t.Fatalf("report: got %d %s starting %q", resp.StatusCode, resp.Header.Get("Content-Type"), buf.Bytes()[:min(20, buf.Len())])
	}
	file := filepath.Join(dir, "report.pdf")
	os.WriteFile(file, buf.Bytes(), 0o644)
	// --demo signs with the demo pair it made in the data folder.
	if sig := mustPdfsig(t, file); !strings.Contains(sig, "Signature Validation: Signature is Valid.") || !strings.Contains(sig, "Total document signed") ||
		!strings.Contains(sig, "(demo, not trusted)") {
		t.Errorf("pdfsig on the report said:\n%s\nwant a valid demo signature over the whole file", sig)
	}
	if _, err := os.Stat(filepath.Join(data, "signing", "demo-signing-cert.pem")); err != nil {
		t.Errorf("demo signing certificate: %v", err)
	}
	out, err := exec.Command("pdftotext", "-layout", file, "-").Output()
	if err != nil {
		t.Fatalf("pdftotext: %v", err)
	}
	text := strings.Join(strings.Fields(string(out)), "")
	wants := []string{"安全出口标识清晰且畅通无阻", "旅客住宿登记系统终端已安装", "安全出口门前堆放纸箱", cs.Number, "张伟", "刘洋", "王芳"}
	for _, ev := range evs {
		wants = append(wants, ev.SHA256)
	}
	for _, w := range wants {
		if !strings.Contains(text, strings.Join(strings.Fields(w), "")) {
			t.Errorf("report text lacks %q", w)
		}
	}
	// Exactly two pictures, in checklist order: the video frame at its own
	// size (320x240) with the rect, then the crop of page 2 (rendered
	// 1545x2000) around the ellipse: x 0..928 (0.6 of the width, rounded
	// up), y 0..500 (0.25 of the height): the region plus 10 % of the page
	// each side.
	imgs, pics := harness.ReportImages(t, file)
	wantImgs := []harness.PDFImage{{W: 320, H: 240}, {W: 928, H: 500}}
	if len(imgs) != len(wantImgs) || imgs[0].W != 320 || imgs[0].H != 240 || imgs[1].W != 928 || imgs[1].H != 500 {
		t.Fatalf("report images: got %v, want %v (the annotated frame, then the page crop)", imgs, wantImgs)
	}
	// The frame is the one at 3200 ms (frame 96 at 30 fps): of frames 95,
	// 96 and 97 of the uploaded clip, below the drawn rect, it is closest
	// to 96 (measured: mean differences 2485, 1612 and 2404).
	if got := closestFrame(t, pics[0], clip, []int{95, 96, 97}, image.Rect(0, 180, 320, 240)); got != 96 {
		t.Errorf("report's annotated frame looks most like frame %d of the clip, want 96", got)
	}
	if !nearAround(pics[0], 64, 108, color.RGBA{0xff, 0, 0, 0xff}) || !nearAround(pics[1], 154, 200, color.RGBA{0xff, 0, 0, 0xff}) ||
		!nearAround(pics[1], 5, 5, color.RGBA{0xff, 0xff, 0xff, 0xff}) {
		t.Errorf("report images: want the red rect's left edge at (64, 108) of the frame, the red ellipse's left end at (154, 200) of the page crop on white paper")
	}
	var js struct {
		Checklist []struct {
			ID          string `json:"id"`
			Result      string `json:"result"`
			Annotations []struct {
				Frame *int64 `json:"frame"`
			} `json:"annotations"`
		} `json:"checklist"`
		AuditHeadHash string `json:"audit_head_hash"`
	}
	app.MustJSON("GET", path+"/report.json", nil, http.StatusOK, &js)
	results := map[string]string{}
	for _, it := range js.Checklist {
		results[it.ID] = it.Result
		if it.ID == "fire-exits" && (len(it.Annotations) != 1 || it.Annotations[0].Frame == nil || *it.Annotations[0].Frame != 96) {
			t.Errorf("fire-exits annotations: got %+v, want one at frame 96 (3200 ms at 30 fps)", it.Annotations)
		}
	}
	if results["fire-exits"] != "fail" || results["valuables-storage"] != "na" {
		t.Errorf("report.json: got results %v", results)
	}
	// Each report issued enters the audit chain with its SHA-256: the PDF
	// prints the head before its own event, and the JSON, made next, has
	// the PDF's event as its head.
	var events []domain.AuditEvent
	insp.MustJSON("GET", path+"/audit", nil, http.StatusOK, &events)
	pdfSum := sha256.Sum256(buf.Bytes())
	var issued *domain.AuditEvent
	for i, e := range events {
		var d struct {
			SHA256 string `json:"sha256"`
		}
		if e.Action == "report.issued" && json.Unmarshal(e.Data, &d) == nil && d.SHA256 == hex.EncodeToString(pdfSum[:]) {
			issued = &events[i]
		}
	}
	if issued == nil {
		t.Fatalf("audit: no report.issued event with the PDF's SHA-256 among %d events", len(events))
	}
	if !strings.Contains(text, issued.PrevHash) || js.AuditHeadHash != issued.Hash {
		t.Errorf("audit head: the PDF's issue event is %s after %s; want the latter in the PDF's text and the former as report.json's head, got %q", issued.Hash, issued.PrevHash, js.AuditHeadHash)
	}

	p.Stop(t)
	if _, _, err := harness.Run(t, "", "audit", "verify", "--data", data); err != nil {
		t.Fatalf("audit verify after the case: %v", err)
	}
}

// TestAnnotatedFrameIsThePlayersFrame: on a 29.97 fps clip whose frames
// show their own numbers, annotations made at the millisecond a player
// reports for frames 96 and 150 (rounded to whole ms, as browsers and our
// UI send them) come back in the report as images of exactly those frames.
func TestAnnotatedFrameIsThePlayersFrame(t *testing.T) {
	p := harness.StartServer(t, append([]string{"--jobs", "1"}, harness.S3Args(t)...)...)
	app := harness.Login(t, p.URL, "applicant", p.Demo["applicant"])
	insp := harness.Login(t, p.URL, "inspector", p.Demo["inspector"])
	cs := app.NewCase()
	dir := t.TempDir()
	id := app.MustUploadFile(cs.ID, testenv.NumberedClip(t, filepath.Join(dir, "numbered.mp4"), 10))
	if ev := app.MustEvidenceDone(id, 2*time.Minute); ev.Status != domain.EvidenceReady || ev.Media.FPS == nil || *ev.Media.FPS < 29.96 || *ev.Media.FPS > 29.98 {
		t.Fatalf("clip: got %q with media %+v, want ready at 29.97 fps", ev.Status, ev.Media)
	}
	path := "/api/v1/cases/" + cs.ID
	app.MustJSON("POST", path+"/submit", nil, http.StatusOK, nil)
	insp.MustJSON("POST", path+"/assign", map[string]string{}, http.StatusOK, nil)
	want := map[int64]bool{}
	for _, frame := range []int64{96, 150} {
		ms := (frame*1001 + 15) / 30 // the frame's start, rounded to the nearest ms
		var a domain.Annotation
		insp.MustJSON("POST", "/api/v1/evidence/"+id+"/annotations", map[string]any{"body": fmt.Sprint("frame ", frame), "start_ms": ms, "checklist_item": "fire-exits",
			"shape": map[string]any{"type": "rect", "points": [][2]float64{{0.1, 0.75}, {0.4, 0.95}}}}, http.StatusCreated, &a)
		if a.StartFrame == nil || *a.StartFrame != frame {
			t.Fatalf("annotation at %d ms: got start_frame %v, want %d", ms, a.StartFrame, frame)
		}
		want[frame] = true
	}
	resp := insp.Do("GET", path+"/report.pdf", nil, nil)
	defer resp.Body.Close()
	file := filepath.Join(dir, "report.pdf")
	f, _ := os.Create(file)
	io.Copy(f, resp.Body)
	f.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("report: got %d", resp.StatusCode)
	}
	out := filepath.Join(dir, "img")
	if b, err := exec.Command("pdfimages", "-png", file, out).CombinedOutput(); err != nil {
		t.Fatalf("pdfimages: %v %s", err, b)
	}
	pngs, _ := filepath.Glob(out + "-*.png")
	got := map[int64]bool{}
	for _, p := range pngs {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		got[testenv.FrameNumber(img)] = true
	}
	if len(got) != len(want) || !got[96] || !got[150] {
		t.Fatalf("frames in the report: got %v, want exactly %v", got, want)
	}
}

// closestFrame says which of frames of clip (extracted by ffmpeg) img is
// most like, by mean absolute difference over region.
func closestFrame(tb testing.TB, img image.Image, clip string, frames []int, region image.Rectangle) int {
	tb.Helper()
	best, bestDiff := -1, math.Inf(1)
	for _, n := range frames {
		still := filepath.Join(tb.TempDir(), "f.png")
		testenv.FFmpeg(tb, "-i", clip, "-vf", fmt.Sprintf("select=eq(n\\,%d)", n), "-frames:v", "1", still)
		ref := mustDecodePNG(tb, still)
		var sum float64
		for y := region.Min.Y; y < region.Max.Y; y++ {
			for x := region.Min.X; x < region.Max.X; x++ {
				r0, g0, b0, _ := img.At(x, y).RGBA()
				r1, g1, b1, _ := ref.At(x, y).RGBA()
				sum += math.Abs(float64(r0)-float64(r1)) + math.Abs(float64(g0)-float64(g1)) + math.Abs(float64(b0)-float64(b1))
			}
		}
		if d := sum / float64(region.Dx()*region.Dy()); d < bestDiff {
			best, bestDiff = n, d
		}
	}
	return best
}

func mustDecodePNG(tb testing.TB, path string) image.Image {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		tb.Fatalf("decode %s: %v", path, err)
	}
	return img
}

// nearAround says whether a pixel within 3 px of x, y is within JPEG noise
// (±0x40 a channel) of want: JPEG shares colour between neighbouring
// pixels, so a 3 px stroke bleeds.
func nearAround(img image.Image, x, y int, want color.RGBA) bool {
	near := func(c color.Color) bool {
		r, g, b, _ := c.RGBA()
		d := func(v uint32, w uint8) bool { return max(int(v>>8), int(w))-min(int(v>>8), int(w)) <= 0x40 }
		return d(r, want.R) && d(g, want.G) && d(b, want.B)
	}
	for dy := -3; dy <= 3; dy++ {
		for dx := -3; dx <= 3; dx++ {
			if near(img.At(x+dx, y+dy)) {
				return true
			}
		}
	}
	return false
}
