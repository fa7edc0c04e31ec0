package media

import (
	"context"
	"errors"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestProbePDF(t *testing.T) {
	mustTools(t, "pdfinfo")
	valid := makePDF([]testPage{{Latin: "one"}, {Latin: "two"}}, pdfOptions{})
	garbage := append([]byte("%PDF-1.4\n"), []byte(strings.Repeat("\x00\xffnot a pdf at all ", 200))...)
	garbage = append(garbage, "\n%%EOF\n"...)
	tests := []struct {
		name       string
		data       []byte
		wantPages  int
		wantReason string // substring of Unprocessable.Reason; "" means success
	}{
		{"two pages", valid, 2, ""},
		{"encrypted", makePDF([]testPage{{Latin: "secret"}}, pdfOptions{Encrypt: true}), 0, "password"},
		{"truncated", valid[:len(valid)/2], 0, "incomplete"},
		{"garbage with header", garbage, 0, "damaged"},
		{"not a pdf", []byte("hello, world\n"), 0, "not a PDF"},
		{"empty", nil, 0, "not a PDF"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info, err := Runner{}.ProbePDF(context.Background(), mustWrite(t, "in.pdf", tt.data))
			if tt.wantReason == "" {
				if err != nil {
					t.Fatalf("got error %v, want %d pages", err, tt.wantPages)
				}
				if info.Pages != tt.wantPages {
					t.Fatalf("got %d pages, want %d", info.Pages, tt.wantPages)
				}
				return
			}
			var u *Unprocessable
			if !errors.As(err, &u) || !strings.Contains(u.Reason, tt.wantReason) {
				t.Fatalf("got %v (info %+v), want *Unprocessable mentioning %q", err, info, tt.wantReason)
			}
		})
	}
}

func TestPDFWithCJKText(t *testing.T) {
	mustTools(t, "pdfinfo", "pdftoppm", "pdftotext")
	in := mustWrite(t, "cjk.pdf", makePDF([]testPage{
		{Latin: "Inspection report", CJK: "现场检查报告"},
		{Latin: "Page two", CJK: "消防通道畅通"},
	}, pdfOptions{}))
	r := Runner{}
	info, err := r.ProbePDF(context.Background(), in)
	if err != nil || info.Pages != 2 {
		t.Fatalf("got %+v, %v, want 2 pages", info, err)
	}
	texts, err := r.PDFText(context.Background(), in, info.Pages)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"Inspection report\n现场检查报告", "Page two\n消防通道畅通"}
	if fmt.Sprint(texts) != fmt.Sprint(want) {
		t.Fatalf("got texts %q, want %q", texts, want)
	}

	dir := t.TempDir()
	var progress []int
	if err := r.RenderPDF(context.Background(), in, dir, info.Pages, func(done int) { progress = append(progress, done) }); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(progress) != "[2]" {
		t.Fatalf("got progress %v, want [2]", progress)
	}
	// US Letter (612x792 pt) scaled to a 2000 px long side; thumbnails to 300 px.
	for _, p := range []struct {
		path string
		w, h int
	}{{"1.png", 1546, 2000}, {"2.png", 1546, 2000}, {"thumbs/1.png", 231, 300}, {"thumbs/2.png", 231, 300}} {
		w, h := mustPNGSize(t, filepath.Join(dir, p.path))
		if w != p.w || h != p.h {
			t.Errorf("%s: got %dx%d, want %dx%d", p.path, w, h, p.w, p.h)
		}
	}
	if leftovers, _ := filepath.Glob(filepath.Join(dir, ".*")); len(leftovers) != 0 {
		t.Errorf("got temporary files %v left in %s, want none", leftovers, dir)
	}
}

