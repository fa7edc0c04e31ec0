package server_test

import (
	"archive/zip"
	"bytes"
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"siteinspect/domain"
)

// dispositionNames returns the two names a Content-Disposition header
// gives: the ASCII filename and the decoded UTF-8 filename*.
func dispositionNames(t *testing.T, cd string) (ascii, utf string) {
	t.Helper()
	for _, p := range strings.Split(cd, ";") {
		p = strings.TrimSpace(p)
		if v, ok := strings.CutPrefix(p, "filename*=UTF-8''"); ok {
			s, err := url.PathUnescape(v)
			if err != nil {
				t.Fatalf("filename* %q: %v", v, err)
			}
			utf = s
		} else if v, ok := strings.CutPrefix(p, "filename="); ok {
			ascii = strings.Trim(v, `"`)
		}
	}
	return ascii, utf
}

// TestDownloadNameMatchesType: the name an applicant gave a file cannot
// make an officer's browser save (or a bundle unpack) the sniffed bytes
// under an extension that runs them. An HTML page with "%PDF-" in its
// first KiB sniffs as a PDF; named "invoice.hta" it would be saved as a
// Windows HTML application, one double click from running. The download
// keeps the applicant's name but ends in the type's extension, and drops
// bidirectional overrides that make "exe.pdf" read as "pdf.exe".
func TestDownloadNameMatchesType(t *testing.T) {
	e := newEnv(t)
	cs := e.newCase("appA")
	direct := e.directServer(time.Minute)
	polyglot := []byte("<html><!-- %PDF-1.7 --><script>alert(document.domain)</script></html>\n")
	for _, tt := range []struct {
		name, want string
	}{
		{"invoice.hta", "invoice.hta.pdf"},
		{"page.html", "page.html.pdf"},
		{"report\u202Efdp.exe", "report_fdp.exe.pdf"},
		{"plan.PDF", "plan.PDF"},
		{"no extension", "no extension.pdf"},
		// Quotes, CR LF and a header after them stay inside the name.
		{"a\"b\r\nX-Evil: 1; c.pdf", "a\"b__X-Evil: 1; c.pdf"},
		{"工地\u00a0照片.pdf", "工地\u00a0照片.pdf"},
	} {
		ev := e.upload("appA", cs.ID, tt.name, polyglot)
		for _, q := range []string{"", "?download=1"} {
			w := e.req("appA", "GET", "/api/v1/evidence/"+ev+"/content"+q, nil, nil)
			if w.Code != http.StatusOK || w.Header().Get("Content-Type") != "application/pdf" {
				t.Fatalf("%q: got %d %s, want 200 application/pdf", tt.name, w.Code, w.Header().Get("Content-Type"))
			}
			if csp := w.Header().Get("Content-Security-Policy"); csp != "sandbox" || w.Header().Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("%q: CSP %q nosniff %q, want sandbox and nosniff", tt.name, csp, w.Header().Get("X-Content-Type-Options"))
			}
			if w.Header().Get("X-Evil") != "" || len(w.Header().Values("Content-Disposition")) != 1 {
				t.Errorf("%q: the name added a header: %v", tt.name, w.Header())
			}
			ascii, utf := dispositionNames(t, w.Header().Get("Content-Disposition"))
			if utf != tt.want || !strings.HasSuffix(ascii, tt.want[strings.LastIndex(tt.want, "."):]) {
				t.Errorf("%q%s: Content-Disposition %q names %q / %q, want %q", tt.name, q, w.Header().Get("Content-Disposition"), ascii, utf, tt.want)
			}
			// Direct downloads: the store answers with the same name (and,
			// MinIO's own, nosniff).
			redirect := e.reqOn(direct, "appA", "/api/v1/evidence/"+ev+"/content"+q, nil)
			resp, _ := getURL(t, redirect.Header.Get("Location"), nil)
			if _, got := dispositionNames(t, resp.Header.Get("Content-Disposition")); got != tt.want || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("%q%s direct: the store names %q (nosniff %q), want %q", tt.name, q, got, resp.Header.Get("X-Content-Type-Options"), tt.want)
			}
		}
	}
}

// TestBundleNamesMatchType: the bundle's entries follow the same rule, so
// unpacking it cannot leave an applicant's file under a runnable name or
// outside its folder.
func TestBundleNamesMatchType(t *testing.T) {
	e := newEnv(t)
	e.people()
	var cs domain.Case
	e.json("zhouapp", "POST", "/api/v1/cases", map[string]string{"permit_type": "hotel", "site_name": "港湾大酒店", "site_address": "滨海新区港湾路88号"}, http.StatusCreated, &cs)
	polyglot := []byte("<html><!-- %PDF-1.7 --><script>alert(1)</script></html>\n")
	names := map[string]string{}
	for _, n := range []string{"invoice.hta", `..\..\evil\run.bat`, "a\u202Egnp.js", "walk.mp4", `q<1>|"a"?*.pdf`} {
		data := polyglot
		if strings.HasSuffix(n, ".mp4") {
			data = video(5000)
		}
		names[e.upload("zhouapp", cs.ID, n, data)] = n
	}
	for id := range names {
		dur := int64(1000)
		if err := e.db.SetEvidenceResult(context.Background(), id, domain.EvidenceReady, "", &domain.Media{DurationMS: &dur}, &domain.Derived{}); err != nil {
			t.Fatal(err)
		}
	}
	path := "/api/v1/cases/" + cs.ID
	e.json("zhouapp", "POST", path+"/submit", nil, http.StatusOK, nil)
	e.json("lijian", "POST", path+"/assign", nil, http.StatusOK, nil)
	w := e.req("lijian", "GET", path+"/bundle.zip", nil, nil)
	if w.Code != http.StatusOK {
		t.Fatalf("bundle: got %d %s", w.Code, w.Body)
	}
	zr, err := zip.NewReader(bytes.NewReader(w.Body.Bytes()), int64(w.Body.Len()))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"invoice.hta": "invoice.hta.pdf", `..\..\evil\run.bat`: "run.bat.pdf", "a\u202Egnp.js": "a_gnp.js.pdf", "walk.mp4": "walk.mp4",
		// Characters Windows refuses in a file name: Explorer would stop
		// at the entry.
		`q<1>|"a"?*.pdf`: "q_1___a___.pdf"}
	seen := 0
	for _, f := range zr.File {
		rest, ok := strings.CutPrefix(f.Name, "evidence/")
		if !ok {
			continue
		}
		id, name, _ := strings.Cut(rest, "-")
		orig, ok := names[id]
		if !ok {
			t.Errorf("entry %q names no evidence of the case", f.Name)
			continue
		}
		seen++
		if name != want[orig] {
			t.Errorf("%q is in the bundle as %q, want %q", orig, f.Name, "evidence/"+id+"-"+want[orig])
		}
	}
	if seen != len(names) {
		t.Errorf("%d evidence entries, want %d", seen, len(names))
	}
}
