package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"siteinspect/domain"
	"siteinspect/server"
)

// findEnv is newEnv with cases opened straight in the database at chosen
// times, several sharing one millisecond so that the id must break ties.
type findEnv struct {
	*env
	clock time.Time
	cases []*domain.Case // in the order opened
}

func newFindEnv(t *testing.T) *findEnv {
	f := &findEnv{env: newEnv(t), clock: time.Date(2026, 3, 1, 15, 0, 0, 0, time.UTC)}
	f.db.SetClock(func() time.Time { return f.clock })
	return f
}

// open opens a case for user at the env's clock, then moves the clock on
// by step.
func (f *findEnv) open(user, permit, site, address string, step time.Duration) *domain.Case {
	f.t.Helper()
	c, err := f.db.CreateCase(context.Background(), f.users[user], "binhai", "BH", time.UTC,
		domain.NewCase{PermitType: permit, SiteName: site, SiteAddress: address})
	if err != nil {
		f.t.Fatalf("open case: %v", err)
	}
	f.clock = f.clock.Add(step)
	f.cases = append(f.cases, c)
	return c
}

// set changes columns of a case under the API (a due time, an officer),
// as the later steps of its life would.
func (f *findEnv) set(id, assignments string, args ...any) {
	f.t.Helper()
	if _, err := f.db.SQL().Exec(`UPDATE cases SET `+assignments+` WHERE id = ?`, append(args, id)...); err != nil {
		f.t.Fatalf("update case %s: %v", id, err)
	}
}

var linkNext = regexp.MustCompile(`^<([^>]+)>; rel="next"$`)

// walk follows rel="next" from path as user and returns the ids in the
// order served; between pages it calls between (if not nil) with the page
// number.
func (f *findEnv) walk(user, path string, between func(page int)) []string {
	f.t.Helper()
	var ids []string
	for page := 0; path != ""; page++ {
		if page > 1000 {
			f.t.Fatalf("more than 1000 pages: the cursor does not advance")
		}
		w := f.req(user, "GET", path, nil, nil)
		if w.Code != http.StatusOK {
			f.t.Fatalf("GET %s: got %d %s, want 200", path, w.Code, w.Body)
		}
		var list []domain.Case
		if err := json.Unmarshal(w.Body.Bytes(), &list); err != nil {
			f.t.Fatal(err)
		}
		for _, c := range list {
			ids = append(ids, c.ID)
		}
		path = ""
		if l := w.Header().Get("Link"); l != "" {
			m := linkNext.FindStringSubmatch(l)
			if m == nil {
				f.t.Fatalf("Link %q: want <uri>; rel=\"next\"", l)
			}
			path = m[1]
			if len(list) == 0 {
				f.t.Fatalf("GET %s: an empty page with a next link", path)
			}
		}
		if between != nil {
			between(page)
		}
	}
	return ids
}

func (f *findEnv) ids(user, path string) []string {
	f.t.Helper()
	var list []domain.Case
	f.json(user, "GET", path, nil, http.StatusOK, &list)
	ids := make([]string, len(list))
	for i, c := range list {
		ids[i] = c.ID
	}
	return ids
}

func sameSet(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	seen := map[string]int{}
	for _, id := range got {
		seen[id]++
	}
	for id, n := range seen {
		if n > 1 {
			t.Errorf("%s: case %s served %d times, want once", what, id, n)
		}
	}
	wantSet := map[string]bool{}
	for _, id := range want {
		wantSet[id] = true
		if seen[id] == 0 {
			t.Errorf("%s: case %s missing", what, id)
		}
	}
	for id := range seen {
		if !wantSet[id] {
			t.Errorf("%s: case %s served, want it left out", what, id)
		}
	}
}