func TestPDFManyPages(t *testing.T) {
	mustTools(t, "pdfinfo", "pdftoppm", "pdftotext")
	pages := make([]testPage, 200)
	for i := range pages {
		pages[i] = testPage{Latin: fmt.Sprintf("Page %d of the permit file", i+1)}
	}
	in := mustWrite(t, "many.pdf", makePDF(pages, pdfOptions{}))
	r := Runner{}
	info, err := r.ProbePDF(context.Background(), in)
	if err != nil || info.Pages != 200 {
		t.Fatalf("got %+v, %v, want 200 pages", info, err)
	}
	texts, err := r.PDFText(context.Background(), in, info.Pages)
	if err != nil {
		t.Fatal(err)
	}
	if len(texts) != 200 || texts[0] != "Page 1 of the permit file" || texts[199] != "Page 200 of the permit file" {
		t.Fatalf("got %d texts, first %q last %q, want 200 ending with page 200", len(texts), texts[0], texts[len(texts)-1])
	}
	dir := t.TempDir()
	start := time.Now()
	var last int
	if err := r.RenderPDF(context.Background(), in, dir, info.Pages, func(done int) { last = done }); err != nil {
		t.Fatal(err)
	}
	t.Logf("rendered 200 pages in %v", time.Since(start))
	if last != 200 {
		t.Fatalf("got last progress %d, want 200", last)
	}
	for _, n := range []string{"1.png", "200.png", "thumbs/1.png", "thumbs/200.png"} {
		if _, err := os.Stat(filepath.Join(dir, n)); err != nil {
			t.Errorf("got %v, want %s written", err, n)
		}
	}
}

func TestPDFBombIsUnprocessable(t *testing.T) {
	mustTools(t, "pdfinfo", "pdftoppm")
	in := mustWrite(t, "bomb.pdf", makeBombPDF(t))
	r := Runner{Timeout: time.Second}
	info, err := r.ProbePDF(context.Background(), in)
	if err != nil || info.Pages != 1 {
		t.Fatalf("got %+v, %v, want 1 page (pdfinfo does not decode images)", info, err)
	}
	start := time.Now()
	err = r.RenderPDF(context.Background(), in, t.TempDir(), 1, nil)
	var u *Unprocessable
	if !errors.As(err, &u) || !strings.Contains(u.Reason, "too long") {
		t.Fatalf("got %v, want *Unprocessable about time", err)
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Fatalf("got return after %v, want about the 1s timeout", d)
	}
}

func TestPDFFailureReasons(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{&cmdError{Name: "pdftoppm", Err: errors.New("signal: killed"), Signaled: true}, "more memory or time"},
		{&cmdError{Name: "pdftoppm", Err: errors.New("exit status 1"), Stderr: "Out of memory\n"}, "more memory or time"},
		{&cmdError{Name: "pdfinfo", Err: errors.New("exit status 1"), Stderr: "Command Line Error: Incorrect password\n"}, "password"},
		{&cmdError{Name: "pdfinfo", Err: errors.New("exit status 1"), Stderr: "Syntax Error: Couldn't find trailer dictionary\n"}, "Couldn't find trailer"},
	}
	for _, tt := range tests {
		var u *Unprocessable
		if err := pdfFailure(tt.err, "render"); !errors.As(err, &u) || !strings.Contains(u.Reason, tt.want) {
			t.Errorf("pdfFailure(%v): got %v, want *Unprocessable mentioning %q", tt.err, err, tt.want)
		}
	}
	if err := pdfFailure(context.Canceled, "render"); err != context.Canceled {
		t.Errorf("got %v, want context.Canceled passed through", err)
	}
}

func TestPDFTimeoutIsUnprocessable(t *testing.T) {
	mustTools(t, "pdftotext")
	in := mustWrite(t, "a.pdf", makePDF([]testPage{{Latin: "a"}}, pdfOptions{}))
	_, err := Runner{Timeout: time.Millisecond}.PDFText(context.Background(), in, 1)
	var u *Unprocessable
	if !errors.As(err, &u) || !strings.Contains(u.Reason, "too long") {
		t.Fatalf("got %v, want *Unprocessable about time", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = Runner{}.PDFText(ctx, in, 1)
	if !errors.Is(err, context.Canceled) || errors.As(err, &u) {
		t.Fatalf("got %v, want context.Canceled, not *Unprocessable (a cancelled job is retried)", err)
	}
}

// mustPNGSize returns a PNG file's dimensions.
func mustPNGSize(tb testing.TB, path string) (int, int) {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	cfg, err := png.DecodeConfig(f)
	if err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
	return cfg.Width, cfg.Height
}
