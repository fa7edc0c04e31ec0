package server_test

import (
	"encoding/json"
	"net/http"
	"reflect"
	"siteinspect/domain"
	"strconv"
	"strings"
	"testing"
)

// TestAnnotationMergePatch: PATCH is a JSON Merge Patch (RFC 7396): a
// body alone keeps every other field, null removes an optional one, a
// nested object merges, and both media types are accepted; If-Match stays
// required.
func TestAnnotationMergePatch(t *testing.T) {
	e := newEnv(t)
	r := e.reviewCase()
	var a domain.Annotation
	e.json("insp", "POST", "/api/v1/evidence/"+r.video+"/annotations", map[string]any{"body": "安全出口被杂物堵塞", "start_ms": 3200, "end_ms": 4500,
		"checklist_item": "fire-exits", "severity": "violation",
		"shape": map[string]any{"type": "rect", "points": [][2]float64{{0.1, 0.2}, {0.4, 0.6}}, "color": "#ff0000"}}, http.StatusCreated, &a)
	apath := "/api/v1/annotations/" + a.ID
	send := func(body, contentType string, want int) domain.Annotation {
		t.Helper()
		hdr := map[string]string{"If-Match": `"` + strconv.Itoa(a.Version) + `"`}
		if contentType != "" {
			hdr["Content-Type"] = contentType
		}
		w := e.req("insp", "PATCH", apath, strings.NewReader(body), hdr)
		if w.Code != want {
			t.Fatalf("PATCH %s (%s): got %d %s, want %d", body, contentType, w.Code, w.Body, want)
		}
		var got domain.Annotation
		if want == http.StatusOK {
			mustUnmarshal(t, w.Body.Bytes(), &got)
			a = got
		}
		return got
	}
	before := a
	got := send(`{"body":"x"}`, "application/merge-patch+json", http.StatusOK)
	if got.Body != "x" || got.Version != before.Version+1 {
		t.Fatalf("body patch: got body %q version %d, want %q version %d", got.Body, got.Version, "x", before.Version+1)
	}
	for _, f := range []struct {
		name      string
		got, want any
	}{
		{"start_ms", got.StartMS, before.StartMS}, {"end_ms", got.EndMS, before.EndMS},
		{"start_frame", got.StartFrame, before.StartFrame}, {"end_frame", got.EndFrame, before.EndFrame},
		{"page", got.Page, before.Page}, {"shape", got.Shape, before.Shape},
		{"checklist_item", got.ChecklistItem, before.ChecklistItem}, {"severity", got.Severity, before.Severity},
	} {
		if !reflect.DeepEqual(f.got, f.want) {
			t.Errorf("body patch changed %s: got %v, want %v", f.name, deref(f.got), deref(f.want))
		}
	}

	// A nested object merges: only the colour changes.
	got = send(`{"shape":{"color":"#00ff00"}}`, "application/json", http.StatusOK)
	if got.Shape == nil || got.Shape.Color != "#00ff00" || got.Shape.Type != "rect" || !reflect.DeepEqual(got.Shape.Points, before.Shape.Points) {
		t.Fatalf("shape colour patch: got %+v, want the rect with colour #00ff00", got.Shape)
	}
	// null removes optional fields; the rest stays.
	got = send(`{"end_ms":null,"shape":null,"checklist_item":null}`, "application/merge-patch+json; charset=utf-8", http.StatusOK)
	if got.EndMS != nil || got.EndFrame != nil || got.Shape != nil || got.ChecklistItem != "" || got.Body != "x" || got.StartMS == nil || *got.StartMS != 3200 || got.Severity != "violation" {
		t.Fatalf("null patch: got end_ms %v shape %v checklist %q body %q start_ms %v severity %q; want the three removed and the rest kept",
			deref(got.EndMS), got.Shape, got.ChecklistItem, got.Body, deref(got.StartMS), got.Severity)
	}
	// Moving in time moves the frame too.
	got = send(`{"start_ms":3300}`, "", http.StatusOK)
	if got.StartFrame == nil || *got.StartFrame != 98 {
		t.Fatalf("start_ms 3300 at 29.97 fps: got frame %v, want 98", deref(got.StartFrame))
	}

	// Still validated, still conditional, still JSON only.
	send(`{"start_ms":null}`, "application/merge-patch+json", http.StatusBadRequest)     // a video note needs its time
	send(`{"start_ms":"soon"}`, "application/merge-patch+json", http.StatusBadRequest)   // wrong type
	send(`{"colour":"red"}`, "application/merge-patch+json", http.StatusBadRequest)      // unknown field
	send(`["body"]`, "application/merge-patch+json", http.StatusBadRequest)              // not an object
	send(`{"body":"x"} {}`, "application/merge-patch+json", http.StatusBadRequest)       // trailing data
	send(`{"body":"y"}`, "application/json-patch+json", http.StatusUnsupportedMediaType) // RFC 6902 is not supported
	send(`{"body":"y"}`, "text/plain", http.StatusUnsupportedMediaType)                  // not JSON
	if w := e.req("insp", "PATCH", apath, strings.NewReader(`{"body":"y"}`), map[string]string{"Content-Type": "application/merge-patch+json"}); w.Code != http.StatusBadRequest {
		t.Fatalf("PATCH without If-Match: got %d %s, want 400", w.Code, w.Body)
	}
	list := e.listAnnotations("insp", r.path+"/annotations")
	var now domain.Annotation
	for _, x := range list {
		if x.ID == a.ID {
			now = x
		}
	}
	if now.Body != "x" || now.Version != a.Version || now.StartMS == nil || *now.StartMS != 3300 {
		t.Fatalf("after refused patches: got body %q version %d start %v, want %q version %d start 3300", now.Body, now.Version, deref(now.StartMS), "x", a.Version)
	}
}

func deref(v any) any {
	switch p := v.(type) {
	case *int64:
		if p != nil {
			return *p
		}
	case *int:
		if p != nil {
			return *p
		}
	default:
		return v
	}
	return nil
}

func mustUnmarshal(tb testing.TB, b []byte, v any) {
	tb.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		tb.Fatalf("decode %s: %v", b, err)
	}
}
