package server_test

import (
	"encoding/json"
	"net/http"
	"testing"
)

// TestDownloadPreconditionFailed: a download whose If-Match names another
// version of the file, or whose If-Unmodified-Since is before it was
// stored, is refused 412 in the API's JSON (precondition_failed), not with
// an empty body labelled as the file's type (http.ServeContent's answer);
// a matching If-Match gets the file.
func TestDownloadPreconditionFailed(t *testing.T) {
	e := newEnv(t)
	cs := e.newCase("appA")
	ev := e.upload("appA", cs.ID, "walk.mp4", video(1000))
	path := "/api/v1/evidence/" + ev + "/content"
	ok := e.req("appA", "GET", path, nil, nil)
	if ok.Code != http.StatusOK {
		t.Fatalf("GET content: got %d, want 200", ok.Code)
	}
	for _, hdr := range []map[string]string{
		{"If-Match": `"0000"`},
		{"If-Unmodified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"},
	} {
		w := e.req("appA", "GET", path, nil, hdr)
		var got struct {
			Error struct{ Code string } `json:"error"`
		}
		err := json.Unmarshal(w.Body.Bytes(), &got)
		if w.Code != http.StatusPreconditionFailed || err != nil || got.Error.Code != "precondition_failed" || w.Header().Get("Content-Type") != "application/json" {
			t.Errorf("GET content with %v: got %d %q (Content-Type %q), want 412 precondition_failed in JSON", hdr, w.Code, w.Body, w.Header().Get("Content-Type"))
		}
	}
	if w := e.req("appA", "GET", path, nil, map[string]string{"If-Match": ok.Header().Get("ETag")}); w.Code != http.StatusOK || w.Body.Len() != 1000 {
		t.Errorf("GET content with its own ETag in If-Match: got %d (%d bytes), want 200 with the file", w.Code, w.Body.Len())
	}
}

// TestDownloadRangeRefusedUnderIfRange: a Range that names no byte of the
// file is refused 416 range_not_satisfiable in the API's JSON also when an
// If-Range that holds comes with it (a resuming client sends both), where
// http.ServeContent answered in plain text; an If-Range that does not hold
// gets the whole file.
func TestDownloadRangeRefusedUnderIfRange(t *testing.T) {
	e := newEnv(t)
	cs := e.newCase("appA")
	ev := e.upload("appA", cs.ID, "walk.mp4", video(1000))
	path := "/api/v1/evidence/" + ev + "/content"
	ok := e.req("appA", "GET", path, nil, nil)
	for _, ifRange := range []string{ok.Header().Get("ETag"), ok.Header().Get("Last-Modified")} {
		for _, rng := range []string{"bytes=5000-6000", "bytes=abc"} {
			w := e.req("appA", "GET", path, nil, map[string]string{"Range": rng, "If-Range": ifRange})
			var got struct {
				Error struct{ Code string } `json:"error"`
			}
			err := json.Unmarshal(w.Body.Bytes(), &got)
			if w.Code != http.StatusRequestedRangeNotSatisfiable || err != nil || got.Error.Code != "range_not_satisfiable" || w.Header().Get("Content-Range") != "bytes */1000" {
				t.Errorf("Range %s with If-Range %s: got %d %q (Content-Range %q), want 416 range_not_satisfiable in JSON with bytes */1000",
					rng, ifRange, w.Code, w.Body, w.Header().Get("Content-Range"))
			}
		}
	}
	if w := e.req("appA", "GET", path, nil, map[string]string{"Range": "bytes=5000-6000", "If-Range": `"another"`}); w.Code != http.StatusOK || w.Body.Len() != 1000 {
		t.Errorf("an unsatisfiable Range under an If-Range that does not hold: got %d (%d bytes), want 200 with the whole file", w.Code, w.Body.Len())
	}
}
