package server_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"siteinspect/domain"
	"siteinspect/server"
)

// directServer is a second server on e's records and bucket that answers
// downloads with redirects to presigned URLs valid for ttl.
func (e *env) directServer(ttl time.Duration) *server.Server {
	e.t.Helper()
	srv, err := server.New(server.Config{DB: e.db, Objects: e.objects, Uploads: e.ups, Office: "binhai", NumberPrefix: "BH", Location: time.UTC,
		DirectDownloadTTL: ttl})
	if err != nil {
		e.t.Fatal(err)
	}
	return srv
}

// reqOn is e.req against another server on the same records.
func (e *env) reqOn(srv *server.Server, user, path string, hdr map[string]string) *http.Response {
	e.t.Helper()
	saved := e.srv
	e.srv = srv
	defer func() { e.srv = saved }()
	return e.req(user, "GET", path, nil, hdr).Result()
}

// getURL fetches a presigned URL with the headers hdr.
func getURL(t *testing.T, u string, hdr map[string]string) (*http.Response, []byte) {
	t.Helper()
	r, err := http.NewRequest("GET", u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

// derivedEvidence uploads an original and stores a poster and a proxy for
// it as the media pipeline would, and returns the evidence id and the
// bytes of the original, the poster and the proxy.
func (e *env) derivedEvidence(user, caseID string) (id string, original, poster, proxy []byte) {
	e.t.Helper()
	ctx := context.Background()
	original = video(300_000)
	id = e.upload(user, caseID, "site.mp4", original)
	poster = bytes.Repeat([]byte("poster-bytes."), 2_000)
	proxy = bytes.Repeat([]byte("proxy-bytes:0123456789."), 20_000)
	for name, b := range map[string][]byte{domain.DerivedPoster: poster, domain.DerivedProxy: proxy} {
		if err := e.objects.Put(ctx, domain.DerivedKey(caseID, id, name), bytes.NewReader(b), int64(len(b)), "application/octet-stream"); err != nil {
			e.t.Fatal(err)
		}
	}
	if err := e.db.SetEvidenceResult(ctx, id, string(domain.EvidenceReady), "", nil, &domain.Derived{Poster: true, Proxy: true}); err != nil {
		e.t.Fatal(err)
	}
	return id, original, poster, proxy
}

// TestDownloadRanges: a first, a middle and a suffix range of an original,
// a poster and a proxy (playback) come back exact with 206 and
// Content-Range, relayed by the server (to a recorder, and over TCP where
// the body is spliced) and through the redirect to a
// presigned URL (the Range header sent again to the store, as browsers
// and players do); the whole file too.
func TestDownloadRanges(t *testing.T) {
	e := newEnv(t)
	cs := e.newCase("appA")
	id, original, poster, proxy := e.derivedEvidence("appA", cs.ID)
	direct := e.directServer(time.Minute)
	ts := httptest.NewServer(e.srv)
	defer ts.Close()
	for _, target := range []struct {
		path, contentType string
		data              []byte
	}{
		{"/api/v1/evidence/" + id + "/content", "video/mp4", original},
		{"/api/v1/evidence/" + id + "/poster", "image/jpeg", poster},
		{"/api/v1/evidence/" + id + "/playback", "video/mp4", proxy},
	} {
		size := len(target.data)
		for _, rg := range []struct {
			header   string
			from, to int // inclusive
		}{
			{"bytes=0-99", 0, 99},
			{fmt.Sprintf("bytes=%d-%d", size/2, size/2+4_999), size / 2, size/2 + 4_999},
			{"bytes=-777", size - 777, size - 1},
			{"", 0, size - 1},
		} {
			hdr := map[string]string{}
			wantStatus, wantCR := http.StatusOK, ""
			if rg.header != "" {
				hdr["Range"] = rg.header
				wantStatus, wantCR = http.StatusPartialContent, fmt.Sprintf("bytes %d-%d/%d", rg.from, rg.to, size)
			}
			want := target.data[rg.from : rg.to+1]

			resp := e.reqOn(e.srv, "appA", target.path, hdr)
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != wantStatus || resp.Header.Get("Content-Range") != wantCR || !bytes.Equal(body, want) {
				t.Errorf("relayed %s %q: got %d, Content-Range %q, %d bytes (equal %v); want %d, %q, %d bytes",
					target.path, rg.header, resp.StatusCode, resp.Header.Get("Content-Range"), len(body), bytes.Equal(body, want), wantStatus, wantCR, len(want))
			}
			if ct := resp.Header.Get("Content-Type"); ct != target.contentType {
				t.Errorf("relayed %s: Content-Type %q, want %q", target.path, ct, target.contentType)
			}
			// Over a real connection the relay splices the body from
			// MinIO's socket to the client's.
			hdr["Authorization"] = "Bearer " + e.tokens["appA"]
			resp, body = getURL(t, ts.URL+target.path, hdr)
			delete(hdr, "Authorization")
			if resp.StatusCode != wantStatus || resp.Header.Get("Content-Range") != wantCR || !bytes.Equal(body, want) {
				t.Errorf("relayed over TCP %s %q: got %d, Content-Range %q, %d bytes (equal %v); want %d, %q, %d bytes",
					target.path, rg.header, resp.StatusCode, resp.Header.Get("Content-Range"), len(body), bytes.Equal(body, want), wantStatus, wantCR, len(want))
			}

			redirect := e.reqOn(direct, "appA", target.path, hdr)
			loc := redirect.Header.Get("Location")
			if redirect.StatusCode != http.StatusTemporaryRedirect || !strings.Contains(loc, "X-Amz-Signature=") {
				t.Fatalf("direct %s %q: got %d Location %q, want 307 to a presigned URL", target.path, rg.header, redirect.StatusCode, loc)
			}
			if cc := redirect.Header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("direct %s: redirect Cache-Control %q, want no-store", target.path, cc)
			}
			resp, body = getURL(t, loc, hdr)
			if resp.StatusCode != wantStatus || resp.Header.Get("Content-Range") != wantCR || !bytes.Equal(body, want) {
				t.Errorf("presigned %s %q: got %d, Content-Range %q, %d bytes (equal %v); want %d, %q, %d bytes",
					target.path, rg.header, resp.StatusCode, resp.Header.Get("Content-Range"), len(body), bytes.Equal(body, want), wantStatus, wantCR, len(want))
			}
			if ct := resp.Header.Get("Content-Type"); ct != target.contentType {
				t.Errorf("presigned %s: Content-Type %q, want %q", target.path, ct, target.contentType)
			}
		}
	}
	// The store answers with our Content-Disposition, as the relayed path does.
	relayed := e.reqOn(e.srv, "appA", "/api/v1/evidence/"+id+"/content?download=1", nil)
	redirect := e.reqOn(direct, "appA", "/api/v1/evidence/"+id+"/content?download=1", nil)
	resp, _ := getURL(t, redirect.Header.Get("Location"), nil)
	if got, want := resp.Header.Get("Content-Disposition"), relayed.Header.Get("Content-Disposition"); got != want || !strings.HasPrefix(want, "attachment;") {
		t.Errorf("presigned Content-Disposition %q, want the relayed one %q (attachment)", got, want)
	}
}

// TestDirectDownloadAuthorization: a presigned URL is issued only to whom
// may read the evidence (another company's applicant, an officer of
// another office and nobody get no URL, as when relayed), and each
// redirect of an officer is audited as a read, marked as a redirect.
func TestDirectDownloadAuthorization(t *testing.T) {
	e := newEnv(t)
	s := e.stage()
	direct := e.directServer(time.Minute)
	path := "/api/v1/evidence/" + s.evAssignedA + "/content"
	for _, who := range []struct {
		user string
		want int
	}{{"appB", http.StatusNotFound}, {"inspOther", http.StatusNotFound}, {"", http.StatusUnauthorized}} {
		resp := e.reqOn(direct, who.user, path, nil)
		if resp.StatusCode != who.want || resp.Header.Get("Location") != "" {
			t.Errorf("%q: got %d Location %q, want %d and no URL", who.user, resp.StatusCode, resp.Header.Get("Location"), who.want)
		}
	}
	if resp := e.reqOn(direct, "appB", "/api/v1/evidence/"+s.evAssignedA+"/playback", nil); resp.StatusCode != http.StatusNotFound || resp.Header.Get("Location") != "" {
		t.Errorf("appB playback: got %d Location %q, want 404 and no URL", resp.StatusCode, resp.Header.Get("Location"))
	}

	before := e.reads(s.assignedA.ID)
	resp := e.reqOn(direct, "insp", path, nil)
	if resp.StatusCode != http.StatusTemporaryRedirect {
		t.Fatalf("assigned inspector: got %d, want 307", resp.StatusCode)
	}
	after := e.reads(s.assignedA.ID)
	if len(after) != len(before)+1 {
		t.Fatalf("evidence.read events: %d before the redirect, %d after; want one more", len(before), len(after))
	}
	ev := after[len(after)-1]
	if ev.ActorID != e.users["insp"].ID || ev.Target != s.evAssignedA || !strings.Contains(string(ev.Data), `"redirect":true`) {
		t.Errorf("audit event: actor %s target %s data %s; want insp, %s, redirect true", ev.ActorID, ev.Target, ev.Data, s.evAssignedA)
	}
}

// reads lists the case's evidence.read audit events.
func (e *env) reads(caseID string) []*domain.AuditEvent {
	e.t.Helper()
	all, err := e.db.CaseAudit(context.Background(), caseID, 0, 1000)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []*domain.AuditEvent
	for _, a := range all {
		if a.Action == "evidence.read" {
			out = append(out, a)
		}
	}
	return out
}

// TestDirectDownloadExpires: a presigned URL works within its TTL and
// MinIO refuses it after.
func TestDirectDownloadExpires(t *testing.T) {
	e := newEnv(t)
	cs := e.newCase("appA")
	data := video(10_000)
	id := e.upload("appA", cs.ID, "short.mp4", data)
	direct := e.directServer(time.Second)
	loc := e.reqOn(direct, "appA", "/api/v1/evidence/"+id+"/content", nil).Header.Get("Location")
	if loc == "" {
		t.Fatal("no Location")
	}
	if resp, body := getURL(t, loc, nil); resp.StatusCode != http.StatusOK || !bytes.Equal(body, data) {
		t.Fatalf("fresh URL: got %d with %d bytes, want 200 with the %d bytes", resp.StatusCode, len(body), len(data))
	}
	time.Sleep(2500 * time.Millisecond)
	if resp, body := getURL(t, loc, nil); resp.StatusCode != http.StatusForbidden || bytes.Equal(body, data) {
		t.Errorf("URL after its TTL: got %d (%.80s), want 403 without the bytes", resp.StatusCode, body)
	}
}
