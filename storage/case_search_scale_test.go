package storage

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"siteinspect/domain"
)

// TestCaseSearchRareTrigrams seeds 30,000 cases (enough that PostgreSQL
// samples the table to pick a search's rarest trigrams, and SQLite's window
// holds many companies), whose company names share 有限公司 and whose
// site names repeat the company's, and checks that every search finds
// exactly the cases a plain substring test over the same rows finds, on
// whichever database the run selects: SQLite's FTS5 trigrams and
// PostgreSQL's GIN index, each asked for only the rarest trigrams, give
// the same answer as each other because each gives the plain one.
func TestCaseSearchRareTrigrams(t *testing.T) {
	const n = 30000
	ctx := context.Background()
	d, err := openTestDB(t)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	if err := d.SeedPermitTypes(ctx); err != nil {
		t.Fatal(err)
	}
	app, err := d.CreateUser(ctx, "app", "password-app", domain.RoleApplicant, "", "Acme")
	if err != nil {
		t.Fatal(err)
	}
	cities := []string{"天津", "滨海", "塘沽", "汉沽", "大港"}
	words1 := []string{"宏达", "华信", "恒通", "瑞丰", "鑫源", "海河"}
	words2 := []string{"建设", "物流", "运输", "商贸"}
	roads := []string{"Harbour Rd", "港湾路", "黄海路", "50%_Lane"}
	company := func(k int) string {
		return cities[k%5] + words1[k/5%6] + words2[k/30%4] + "有限公司"
	}
	// The rows, as the database will hold them, for the plain test.
	type row struct{ id, body string }
	rows := make([]row, 0, n)
	var vals []string
	var args []any
	flush := func() {
		if len(vals) == 0 {
			return
		}
		if _, err := d.exec(ctx, `INSERT INTO cases (id, number, office, permit_type, status, applicant_id, applicant_org,
			site_name, site_address, description, created_at, updated_at) VALUES `+strings.Join(vals, ", "), args...); err != nil {
			t.Fatal(err)
		}
		vals, args = vals[:0], args[:0]
	}
	for g := 0; g < n; g++ {
		org := company(g % 120)
		id, number := fmt.Sprintf("c%05d", g), fmt.Sprintf("BH-2026-%06d", g+1)
		site, addr := fmt.Sprintf("%s第%d号场所", org, g/120%50+1), fmt.Sprintf("%s%d号", roads[g%4], g%97+1)
		rows = append(rows, row{id, number + " " + org + " " + site + " " + addr})
		vals = append(vals, `(?, ?, 'binhai', 'hotel', 'submitted', ?, ?, ?, ?, '', ?, ?)`)
		args = append(args, id, number, app.ID, org, site, addr, int64(1700000000000+g*1000), int64(1700000000000+g*1000))
		if len(vals) == 500 { // under PostgreSQL's 65,535 parameters, and SQLite's 32,766
			flush()
		}
	}
	flush()
	if _, err := d.exec(ctx, `ANALYZE`); err != nil {
		t.Fatal(err)
	}
	admin := &domain.User{ID: "admin", Role: domain.RoleAdmin}
	for _, text := range []string{
		company(17),  // a whole company name: every trigram of 有限公司 is in every row
		company(113), // another, of the last companies opened
		"瑞丰运输",       // a part of names
		"大港瑞丰",
		"harbour rd7号", // Latin letters in another case, and a house number
		"港湾路12号",
		"50%_lane",      // LIKE's wildcards, literal
		"第7号场所",         // in site names only
		"大港",            // shorter than a trigram
		"有限公司",          // in every row: the whole phrase
		"不存在的公司名称",      // in none
		"BH-2026-00012", // the start of case numbers
	} {
		want := []string{}
		for _, r := range rows {
			if strings.Contains(strings.ToLower(r.body), strings.ToLower(text)) {
				want = append(want, r.id)
			}
		}
		got := []string{}
		q := CaseQuery{Text: text, Sort: SortNewest, Limit: 5000}
		for {
			page, next, err := d.FindCases(ctx, admin, q)
			if err != nil {
				t.Fatalf("search %q: %v", text, err)
			}
			for _, c := range page {
				got = append(got, c.ID)
			}
			if next == nil {
				break
			}
			q.After = next
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("%s: search %q: got %d cases, want %d (first got %v, first want %v)", d.Dialect(), text, len(got), len(want), got[:min(3, len(got))], want[:min(3, len(want))])
		}
	}
}
