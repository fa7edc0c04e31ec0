package main

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"siteinspect/domain"
	"siteinspect/internal/harness"
	"siteinspect/internal/tsatest"
	"siteinspect/server"
)

// TestVerifyBundle downloads a case bundle from a running server and
// checks it with `siteinspect verify`: intact it passes (with progress on
// stderr, the bundle being over 16 MiB); a byte changed in an original, in
// an event or in the manifest, a damaged archive or a missing file each
// fails naming that item.
func TestVerifyBundle(t *testing.T) {
	p := harness.StartServer(t, "--jobs", "0")
	app := harness.Login(t, p.URL, "applicant", p.Demo["applicant"])
	insp := harness.Login(t, p.URL, "inspector", p.Demo["inspector"])
	cs := app.NewCase()
	dir := t.TempDir()
	pdf := filepath.Join(dir, "平面图.pdf")
	big := filepath.Join(dir, "walk.mp4")
	if err := os.WriteFile(pdf, harness.MinimalPDF(2, "Floor plan"), 0o644); err != nil {
		t.Fatal(err)
	}
	clip := make([]byte, 20<<20)
	rand.Read(clip)
	// An MP4's ftyp box, then a box the sniffer accepts; the rest need
	// not play (--jobs 0: no media processing).
	copy(clip, bytes.Repeat([]byte("0123456789abcdef"), 4))
	copy(clip, "\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomavc1")
	if err := os.WriteFile(big, clip, 0o644); err != nil {
		t.Fatal(err)
	}
	videoID := app.MustUploadFile(cs.ID, big)
	pdfID := app.MustUploadFile(cs.ID, pdf)
	path := "/api/v1/cases/" + cs.ID
	app.MustJSON("POST", path+"/submit", nil, http.StatusOK, nil)
	insp.MustJSON("POST", path+"/assign", nil, http.StatusOK, nil)

	resp := insp.Do("GET", path+"/bundle.zip", nil, nil)
	bundle := filepath.Join(dir, "bundle.zip")
	f, err := os.Create(bundle)
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(f, resp.Body)
	resp.Body.Close()
	f.Close()
	if err != nil || resp.StatusCode != http.StatusOK || n < 20<<20 {
		t.Fatalf("bundle download: got %d, %d bytes, %v; want 200 and over 20 MiB", resp.StatusCode, n, err)
	}

	verify := func(file string) (string, string, error) {
		var out, errb bytes.Buffer
		err := run(context.Background(), []string{"verify", file}, func(string) string { return "" }, strings.NewReader(""), &out, &errb)
		return out.String(), errb.String(), err
	}
	out, progress, err := verify(bundle)
	if err != nil {
		t.Fatalf("intact bundle: got %v (%s), want it to pass", err, progress)
	}
	if !strings.Contains(out, "bundle intact: case "+cs.Number) || !strings.Contains(progress, "verify: ") || !strings.Contains(progress, "(100%)") {
		t.Fatalf("intact bundle: got stdout %q stderr %q, want the summary and progress up to 100%%", out, progress)
	}

	m, entries := readBundle(t, bundle)
	var videoPath, pdfPath string
	for _, f := range m.Files {
		switch f.EvidenceID {
		case videoID:
			videoPath = f.Path
		case pdfID:
			pdfPath = f.Path
		}
	}
	if videoPath == "" || pdfPath == "" {
		t.Fatalf("manifest: got %+v, want both originals", m.Files)
	}
	// The bundle's report.json carries its verification URL (here from
	// the request's host, no --public-url), which anyone may ask.
	var rep struct {
		VerifyURL string `json:"verify_url"`
	}
	if err := json.Unmarshal(entries["report.json"], &rep); err != nil || !strings.HasPrefix(rep.VerifyURL, p.URL+"/verify/") {
		t.Fatalf("report.json verify_url: got %q (%v), want it under %s/verify/", rep.VerifyURL, err, p.URL)
	}
	req, _ := http.NewRequest("GET", rep.VerifyURL, nil)
	req.Header.Set("Accept", "application/json")
	vresp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		CaseNumber string `json:"case_number"`
		Report     struct {
			SHA256 string `json:"sha256"`
		} `json:"report"`
	}
	json.NewDecoder(vresp.Body).Decode(&v)
	vresp.Body.Close()
	if vresp.StatusCode != http.StatusOK || v.CaseNumber != cs.Number || v.Report.SHA256 != bundleSHA256(entries["report.json"]) {
		t.Fatalf("verify the bundle's report: got %d %+v, want case %s and the SHA-256 of report.json %s", vresp.StatusCode, v, cs.Number, bundleSHA256(entries["report.json"]))
	}

	// The event that recorded the PDF's upload, to be altered.
	var pdfEvent domain.AuditEvent
	for _, l := range strings.Split(string(entries[server.BundleEventsName]), "\n") {
		var e domain.AuditEvent
		if json.Unmarshal([]byte(l), &e) == nil && e.Target == pdfID && e.Action == "evidence.uploaded" {
			pdfEvent = e
		}
	}
	var recorded struct {
		SHA256 string `json:"sha256"`
	}
	if pdfEvent.Seq == 0 || json.Unmarshal(pdfEvent.Data, &recorded) != nil || recorded.SHA256 == "" {
		t.Fatalf("events.jsonl lacks the PDF's evidence.uploaded event with its sha256")
	}
	flipAt := func(b []byte, i int) []byte {
		c := bytes.Clone(b)
		c[i] ^= 0x01
		return c
	}
	for _, tc := range []struct {
		name   string
		change func(map[string][]byte)
		want   string
	}{
		{"a byte of the PDF", func(e map[string][]byte) { e[pdfPath] = flipAt(e[pdfPath], len(e[pdfPath])/2) },
			pdfPath + ": "},
		{"a byte of the video", func(e map[string][]byte) { e[videoPath] = flipAt(e[videoPath], 10<<20) },
			videoPath + ": "},
		{"a byte of the PDF's upload event", func(e map[string][]byte) {
			ev := e[server.BundleEventsName]
			i := bytes.Index(ev, []byte(`"sha256":"`+recorded.SHA256))
			if i < 0 {
				t.Fatalf("no sha256 in the PDF's event")
			}
			e[server.BundleEventsName] = flipAt(ev, i+len(`"sha256":"`)+3)
		}, "events.jsonl event " + itoa(pdfEvent.Seq) + " "},
		{"a byte of an event's hash", func(e map[string][]byte) {
			ev := e[server.BundleEventsName]
			i := bytes.Index(ev, []byte(`"hash":"`+pdfEvent.Hash))
			e[server.BundleEventsName] = flipAt(ev, i+len(`"hash":"`)+5)
		}, "events.jsonl event " + itoa(pdfEvent.Seq) + " "},
		{"a byte of the manifest's hash for the video", func(e map[string][]byte) {
			mf := e[server.BundleManifestName]
			i := bytes.Index(mf, []byte(m.Files[0].SHA256))
			e[server.BundleManifestName] = flipAt(mf, i+7)
		}, "manifest.json: the entry for " + m.Files[0].Path},
		{"the manifest's events head", func(e map[string][]byte) {
			mf := e[server.BundleManifestName]
			i := bytes.Index(mf, []byte(`"head_hash": "`))
			e[server.BundleManifestName] = flipAt(mf, i+len(`"head_hash": "`)+1)
		}, "manifest.json: says the events end at"},
		{"the PDF and its manifest entry both", func(e map[string][]byte) {
			e[pdfPath] = flipAt(e[pdfPath], 100)
			forged := m
			forged.Files = slices.Clone(m.Files)
			for i, f := range forged.Files {
				if f.Path == pdfPath {
					forged.Files[i].SHA256 = bundleSHA256(e[pdfPath])
				}
			}
			e[server.BundleManifestName], _ = json.Marshal(forged)
		}, pdfPath + ": SHA-256 "},
		{"a missing report", func(e map[string][]byte) { delete(e, "report.pdf") }, "report.pdf: listed in manifest.json but missing"},
		{"an extra file", func(e map[string][]byte) { e["evidence/extra.mp4"] = []byte("x") }, "evidence/extra.mp4: in the bundle but not in manifest.json"},
	} {
		changed := map[string][]byte{}
		for k, v := range entries {
			changed[k] = v
		}
		tc.change(changed)
		file := filepath.Join(dir, "changed.zip")
		writeBundle(t, file, changed, bundleOrder(t, bundle))
		_, _, err := verify(file)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want a failure naming %q", tc.name, err, tc.want)
			continue
		}
		t.Logf("%s: %v", tc.name, err)
	}

	// A byte flipped in the archive itself, inside the stored video.
	raw, err := os.ReadFile(bundle)
	if err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(raw), int64(len(raw)))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range zr.File {
		if f.Name == videoPath {
			off, err := f.DataOffset()
			if err != nil {
				t.Fatal(err)
			}
			raw[off+5<<20] ^= 0x80
		}
	}
	damaged := filepath.Join(dir, "damaged.zip")
	if err := os.WriteFile(damaged, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := verify(damaged); err == nil || !strings.Contains(err.Error(), videoPath+": ") {
		t.Errorf("damaged archive: got %v, want a failure naming %s", err, videoPath)
	}
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

// readBundle returns a bundle's manifest and every entry's bytes.
func readBundle(tb testing.TB, file string) (server.BundleManifest, map[string][]byte) {
	tb.Helper()
	zr, err := zip.OpenReader(file)
	if err != nil {
		tb.Fatal(err)
	}
	defer zr.Close()
	entries := map[string][]byte{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			tb.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			tb.Fatalf("%s: %v", f.Name, err)
		}
		entries[f.Name] = b
	}
	var m server.BundleManifest
	if err := json.Unmarshal(entries[server.BundleManifestName], &m); err != nil {
		tb.Fatal(err)
	}
	return m, entries
}

