package server_test

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"siteinspect/domain"
	"siteinspect/server"
	"siteinspect/storage/objects"
)

// countingStore is the test's real MinIO store, counting the bytes the
// server reads from the objects it opens.
type countingStore struct {
	objects.ObjectStore
	read atomic.Int64
}

func (s *countingStore) Open(ctx context.Context, key string) (objects.Object, error) {
	o, err := s.ObjectStore.Open(ctx, key)
	if err != nil {
		return nil, err
	}
	return &countingObject{Object: o, n: &s.read}, nil
}

type countingObject struct {
	objects.Object
	n *atomic.Int64
}

func (o *countingObject) Read(p []byte) (int, error) {
	n, err := o.Object.Read(p)
	o.n.Add(int64(n))
	return n, err
}

// pipeResponse is a ResponseWriter whose body goes into a pipe, so the
// server can write only as fast as the test reads.
type pipeResponse struct {
	hdr    http.Header
	status chan int
	pw     *io.PipeWriter
}

func (p *pipeResponse) Header() http.Header { return p.hdr }
func (p *pipeResponse) WriteHeader(code int) {
	select {
	case p.status <- code:
	default:
	}
}
func (p *pipeResponse) Write(b []byte) (int, error) {
	p.WriteHeader(http.StatusOK)
	return p.pw.Write(b)
}
func (p *pipeResponse) Flush() {}

// TestBundleStreams: the bundle's first bytes reach the client while the
// server has read only a little of a 24 MiB original, and the whole of it
// holds every file with the manifest's sizes and hashes, the events with
// the download and the issued reports among them.
func TestBundleStreams(t *testing.T) {
	e := newEnv(t)
	e.people()
	const size = 24 << 20
	big := make([]byte, size)
	rand.Read(big)
	copy(big, video(64))
	var c2 domain.Case
	e.json("zhouapp", "POST", "/api/v1/cases", map[string]string{"permit_type": "hotel", "site_name": "港湾大酒店", "site_address": "滨海新区港湾路88号"}, http.StatusCreated, &c2)
	bigID := e.upload("zhouapp", c2.ID, "long walk.mp4", big)
	smallID := e.upload("zhouapp", c2.ID, "../../etc/short.mp4", video(3000))
	path := "/api/v1/cases/" + c2.ID
	e.json("zhouapp", "POST", path+"/submit", nil, http.StatusOK, nil)
	e.json("lijian", "POST", path+"/assign", nil, http.StatusOK, nil)

	store := &countingStore{ObjectStore: e.objects}
	e.withReports(store)

	// Not the applicant nor another company (TestPolicyMatrix has the rest).
	for user, want := range map[string]int{"zhouapp": http.StatusForbidden, "appB": http.StatusNotFound} {
		if w := e.req(user, "GET", path+"/bundle.zip", nil, nil); w.Code != want {
			t.Fatalf("bundle as %s: got %d %s, want %d", user, w.Code, w.Body, want)
		}
	}

	pr, pw := io.Pipe()
	resp := &pipeResponse{hdr: http.Header{}, status: make(chan int, 1), pw: pw}
	req := newAuthed(e, "lijian", "GET", path+"/bundle.zip")
	go func() {
		e.srv.ServeHTTP(resp, req)
		pw.Close()
	}()
	select {
	case code := <-resp.status:
		if code != http.StatusOK {
			b, _ := io.ReadAll(pr)
			t.Fatalf("bundle: got %d %s, want 200", code, b)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("bundle: no status within 30 s")
	}
	first := make([]byte, 1<<20)
	if _, err := io.ReadFull(pr, first); err != nil {
		t.Fatalf("first MiB: %v", err)
	}
	if n := store.read.Load(); n >= size/2 {
		t.Fatalf("after the client's first MiB the server had read %d of the %d-byte original, want it streamed (well under half)", n, size)
	}
	t.Logf("after the client's first MiB the server had read %d KiB of the 24 MiB original", store.read.Load()>>10)
	rest, err := io.ReadAll(pr)
	if err != nil {
		t.Fatal(err)
	}
	whole := append(first, rest...)
	if ct := resp.hdr.Get("Content-Type"); ct != "application/zip" || !strings.HasPrefix(resp.hdr.Get("Content-Disposition"), "attachment") {
		t.Fatalf("bundle headers: got %q %q, want an application/zip attachment", ct, resp.hdr.Get("Content-Disposition"))
	}

	zr, err := zip.NewReader(bytes.NewReader(whole), int64(len(whole)))
	if err != nil {
		t.Fatalf("bundle is not a zip: %v", err)
	}
	files := map[string][]byte{}
	var names []string
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		files[f.Name] = b
		names = append(names, f.Name)
	}
	wantNames := []string{"evidence/" + bigID + "-long walk.mp4", "evidence/" + smallID + "-short.mp4", "report.pdf", "report.json", server.BundleEventsName, server.BundleManifestName}
	if strings.Join(names, "|") != strings.Join(wantNames, "|") {
		t.Fatalf("bundle entries: got %v, want %v", names, wantNames)
	}
	if !bytes.Equal(files[wantNames[0]], big) {
		t.Fatalf("big original: got %d bytes, want the %d uploaded", len(files[wantNames[0]]), size)
	}
	var m server.BundleManifest
	mustUnmarshal(t, files[server.BundleManifestName], &m)
	if m.Format != server.BundleFormat || m.CaseID != c2.ID || m.CaseNumber != c2.Number || len(m.Files) != 5 {
		t.Fatalf("manifest: got %+v", m)
	}
	for _, f := range m.Files {
		if b := files[f.Path]; int64(len(b)) != f.Size || hexSHA(b) != f.SHA256 {
			t.Errorf("manifest entry %s: says %d bytes %s, the file has %d bytes %s", f.Path, f.Size, f.SHA256, len(b), hexSHA(b))
		}
	}
	if m.Files[0].EvidenceID != bigID || m.Files[1].EvidenceID != smallID || m.Files[2].ReportCode == "" || m.Files[3].ReportCode == "" {
		t.Errorf("manifest links: got %+v, want the evidence ids and the reports' codes", m.Files)
	}
	lines := strings.Split(strings.TrimSpace(string(files[server.BundleEventsName])), "\n")
	actions := map[string]int{}
	var last domain.AuditEvent
	for _, l := range lines {
		last = domain.AuditEvent{}
		mustUnmarshal(t, []byte(l), &last)
		if last.ComputeHash() != last.Hash {
			t.Errorf("event %d: hash %s does not cover its content", last.Seq, last.Hash)
		}
		actions[last.Action]++
	}
	if actions["bundle.downloaded"] != 1 || actions["report.issued"] != 2 || actions["evidence.uploaded"] != 2 {
		t.Errorf("bundle events: got %v, want one bundle.downloaded, two report.issued, two evidence.uploaded", actions)
	}
	if m.Events.Count != len(lines) || m.Events.HeadSeq != last.Seq || m.Events.HeadHash != last.Hash {
		t.Errorf("manifest events: got %+v, want %d ending at %d %s", m.Events, len(lines), last.Seq, last.Hash)
	}
	var rep struct {
		Case struct {
			Number string `json:"number"`
		} `json:"case"`
	}
	if err := json.Unmarshal(files["report.json"], &rep); err != nil || rep.Case.Number != c2.Number {
		t.Errorf("report.json in the bundle: got %q (%v), want case %s", rep.Case.Number, err, c2.Number)
	}
}

