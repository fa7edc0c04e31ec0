package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"siteinspect/domain"
	"strings"
	"sync"
	"testing"
)

// TestAnnotationListNeverStale: pages of annotations come from a cache of
// rows and their rendered JSON; every change the API makes (an edit, a
// reply, resolving, reopening, deleting) shows in the very next listing,
// and a listing served from the cache is byte for byte what encoding/json
// makes of it.
func TestAnnotationListNeverStale(t *testing.T) {
	e := newEnv(t)
	r := e.reviewCase()
	vpath := "/api/v1/evidence/" + r.video + "/annotations"
	var a, b domain.Annotation
	e.json("insp", "POST", vpath, map[string]any{"body": "first <&> \"note\"", "start_ms": 1000, "checklist_item": "fire-exits",
		"shape": map[string]any{"type": "rect", "points": [][2]float64{{0.1, 0.2}, {0.4, 0.6}}, "color": "#ff0000"}}, http.StatusCreated, &a)
	e.json("insp", "POST", vpath, map[string]any{"body": "second", "start_ms": 2000}, http.StatusCreated, &b)
	lpath := r.path + "/annotations?evidence_id=" + r.video + "&limit=100"
	list := func() (raw string, got []domain.Annotation) {
		t.Helper()
		w := e.req("insp", "GET", lpath, nil, nil)
		if w.Code != http.StatusOK {
			t.Fatalf("list: got %d %s", w.Code, w.Body)
		}
		raw = w.Body.String()
		if err := json.Unmarshal([]byte(raw), &got); err != nil {
			t.Fatal(err)
		}
		// Twice more: once more from the cache (rendered JSON kept), and
		// once through c.JSON, indented, which compacts to the same bytes.
		if again := e.req("insp", "GET", lpath, nil, nil).Body.String(); again != raw {
			t.Fatalf("listed again:\n%s\nfirst:\n%s", again, raw)
		}
		var compact bytes.Buffer
		if err := json.Compact(&compact, e.req("insp", "GET", lpath+"&pretty", nil, nil).Body.Bytes()); err != nil {
			t.Fatal(err)
		}
		if want := compact.String() + "\n"; raw != want {
			t.Fatalf("cached listing:\n%s\nencoding/json:\n%s", raw, want)
		}
		return raw, got
	}
	check := func(step string, want func(got []domain.Annotation) bool) {
		t.Helper()
		_, got := list()
		if !want(got) {
			t.Fatalf("after %s: got %+v", step, got)
		}
		// The single-annotation read does not use the cache: the listing
		// must agree with it field for field.
		for _, g := range got {
			one, err := e.db.Annotation(context.Background(), g.ID)
			if err != nil {
				t.Fatal(err)
			}
			if gb, ob := mustJSONString(g), mustJSONString(one); gb != ob {
				t.Fatalf("after %s: listing %s, row %s", step, gb, ob)
			}
		}
	}
	check("create", func(got []domain.Annotation) bool {
		return len(got) == 2 && got[0].ID == a.ID && got[1].ID == b.ID && got[0].Version == 1 && len(got[0].Replies) == 0
	})
	// Concurrent pages share the cached annotations and their JSON.
	want, _ := list()
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5 {
				if got := e.req("insp", "GET", lpath, nil, nil).Body.String(); got != want {
					t.Errorf("concurrent listing:\n%s\nwant:\n%s", got, want)
				}
			}
		}()
	}
	wg.Wait()
	apath := "/api/v1/annotations/" + a.ID
	w := e.req("insp", "PATCH", apath, strings.NewReader(`{"body": "first, edited", "start_ms": 1000, "checklist_item": "fire-exits", "shape": null}`),
		map[string]string{"Content-Type": "application/json", "If-Match": `"1"`})
	if w.Code != http.StatusOK {
		t.Fatalf("edit: got %d %s", w.Code, w.Body)
	}
	check("edit", func(got []domain.Annotation) bool {
		return len(got) == 2 && got[0].Body == "first, edited" && got[0].Version == 2 && got[0].Shape == nil
	})
	e.json("rev", "POST", apath+"/replies", map[string]string{"body": "seen"}, http.StatusCreated, nil)
	check("reply", func(got []domain.Annotation) bool {
		return len(got) == 2 && len(got[0].Replies) == 1 && got[0].Replies[0].Body == "seen"
	})
	e.json("insp", "POST", apath+"/replies", map[string]string{"body": "fixed"}, http.StatusCreated, nil)
	check("second reply", func(got []domain.Annotation) bool {
		return len(got) == 2 && len(got[0].Replies) == 2 && got[0].Replies[1].Body == "fixed"
	})
	// Resolve and reopen at once, most likely within one millisecond.
	e.json("rev", "POST", apath+"/resolve", nil, http.StatusOK, nil)
	check("resolve", func(got []domain.Annotation) bool {
		return len(got) == 2 && got[0].Resolved && got[0].ResolvedAt != nil
	})
	e.json("rev", "POST", apath+"/reopen", nil, http.StatusOK, nil)
	check("reopen", func(got []domain.Annotation) bool {
		return len(got) == 2 && !got[0].Resolved && got[0].ResolvedAt == nil
	})
	e.json("rev", "POST", apath+"/resolve", nil, http.StatusOK, nil)
	e.json("rev", "POST", apath+"/reopen", nil, http.StatusOK, nil)
	check("resolve and reopen", func(got []domain.Annotation) bool { return len(got) == 2 && !got[0].Resolved })
	// Another process (the CLI) changes rows behind this server's back: the
	// cache's key must still tell.
	db := e.db.SQL()
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, `INSERT INTO annotation_replies (id, annotation_id, author_id, body, created_at) SELECT 'r-cli', id, author_id, 'from the CLI', updated_at + 1 FROM annotations WHERE id = ?`, a.ID); err != nil {
		t.Fatal(err)
	}
	check("a reply from elsewhere", func(got []domain.Annotation) bool {
		return len(got) == 2 && len(got[0].Replies) == 3 && got[0].Replies[2].Body == "from the CLI"
	})
	if _, err := db.ExecContext(ctx, `UPDATE annotations SET resolved_at = updated_at WHERE id = ?`, a.ID); err != nil {
		t.Fatal(err)
	}
	check("resolved elsewhere in the same millisecond", func(got []domain.Annotation) bool { return len(got) == 2 && got[0].Resolved })
	if _, err := db.ExecContext(ctx, `UPDATE annotations SET body = 'edited elsewhere', version = version + 1 WHERE id = ?`, a.ID); err != nil {
		t.Fatal(err)
	}
	check("an edit from elsewhere", func(got []domain.Annotation) bool { return len(got) == 2 && got[0].Body == "edited elsewhere" })
	if _, err := db.ExecContext(ctx, `UPDATE annotations SET deleted_at = updated_at WHERE id = ?`, b.ID); err != nil {
		t.Fatal(err)
	}
	check("a delete from elsewhere", func(got []domain.Annotation) bool { return len(got) == 1 && got[0].ID == a.ID })
	if _, err := db.ExecContext(ctx, `UPDATE annotations SET deleted_at = NULL WHERE id = ?`, b.ID); err != nil {
		t.Fatal(err)
	}
	check("undeleted", func(got []domain.Annotation) bool { return len(got) == 2 })
	if w := e.req("insp", "DELETE", apath, nil, nil); w.Code != http.StatusNoContent {
		t.Fatalf("delete: got %d", w.Code)
	}
	check("delete", func(got []domain.Annotation) bool { return len(got) == 1 && got[0].ID == b.ID })
}