func bundleOrder(tb testing.TB, file string) []string {
	tb.Helper()
	zr, err := zip.OpenReader(file)
	if err != nil {
		tb.Fatal(err)
	}
	defer zr.Close()
	var names []string
	for _, f := range zr.File {
		names = append(names, f.Name)
	}
	return names
}

// writeBundle writes entries as a zip in the given order (extra entries
// last), the way a forger with a zip tool would.
func writeBundle(tb testing.TB, file string, entries map[string][]byte, order []string) {
	tb.Helper()
	f, err := os.Create(file)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	zw := zip.NewWriter(f)
	seen := map[string]bool{}
	put := func(name string) {
		b, ok := entries[name]
		if !ok || seen[name] {
			return
		}
		seen[name] = true
		w, err := zw.Create(name)
		if err != nil {
			tb.Fatal(err)
		}
		w.Write(b)
	}
	for _, name := range order {
		put(name)
	}
	for name := range entries {
		put(name)
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
}

// TestVerifyBundleReportHead: report.json's audit head must be one of the
// bundle's events with that very hash.
func TestVerifyBundleReportHead(t *testing.T) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, _ := zw.Create("report.json")
	w.Write([]byte(`{"audit_head_seq": 7, "audit_head_hash": "aaaa"}`))
	zw.Close()
	zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		events map[int64]string
		ok     bool
	}{
		{map[int64]string{6: "bbbb", 7: "aaaa"}, true},
		{map[int64]string{7: "aaab"}, false},
		{map[int64]string{6: "aaaa"}, false},
	} {
		err := checkReportHead(zr.File[0], &recordedHashes{events: tc.events})
		if tc.ok && err != nil || !tc.ok && (err == nil || !strings.HasPrefix(err.Error(), "report.json: its audit head, event 7 aaaa")) {
			t.Errorf("events %v: got %v, want ok=%v (a failure naming report.json)", tc.events, err, tc.ok)
		}
	}
}

