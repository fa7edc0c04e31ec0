package report

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/jpeg"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"siteinspect/internal/testenv"
	"strings"
	"testing"
	"time"

	"siteinspect/media"
)

func mustTools(tb testing.TB, names ...string) {
	tb.Helper()
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			tb.Fatalf("%s not found: apt-get install -y ffmpeg poppler-utils", n)
		}
	}
}

func mustRun(tb testing.TB, name string, args ...string) string {
	tb.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		tb.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return string(out)
}

// mustPNG writes img to dir/name as PNG.
func mustPNG(tb testing.TB, dir, name string, img image.Image) string {
	tb.Helper()
	var buf bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestSpeed}
	if err := enc.Encode(&buf, img); err != nil {
		tb.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		tb.Fatal(err)
	}
	return path
}

// pageImage is a rendered A4 page at 150 dpi: white with grey "text lines".
func pageImage() *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, 1240, 1754))
	draw.Draw(img, img.Bounds(), image.White, image.Point{}, draw.Src)
	for y := 150; y < 1600; y += 40 {
		draw.Draw(img, image.Rect(120, y, 1120-(y%200), y+14), &image.Uniform{color.Gray{0x60}}, image.Point{}, draw.Src)
	}
	return img
}

func mustNumberedClip(tb testing.TB, path string) string { return testenv.NumberedClip(tb, path, 5) }

func readFrameNumber(img image.Image) int64 { return testenv.FrameNumber(img) }

func ptr[T any](v T) *T { return &v }

