package server

import (
	"net/http"
	"net/http/httptest"
	"siteinspect/domain"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
)

// TestAnnotationJSONMatchesEncodingJSON: the hand-written encoder answers
// byte for byte what c.JSON (encoding/json) would, headers included.
func TestAnnotationJSONMatchesEncodingJSON(t *testing.T) {
	i64 := func(v int64) *int64 { return &v }
	page := 3
	at := time.Date(2025, 3, 4, 5, 6, 7, 120_000_000, time.UTC)
	whole := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	author := &domain.UserRef{ID: "u1", Username: "insp", DisplayName: "检查员 <A&B>", Org: "office-1"}
	full := &domain.Annotation{
		ID: "a1", CaseID: "c1", EvidenceID: "e1", Author: author,
		Body:    "安全出口 \"blocked\" \\ <b>&amp;</b>\n\t\r\b\f\x01\x1f\x7f \u2028\u2029 bad:\xff\xfe end",
		StartMS: i64(3200), EndMS: i64(4500), StartFrame: i64(95), EndFrame: i64(134),
		Shape:         &domain.Shape{Type: "rect", Points: [][2]float64{{0.1, 0.2}, {1e-7, 1}}, Color: "#ff0000"},
		ChecklistItem: "fire-exits", Severity: "violation", Resolved: true, ResolvedAt: &whole,
		Deleted: true, Version: 7, CreatedAt: at, UpdatedAt: whole,
		Replies: []domain.Reply{{ID: "r1", Author: author, Body: "ok 好", CreatedAt: at}, {ID: "r2", Body: "", CreatedAt: whole}},
	}
	bare := &domain.Annotation{ID: "a2", Page: &page, Replies: []domain.Reply{}, CreatedAt: at, UpdatedAt: at}
	noReplies := &domain.Annotation{ID: "a3", Author: author}
	for _, tc := range []struct {
		name string
		list []*domain.Annotation
		one  *domain.Annotation
	}{
		{name: "full", one: full},
		{name: "bare", one: bare},
		{name: "nil replies", one: noReplies},
		{name: "list", list: []*domain.Annotation{full, bare, noReplies}},
		{name: "empty list", list: []*domain.Annotation{}},
		{name: "nil list"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := echo.New()
			answer := func(f func(c echo.Context) error) *httptest.ResponseRecorder {
				w := httptest.NewRecorder()
				if err := f(e.NewContext(httptest.NewRequest("GET", "/", nil), w)); err != nil {
					t.Fatal(err)
				}
				return w
			}
			var got, want *httptest.ResponseRecorder
			if tc.one != nil {
				got = answer(func(c echo.Context) error { return writeAnnotationJSON(c, http.StatusCreated, tc.one) })
				want = answer(func(c echo.Context) error { return c.JSON(http.StatusCreated, tc.one) })
			} else {
				got = answer(func(c echo.Context) error { return writeAnnotationsJSON(c, http.StatusCreated, tc.list) })
				want = answer(func(c echo.Context) error { return c.JSON(http.StatusCreated, tc.list) })
			}
			if got.Code != want.Code || got.Header().Get("Content-Type") != want.Header().Get("Content-Type") {
				t.Errorf("got %d %q, want %d %q", got.Code, got.Header().Get("Content-Type"), want.Code, want.Header().Get("Content-Type"))
			}
			if got.Body.String() != want.Body.String() {
				t.Errorf("got\n%s\nwant\n%s", got.Body, want.Body)
			}
		})
	}
}