// TestCaseListPages follows rel="next" through small pages in both orders:
// every case once, in the same order as one big page, with ties on the
// sort key broken by id and cases opened during the walk never repeating
// one already served.
func TestCaseListPages(t *testing.T) {
	f := newFindEnv(t)
	for i := 0; i < 30; i++ {
		step := time.Duration(0) // three cases per millisecond
		if i%3 == 2 {
			step = time.Hour
		}
		c := f.open("appA", "hotel", fmt.Sprintf("Site %d", i), "Road", step)
		switch i % 5 {
		case 0, 1: // submitted, due on one of two days: equal due times too
			f.set(c.ID, `status = 'submitted', submitted_at = created_at, due_at = ?`, time.Date(2026, 3, 10+i%2, 0, 0, 0, 0, time.UTC).UnixMilli())
		case 2:
			f.set(c.ID, `status = 'submitted', submitted_at = created_at, due_at = created_at`)
		}
	}
	var all []string
	for _, c := range f.cases {
		all = append(all, c.ID)
	}
	for _, sort := range []string{"due", "newest"} {
		t.Run(sort, func(t *testing.T) {
			whole := f.ids("admin", "/api/v1/cases?limit=5000&sort="+sort)
			sameSet(t, "one page", whole, all...)
			paged := f.walk("admin", "/api/v1/cases?limit=4&sort="+sort, nil)
			if strings.Join(paged, " ") != strings.Join(whole, " ") {
				t.Errorf("pages of 4 give\n%v\nwant the order of one page\n%v", paged, whole)
			}
			// Cases opened during the walk (newer than all, so before the
			// cursor in the newest order and among the drafts in the due
			// order) never make one served already come again.
			before := f.cases
			f.clock = f.clock.Add(24 * time.Hour)
			got := f.walk("admin", "/api/v1/cases?limit=4&sort="+sort, func(page int) {
				if page%2 == 1 {
					f.open("appA", "hotel", "Late site", "Road", time.Millisecond)
				}
			})
			var want []string
			for _, c := range before {
				want = append(want, c.ID)
			}
			seen := map[string]int{}
			for _, id := range got {
				seen[id]++
				if seen[id] > 1 {
					t.Errorf("case %s served twice while cases were being opened", id)
				}
			}
			for _, id := range want {
				if seen[id] != 1 {
					t.Errorf("case %s served %d times while cases were being opened, want once", id, seen[id])
				}
			}
			all = nil
			for _, c := range f.cases {
				all = append(all, c.ID)
			}
		})
	}
	// The default order is the queue's (sort=due): no sort parameter gives
	// the same list.
	if got, want := f.ids("admin", "/api/v1/cases?limit=5000"), f.ids("admin", "/api/v1/cases?limit=5000&sort=due"); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("default order differs from sort=due")
	}
	// Paging as an applicant stays within the company.
	paged := f.walk("appB", "/api/v1/cases?limit=2", nil)
	if len(paged) != 0 {
		t.Errorf("appB pages through %d cases of Acme, want 0", len(paged))
	}
}

// TestCaseListFilters checks each filter against a hand-picked set, and
// that dates are days in the office's zone.
func TestCaseListFilters(t *testing.T) {
	f := newFindEnv(t)
	// 2026-03-01 15:00 UTC is 23:00 in Shanghai; +2 h is the next day there.
	a := f.open("appA", "hotel", "Harbour Hotel", "1 Harbour Rd", 2*time.Hour)
	b := f.open("appA", "internet-cafe", "Net Bar", "2 Main St", 24*time.Hour)
	c := f.open("appB", "hotel", "Other Hotel", "3 Side St", time.Hour)
	d := f.open("appB", "seal-engraving", "Seal Shop", "4 Side St", time.Hour)
	insp, rev := f.users["insp"].ID, f.users["rev"].ID
	f.set(a.ID, `status = 'submitted', due_at = created_at`)
	f.set(b.ID, `status = 'in_review', due_at = created_at, inspector_id = ?`, insp)
	f.set(c.ID, `status = 'in_review', due_at = created_at, inspector_id = ?, reviewer_id = ?`, f.users["insp2"].ID, rev)
	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"status=draft", []string{d.ID}},
		{"status=submitted&status=draft", []string{a.ID, d.ID}},
		{"status=submitted,in_review", []string{a.ID, b.ID, c.ID}},
		{"permit_type=hotel", []string{a.ID, c.ID}},
		{"officer=" + insp, []string{b.ID}},
		{"officer=" + rev, []string{c.ID}},
		{"officer=" + rev + "&permit_type=seal-engraving", nil},
		{"from=2026-03-02", []string{c.ID, d.ID}},
		{"to=2026-03-01", []string{a.ID, b.ID}},
		{"from=2026-03-02&to=2026-03-02", []string{c.ID, d.ID}},
		{"from=2026-03-03", nil},
	} {
		sameSet(t, "as admin, UTC office, "+tc.query, f.ids("admin", "/api/v1/cases?"+tc.query), tc.want...)
	}
	// The same days in an office in Asia/Shanghai: case a, opened at
	// 23:00 there, belongs to 1 March; b, opened at 01:00 on the 2nd
	// there, to 2 March.
	sh, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Config{DB: f.db, Objects: f.objects, Uploads: f.ups, Office: "binhai", NumberPrefix: "BH", Location: sh})
	if err != nil {
		t.Fatal(err)
	}
	f.srv = srv
	sameSet(t, "Shanghai office, to=2026-03-01", f.ids("admin", "/api/v1/cases?to=2026-03-01"), a.ID)
	sameSet(t, "Shanghai office, from=to=2026-03-02", f.ids("admin", "/api/v1/cases?from=2026-03-02&to=2026-03-02"), b.ID)

	for _, q := range []string{"status=nope", "from=yesterday", "to=2026-13-01", "sort=oldest", "limit=0"} {
		if w := f.req("admin", "GET", "/api/v1/cases?"+q, nil, nil); w.Code != http.StatusBadRequest {
			t.Errorf("?%s: got %d, want 400", q, w.Code)
		}
	}
}