// testData is a finished case with three pieces of evidence and two checklist items
// whose annotations point at images made in dir: a video frame (frame 96 extracted
// by media.Runner.Frame), a photo and a PDF page.
func testData(tb testing.TB, dir string) *Data {
	tb.Helper()
	clip := mustNumberedClip(tb, filepath.Join(dir, "site.mp4"))
	frame := filepath.Join(dir, "frame96.png")
	if err := (media.Runner{}).Frame(context.Background(), clip, frame, 96, 30000.0/1001); err != nil {
		tb.Fatal(err)
	}
	photo := image.NewRGBA(image.Rect(0, 0, 800, 600))
	draw.Draw(photo, photo.Bounds(), &image.Uniform{color.RGBA{0x70, 0x90, 0x60, 0xff}}, image.Point{}, draw.Src)
	photoPath := mustPNG(tb, dir, "photo.png", photo)
	pagePath := mustPNG(tb, dir, "page3.png", pageImage())

	zone := time.FixedZone("CST", 8*3600)
	t0 := time.Date(2026, 3, 2, 9, 30, 0, 0, zone)
	inspector := Person{Name: "李明", Username: "liming", Org: "滨海新区公安局行政审批科"}
	reviewer := Person{Name: "王芳", Username: "wangfang", Org: "滨海新区公安局行政审批科"}
	return &Data{
		Case: Case{
			Number: "BH-2026-000123", Status: "approved", SiteName: "海滨假日酒店",
			SiteAddress: "天津市滨海新区中心大道 88 号", Description: "新开业酒店特种行业许可现场踏勘",
			Office: "binhai", OfficeName: "天津市滨海新区公安局行政审批科", Applicant: Person{Name: "张伟", Org: "天津海滨假日酒店管理有限公司"},
			Inspector: &inspector, Reviewer: &reviewer, CreatedAt: t0,
			SubmittedAt: ptr(t0.Add(time.Hour)), DueAt: ptr(t0.Add(8 * time.Hour)),
		},
		PermitType: PermitType{Code: "hotel", NameZH: "旅馆业特种行业许可", NameEN: "Hotel special-trade licence", CommitmentAllowed: true, Version: 2},
		Evidence: []Evidence{
			{ID: "ev1", Filename: "前台与监控室.mp4", Kind: "video", SHA256: strings.Repeat("0123456789abcdef", 4), Size: 48_213_552, DurationMS: 5005, CapturedAt: "2026-03-02 08:50", Location: "39.0255,117.7136", UploadedAt: t0},
			{ID: "ev2", Filename: "消防通道.png", Kind: "image", SHA256: strings.Repeat("fedcba9876543210", 4), Size: 2_345_678, UploadedAt: t0},
			{ID: "ev3", Filename: "消防验收意见书.pdf", Kind: "pdf", SHA256: strings.Repeat("a1b2c3d4e5f60789", 4), Size: 734_003, Pages: 6, UploadedAt: t0},
		},
		Checklist: []Item{
			{ID: "c1", TextZH: "前台配备旅客身份信息登记系统并正常运行", TextEN: "The front desk has a working guest identity registration system",
				Result: "pass", Note: "系统运行正常，登记流程完整。",
				Annotations: []Annotation{
					{ID: "a1", EvidenceID: "ev1", EvidenceName: "前台与监控室.mp4", Author: "李明", Body: "登记终端在此处，画面清晰。", Severity: "info",
						StartMS: ptr(int64(3203)), EndMS: ptr(int64(4500)), Frame: ptr(int64(96)), CreatedAt: t0.Add(2 * time.Hour),
						Shape: &Shape{Type: "rect", Points: [][2]float64{{0.1, 0.65}, {0.9, 0.95}}, Color: "#00ff00"}, Image: frame},
					{ID: "a2", EvidenceID: "ev2", EvidenceName: "消防通道.png", Author: "李明", Body: "消防通道无堆放杂物", Severity: "info",
						CreatedAt: t0.Add(2 * time.Hour), Shape: &Shape{Type: "arrow", Points: [][2]float64{{0.2, 0.8}, {0.6, 0.4}}}, Image: photoPath},
				}},
			{ID: "c2", TextZH: "消防安全检查合格证明文件齐全有效", TextEN: "Fire safety inspection certificate is complete and valid",
				Result: "fail", Note: "缺少消防验收意见书第 3 页盖章。",
				Annotations: []Annotation{
					{ID: "a3", EvidenceID: "ev3", EvidenceName: "消防验收意见书.pdf", Author: "李明", Body: "此处应有公章，未见。", Severity: "violation",
						Page: ptr(3), CreatedAt: t0.Add(3 * time.Hour), Shape: &Shape{Type: "ellipse", Points: [][2]float64{{0.55, 0.7}, {0.85, 0.8}}}, Image: pagePath},
					{ID: "a4", EvidenceID: "ev3", EvidenceName: "消防验收意见书.pdf", Author: "王芳", Body: "同意承办人意见。", Severity: "concern", CreatedAt: t0.Add(4 * time.Hour)},
				}},
		},
		Decisions: []Decision{
			{Outcome: "approve", Summary: "承诺办：准予许可，消防验收意见书盖章页 60 日内补交。", Inspector: inspector, DecidedAt: t0.Add(5 * time.Hour),
				Reviewer: &reviewer, CountersignedAt: ptr(t0.Add(6 * time.Hour)), Agree: ptr(true), Comment: "同意。",
				Reason: "安全出口已当场清理", CountersignReason: "已核对清理后的照片"},
		},
		Owed: []Owed{
			{Text: "消防验收意见书（盖章页）", DueAt: t0.AddDate(0, 0, 60)},
			{Text: "从业人员名册", DueAt: t0.AddDate(0, 0, -1), Overdue: true},
		},
		AuditHeadSeq:  42,
		AuditHeadHash: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
		GeneratedAt:   t0.Add(7 * time.Hour),
		VerifyURL:     "https://permits.example.gov/verify/7c6cwd34vo6fmec6b6mlhdjjo4-ybqduq6wdp5lav3g26cf53ulvi",
	}
}