// newAuthed is a request as user.
func newAuthed(e *env, user, method, path string) *http.Request {
	r, _ := http.NewRequest(method, path, nil)
	r.RemoteAddr = "192.0.2.10:1234"
	r.Header.Set("Authorization", "Bearer "+e.tokens[user])
	return r
}

// TestBundleRecordsWhoWatched: an officer's playback and download of
// evidence are audit events (a player's later Range requests are the same
// viewing and are not), the applicant's own viewing is not, and the
// bundle's events show them with who and how.
func TestBundleRecordsWhoWatched(t *testing.T) {
	e := newEnv(t)
	e.people()
	var cs domain.Case
	e.json("zhouapp", "POST", "/api/v1/cases", map[string]string{"permit_type": "hotel", "site_name": "港湾大酒店", "site_address": "滨海新区港湾路88号"}, http.StatusCreated, &cs)
	ev := e.upload("zhouapp", cs.ID, "walk.mp4", video(5000))
	dur := int64(10_000)
	if err := e.db.SetEvidenceResult(context.Background(), ev, domain.EvidenceReady, "", &domain.Media{DurationMS: &dur}, &domain.Derived{}); err != nil {
		t.Fatal(err)
	}
	path := "/api/v1/cases/" + cs.ID
	e.json("zhouapp", "POST", path+"/submit", nil, http.StatusOK, nil)
	e.json("lijian", "POST", path+"/assign", nil, http.StatusOK, nil)
	for _, r := range []struct {
		user, path, rng string
	}{
		{"lijian", "/api/v1/evidence/" + ev + "/playback", "bytes=0-"},
		{"lijian", "/api/v1/evidence/" + ev + "/playback", "bytes=2000-"}, // the same viewing, seeking
		{"lijian", "/api/v1/evidence/" + ev + "/content?download=1", ""},
		{"zhouapp", "/api/v1/evidence/" + ev + "/content", ""}, // the applicant's own file
	} {
		hdr := map[string]string{}
		if r.rng != "" {
			hdr["Range"] = r.rng
		}
		if w := e.req(r.user, "GET", r.path, nil, hdr); w.Code != http.StatusOK && w.Code != http.StatusPartialContent {
			t.Fatalf("GET %s as %s: got %d %s", r.path, r.user, w.Code, w.Body)
		}
	}
	w := e.req("lijian", "GET", path+"/bundle.zip", nil, nil)
	if w.Code != http.StatusOK {
		t.Fatalf("bundle: got %d %s", w.Code, w.Body)
	}
	zr, err := zip.NewReader(bytes.NewReader(w.Body.Bytes()), int64(w.Body.Len()))
	if err != nil {
		t.Fatal(err)
	}
	var events []byte
	for _, f := range zr.File {
		if f.Name == server.BundleEventsName {
			rc, _ := f.Open()
			events, _ = io.ReadAll(rc)
			rc.Close()
		}
	}
	var got []string
	for _, l := range strings.Split(strings.TrimSpace(string(events)), "\n") {
		var a domain.AuditEvent
		mustUnmarshal(t, []byte(l), &a)
		if a.Action == "evidence.read" || a.Action == "bundle.downloaded" {
			var d struct {
				Path string `json:"path"`
			}
			json.Unmarshal(a.Data, &d)
			who := "?"
			for name, u := range e.users {
				if u.ID == a.ActorID {
					who = name
				}
			}
			got = append(got, a.Action+" "+who+" "+a.Target+" "+d.Path)
		}
	}
	want := []string{
		"evidence.read lijian " + ev + " /api/v1/evidence/:eid/playback",
		"evidence.read lijian " + ev + " /api/v1/evidence/:eid/content",
		"bundle.downloaded lijian  ",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("who watched what, in the bundle's events:\ngot:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