// TestVerifyBundleTimestamps: a case whose original and decision were
// time-stamped by a real (openssl) TSA gives a bundle holding the tokens;
// `siteinspect verify` checks each against what it covers, with and
// without the TSA's CA, and names the token when it, the manifest's claim
// about it, or the CA does not hold.
func TestVerifyBundleTimestamps(t *testing.T) {
	tsa := tsatest.Start(t)
	other := tsatest.Start(t) // another authority, whose CA signed nothing here
	p := harness.StartServer(t, "--jobs", "1", "--tsa-url", tsa.URL, "--tsa-ca", tsa.CAFile)
	app := harness.Login(t, p.URL, "applicant", p.Demo["applicant"])
	insp := harness.Login(t, p.URL, "inspector", p.Demo["inspector"])
	cs := app.NewCase()
	dir := t.TempDir()
	pdf := filepath.Join(dir, "plan.pdf")
	if err := os.WriteFile(pdf, harness.MinimalPDF(1, "Floor plan"), 0o644); err != nil {
		t.Fatal(err)
	}
	pdfID := app.MustUploadFile(cs.ID, pdf)
	path := "/api/v1/cases/" + cs.ID
	harness.WaitFor(t, time.Minute, "the original's time-stamp", func() bool {
		var c struct {
			TimestampPending *bool `json:"timestamp_pending"`
		}
		app.MustJSON("GET", path, nil, http.StatusOK, &c)
		return c.TimestampPending != nil && !*c.TimestampPending
	})
	app.MustJSON("POST", path+"/submit", nil, http.StatusOK, nil)
	insp.MustJSON("POST", path+"/assign", nil, http.StatusOK, nil)

	resp := insp.Do("GET", path+"/bundle.zip", nil, nil)
	bundle := filepath.Join(dir, "bundle.zip")
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("bundle: %d %v", resp.StatusCode, err)
	}
	if err := os.WriteFile(bundle, b, 0o644); err != nil {
		t.Fatal(err)
	}
	m, entries := readBundle(t, bundle)
	if len(m.Timestamps) != 1 || m.Timestamps[0].EvidenceID != pdfID || m.Timestamps[0].Kind != domain.TimestampEvidence {
		t.Fatalf("manifest time-stamps: got %+v, want the PDF's", m.Timestamps)
	}
	tok := m.Timestamps[0].Path
	verify := func(file string, args ...string) (string, error) {
		var out, errb bytes.Buffer
		err := run(context.Background(), append(append([]string{"verify"}, args...), file), func(string) string { return "" }, strings.NewReader(""), &out, &errb)
		return out.String(), err
	}
	if out, err := verify(bundle, "--tsa-ca", tsa.CAFile); err != nil || !strings.Contains(out, "1 time-stamp tokens hold, signed under the given TSA CA") {
		t.Fatalf("intact bundle with the TSA's CA: got %q, %v", out, err)
	}
	if out, err := verify(bundle); err != nil || !strings.Contains(out, "signers not checked") {
		t.Fatalf("intact bundle without a CA: got %q, %v", out, err)
	}
	if _, err := verify(bundle, "--tsa-ca", other.CAFile); err == nil || !strings.Contains(err.Error(), tok+": ") {
		t.Errorf("another authority's CA: got %v, want a failure naming %s", err, tok)
	}
	for _, tc := range []struct {
		name   string
		change func(e map[string][]byte)
	}{
		{"a byte of the token's signature", func(e map[string][]byte) {
			t := bytes.Clone(e[tok])
			t[len(t)-10] ^= 0x01
			e[tok] = t
			// The manifest vouches for the changed file: only the token's
			// own check can catch it.
			mm := m
			mm.Files = slices.Clone(m.Files)
			for i := range mm.Files {
				if mm.Files[i].Path == tok {
					mm.Files[i].SHA256 = bundleSHA256(t)
					mm.Files[i].Size = int64(len(t))
				}
			}
			e[server.BundleManifestName], _ = json.Marshal(mm)
		}},
		{"the digest the manifest claims", func(e map[string][]byte) {
			mm := m
			mm.Timestamps = slices.Clone(m.Timestamps)
			mm.Timestamps[0].Digest = strings.Repeat("0", 64)
			e[server.BundleManifestName], _ = json.Marshal(mm)
		}},
	} {
		changed := map[string][]byte{}
		for k, v := range entries {
			changed[k] = v
		}
		tc.change(changed)
		file := filepath.Join(dir, "changed.zip")
		writeBundle(t, file, changed, bundleOrder(t, bundle))
		if _, err := verify(file, "--tsa-ca", tsa.CAFile); err == nil || !strings.Contains(err.Error(), tok+": ") {
			t.Errorf("%s: got %v, want a failure naming %s", tc.name, err, tok)
		} else {
			t.Logf("%s: %v", tc.name, err)
		}
	}
}