func TestWritePDF(t *testing.T) {
	mustTools(t, "ffmpeg", "pdftotext", "pdfimages", "pdftoppm")
	dir := t.TempDir()
	d := testData(t, dir)
	pdfPath := filepath.Join(dir, "report.pdf")
	var buf bytes.Buffer
	start := time.Now()
	if err := WritePDF(&buf, d); err != nil {
		t.Fatal(err)
	}
	t.Logf("WritePDF: %v, %d bytes", time.Since(start), buf.Len())
	if err := os.WriteFile(pdfPath, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if out := os.Getenv("REPORT_TEST_OUT"); out != "" { // to look at it
		os.WriteFile(out, buf.Bytes(), 0o644)
	}

	text := mustRun(t, "pdftotext", "-layout", pdfPath, "-")
	squeezed := strings.Join(strings.Fields(text), "")
	want := []string{"现场踏勘检查报告", "Site Inspection Report", "BH-2026-000123", "旅馆业特种行业许可",
		"天津海滨假日酒店管理有限公司", "不合格", "合格", "李明", "王芳", "00:03.203–00:04.500", "第96帧",
		"已逾期", d.AuditHeadHash, d.VerifyURL,
		// The version of the permit type whose checklist the report lists.
		"旅馆业特种行业许可/Hotelspecial-tradelicence(hotel)·第2版",
		// The office by its name, and the boxes to sign and seal in.
		"天津市滨海新区公安局行政审批科", "承办人（签名）", "复核人（签名）", "审批机关（盖章）", "日期：",
		// The reasons for approving over a failed item.
		"仍予批准理由", "安全出口已当场清理", "复核同意理由", "已核对清理后的照片"}
	for _, it := range d.Checklist {
		want = append(want, it.TextZH, it.Note, strings.ReplaceAll(it.TextEN, " ", ""))
	}
	for _, e := range d.Evidence {
		want = append(want, e.SHA256, e.Filename)
	}
	for _, w := range want {
		if !strings.Contains(squeezed, strings.Join(strings.Fields(w), "")) {
			t.Errorf("pdftotext lacks %q; got:\n%s", w, text)
		}
	}
	if strings.Contains(text, "binhai") {
		t.Errorf("pdftotext shows the office's code %q; want its name only", "binhai")
	}
	if !strings.Contains(text, "Page 1 /") {
		t.Errorf("pdftotext lacks the footer %q", "Page 1 /")
	}

	// The report holds exactly the three annotation pictures, in the order
	// of the checklist: the frame (320x240), the photo (800x600) and the
	// page crop around the ellipse (the region plus 10 % of the 1240x1754
	// page on each side: x 558..1178, y 1052..1579).
	wantImages := []pdfImage{{page: 2, w: 320, h: 240}, {page: 2, w: 800, h: 600}, {page: 3, w: 620, h: 527}}
	if got := pdfImages(t, pdfPath); fmt.Sprint(got) != fmt.Sprint(wantImages) {
		t.Errorf("pdfimages -list: got %v, want %v", got, wantImages)
	}
	mustRun(t, "pdfimages", "-j", pdfPath, filepath.Join(dir, "img"))
	frame, photo, crop := mustJPEG(t, filepath.Join(dir, "img-000.jpg")), mustJPEG(t, filepath.Join(dir, "img-001.jpg")), mustJPEG(t, filepath.Join(dir, "img-002.jpg"))
	// The first image is the annotated video frame: it must show frame 96.
	if got := readFrameNumber(frame); got != 96 {
		t.Errorf("report image of the frame-96 annotation shows frame %d, want 96", got)
	}
	red, green := color.RGBA{0xff, 0, 0, 0xff}, color.RGBA{0, 0xff, 0, 0xff}
	pixels := []struct {
		name string
		img  image.Image
		x, y int
		want color.RGBA
	}{
		{"frame: rect bottom edge (green)", frame, 160, 228, green},
		{"photo: its own colour away from the arrow", photo, 60, 60, color.RGBA{0x70, 0x90, 0x60, 0xff}},
		{"photo: the arrow's shaft at (0.4, 0.6)", photo, 320, 360, red},
		{"page crop: paper", crop, 5, 5, color.RGBA{0xff, 0xff, 0xff, 0xff}},
		{"page crop: the ellipse's left end", crop, 124, 263, red},
	}
	for _, p := range pixels {
		if !nearAround(p.img, p.x, p.y, p.want) {
			t.Errorf("%s at (%d, %d): got %v, want about %v within 3 px", p.name, p.x, p.y, p.img.At(p.x, p.y), p.want)
		}
	}

	mustRun(t, "pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", pdfPath, filepath.Join(dir, "page"))
	if _, err := os.Stat(filepath.Join(dir, "page-1.png")); err != nil {
		t.Errorf("pdftoppm rendered no page 1: %v", err)
	}
}

// pdfImage is an image as pdfimages -list lists it.
type pdfImage struct{ page, w, h int }

func (p pdfImage) String() string { return fmt.Sprintf("p%d:%dx%d", p.page, p.w, p.h) }

// pdfImages lists the images of a PDF in the order they are drawn.
func pdfImages(tb testing.TB, path string) []pdfImage {
	tb.Helper()
	lines := strings.Split(strings.TrimSpace(mustRun(tb, "pdfimages", "-list", path)), "\n")
	var out []pdfImage
	for _, l := range lines[2:] { // two header lines
		var p pdfImage
		var num int
		var typ string
		if _, err := fmt.Sscan(l, &p.page, &num, &typ, &p.w, &p.h); err != nil {
			tb.Fatalf("pdfimages -list line %q: %v", l, err)
		}
		out = append(out, p)
	}
	return out
}

func mustJPEG(tb testing.TB, path string) image.Image {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	img, err := jpeg.Decode(f)
	if err != nil {
		tb.Fatalf("decode %s: %v", path, err)
	}
	return img
}

// nearAround says whether a pixel within 3 px of x, y is near want: JPEG
// shares colour between neighbouring pixels, so a 3 px stroke bleeds.
func nearAround(img image.Image, x, y int, want color.RGBA) bool {
	for dy := -3; dy <= 3; dy++ {
		for dx := -3; dx <= 3; dx++ {
			if near(img.At(x+dx, y+dy), want) {
				return true
			}
		}
	}
	return false
}

// near says whether c is within JPEG noise (±0x40 a channel) of want.
func near(c color.Color, want color.RGBA) bool {
	r, g, b, _ := c.RGBA()
	d := func(v uint32, w uint8) bool { return max(int(v>>8), int(w))-min(int(v>>8), int(w)) <= 0x40 }
	return d(r, want.R) && d(g, want.G) && d(b, want.B)
}

func TestWriteJSON(t *testing.T) {
	mustTools(t, "ffmpeg")
	d := testData(t, t.TempDir())
	var buf bytes.Buffer
	if err := WriteJSON(&buf, d); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), d.Checklist[0].Annotations[0].Image) {
		t.Errorf("JSON contains the local image path %q", d.Checklist[0].Annotations[0].Image)
	}
	var got struct {
		Case          struct{ Number string }
		AuditHeadHash string `json:"audit_head_hash"`
		Evidence      []struct{ SHA256 string }
		Checklist     []struct {
			TextZH      string `json:"text_zh"`
			Annotations []struct {
				TimeCode string `json:"time_code"`
				Image    *struct {
					EvidenceID string `json:"evidence_id"`
					Frame      *int64
					Page       *int
				}
			}
		}
		Decisions []struct {
			CountersignedAt *time.Time `json:"countersigned_at"`
		}
		Owed []struct{ Overdue bool }
	}
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	a0, a2, a3 := got.Checklist[0].Annotations[0], got.Checklist[1].Annotations[0], got.Checklist[1].Annotations[1]
	checks := []struct {
		name      string
		got, want any
	}{
		{"case number", got.Case.Number, d.Case.Number},
		{"audit head", got.AuditHeadHash, d.AuditHeadHash},
		{"evidence 3 hash", got.Evidence[2].SHA256, d.Evidence[2].SHA256},
		{"item 1 text", got.Checklist[0].TextZH, d.Checklist[0].TextZH},
		{"video time code", a0.TimeCode, "00:03.203–00:04.500"},
		{"video image ref", fmt.Sprint(a0.Image != nil && a0.Image.EvidenceID == "ev1" && a0.Image.Frame != nil && *a0.Image.Frame == 96), "true"},
		{"page image ref", fmt.Sprint(a2.Image != nil && a2.Image.Page != nil && *a2.Image.Page == 3), "true"},
		{"no image, no ref", fmt.Sprint(a3.Image == nil), "true"},
		{"countersigned", fmt.Sprint(got.Decisions[0].CountersignedAt.Equal(*d.Decisions[0].CountersignedAt)), "true"},
		{"overdue", got.Owed[1].Overdue, true},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
	if d.Checklist[1].Annotations == nil || got.Checklist == nil {
		t.Errorf("WriteJSON changed its input or lost the checklist")
	}
}