// TestCaseSearch searches by number, company, site name and address, and
// never shows an applicant another company's case.
func TestCaseSearch(t *testing.T) {
	f := newFindEnv(t)
	harbour := f.open("appA", "hotel", "滨海新区海港宾馆", "天津市滨海新区港湾路1号", time.Hour)
	cafe := f.open("appA", "internet-cafe", "Star Net Bar", "88 Jiefang Rd", time.Hour)
	other := f.open("appB", "hotel", "Harbour Hotel 100%", "5 Port Rd", time.Hour)
	for _, tc := range []struct {
		user, q string
		want    []string
	}{
		{"admin", harbour.Number, []string{harbour.ID}},                         // a whole number
		{"admin", strings.ToLower(cafe.Number), []string{cafe.ID}},              // any case
		{"admin", "BH-2026-", []string{harbour.ID, cafe.ID, other.ID}},          // a prefix
		{"admin", "acme", []string{harbour.ID, cafe.ID}},                        // the company
		{"admin", "other co", []string{other.ID}},                               // across a space
		{"admin", "海港宾馆", []string{harbour.ID}},                                 // the site name
		{"admin", "港湾路", []string{harbour.ID}},                                  // the address
		{"admin", "jiefang", []string{cafe.ID}},                                 // the address, case-insensitive
		{"admin", "滨海", []string{harbour.ID}},                                   // two characters: no trigram
		{"admin", "100%", []string{other.ID}},                                   // % is a character, not a wildcard
		{"admin", "1_0", nil},                                                   // and so is _
		{"admin", `"quoted"`, nil},                                              // quotes do not break the query
		{"admin", "nothing like it", nil},                                       //
		{"appB", "Acme", nil},                                                   // another company's name
		{"appB", "BH-2026-", []string{other.ID}},                                // only its own numbers
		{"appB", "Harbour", []string{other.ID}},                                 //
		{"appA", "Harbour", nil},                                                // appB's site
		{"admin", "harbour&status=draft&permit_type=hotel", []string{other.ID}}, // with filters
	} {
		path := "/api/v1/cases?q=" + url.QueryEscape(tc.q)
		if i := strings.Index(tc.q, "&"); i > 0 {
			path = "/api/v1/cases?q=" + url.QueryEscape(tc.q[:i]) + tc.q[i:]
		}
		sameSet(t, tc.user+" q="+tc.q, f.ids(tc.user, path), tc.want...)
	}
	// A search pages like the whole list.
	for i := 0; i < 9; i++ {
		f.open("appA", "hotel", fmt.Sprintf("Paged Site %d", i), "Road", time.Minute)
	}
	got := f.walk("admin", "/api/v1/cases?q=paged+site&limit=2", nil)
	if len(got) != 9 {
		t.Errorf("search in pages of 2: got %d cases, want 9", len(got))
	}
	sameSet(t, "search in pages", got, idsOf(f.cases[3:])...)
}

func idsOf(cs []*domain.Case) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.ID
	}
	return out
}

// TestCaseListBadCursor: a cursor that is not the server's, or was given
// for another order, is 400 bad_cursor.
func TestCaseListBadCursor(t *testing.T) {
	f := newFindEnv(t)
	for i := 0; i < 3; i++ {
		f.open("appA", "hotel", "Site", "Road", time.Second)
	}
	w := f.req("admin", "GET", "/api/v1/cases?limit=1&sort=due", nil, nil)
	m := linkNext.FindStringSubmatch(w.Header().Get("Link"))
	if m == nil {
		t.Fatalf("first page: Link %q, want a next link", w.Header().Get("Link"))
	}
	u, err := url.Parse(m[1])
	if err != nil {
		t.Fatal(err)
	}
	dueCursor := u.Query().Get("cursor")
	for _, tc := range []struct{ name, query string }{
		{"not base64", "cursor=%21%21%21"},
		{"not JSON", "cursor=bm90IGpzb24"},
		{"no keys", "cursor=e30"},
		{"another order's", "sort=newest&cursor=" + dueCursor},
	} {
		w := f.req("admin", "GET", "/api/v1/cases?"+tc.query, nil, nil)
		var body struct {
			Error struct{ Code string } `json:"error"`
		}
		_ = json.Unmarshal(w.Body.Bytes(), &body)
		if w.Code != http.StatusBadRequest || body.Error.Code != "bad_cursor" {
			t.Errorf("%s cursor: got %d %q, want 400 bad_cursor", tc.name, w.Code, body.Error.Code)
		}
	}
	if w := f.req("admin", "GET", "/api/v1/cases?sort=due&cursor="+dueCursor, nil, nil); w.Code != http.StatusOK {
		t.Errorf("the server's own cursor: got %d %s, want 200", w.Code, w.Body)
	}
}
