// Package cases_test measures the case list (GET /api/v1/cases: keyset
// pages, search, storage/case_find.go) over 1,000,000 cases on SQLite and
// PostgreSQL. The cases are seeded straight into the database by one
// INSERT … SELECT over a generated series (not through HTTP), then each
// query is asked ~200 times through the real HTTP handler in process, and
// its p50 and p99 printed against the 50 ms target. Finally it follows
// rel="next" from the first page to the last and checks every case came
// exactly once.
//
//	go test ./bench/cases -run '^$' -bench Cases -benchtime 1x -timeout 60m
//	scripts/with-postgres.sh go test ./bench/cases -run '^$' -bench Cases/postgres -benchtime 1x -timeout 60m
//
// SITEINSPECT_BENCH_CASES changes the number of cases (default 1000000).
package cases_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"siteinspect/domain"
	"siteinspect/internal/testenv"
	"siteinspect/server"
	"siteinspect/storage"
	"siteinspect/storage/objects"
)

const target = 50 * time.Millisecond

// Word lists of the seeded companies and sites: 10 × 20 × 10 = 2,000
// company names, each with one applicant and 500 cases.
var (
	cities = []string{"天津", "滨海", "塘沽", "汉沽", "大港", "武清", "宝坻", "静海", "宁河", "蓟州"}
	words1 = []string{"宏达", "华信", "恒通", "瑞丰", "鑫源", "海河", "金桥", "联创", "中兴", "安泰",
		"富海", "永盛", "广源", "港湾", "新城", "和平", "东方", "北辰", "南开", "西青"}
	words2 = []string{"建设", "物流", "酒店", "印章", "网络", "化工", "运输", "餐饮", "商贸", "科技"}
	roads  = []string{"港湾路", "海河东路", "黄海路", "渤海路", "新港路", "泰达街", "第一大街", "南京路", "解放路", "津塘路"}
)

const companies = 2000

func companyName(k int) string {
	return cities[k%10] + words1[k/10%20] + words2[k/200%10] + "有限公司"
}

func BenchmarkCases(b *testing.B) {
	n := 1000000
	if v := os.Getenv("SITEINSPECT_BENCH_CASES"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			b.Fatalf("SITEINSPECT_BENCH_CASES: %v", err)
		}
	}
	b.Run("sqlite", func(b *testing.B) {
		dsn := filepath.Join(b.TempDir(), "cases.db")
		benchCases(b, testenv.OpenDBAt(b, dsn), n)
	})
	b.Run("postgres", func(b *testing.B) {
		// PostgresURL fails, naming scripts/with-postgres.sh, without a server.
		benchCases(b, testenv.OpenDBAt(b, testenv.PostgresURL(b)), n)
	})
}

func benchCases(b *testing.B, db *storage.DB, n int) {
	ctx := context.Background()
	if err := db.SeedPermitTypes(ctx); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	admin, inspector := seed(b, db, n)
	b.Logf("%s: seeded %d cases in %s", db.Dialect(), n, time.Since(start).Round(time.Second))

	disk, err := objects.NewDisk(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	ups, err := storage.NewUploads(db, disk, domain.UploadConfig{SpoolDir: b.TempDir(), PartSize: objects.MinPartSize})
	if err != nil {
		b.Fatal(err)
	}
	srv, err := server.New(server.Config{DB: db, Objects: disk, Uploads: ups, Office: "binhai", NumberPrefix: "BH", Location: time.UTC})
	if err != nil {
		b.Fatal(err)
	}
	tokens := map[string]string{}
	for name, u := range map[string]*domain.User{"admin": admin, "inspector": inspector} {
		tok, _, err := db.CreateSession(ctx, u.ID, time.Hour)
		if err != nil {
			b.Fatal(err)
		}
		tokens[name] = tok
	}
	get := func(user, path string) (*httptest.ResponseRecorder, time.Duration) {
		r := httptest.NewRequest("GET", path, nil)
		r.Header.Set("Authorization", "Bearer "+tokens[user])
		w := httptest.NewRecorder()
		t0 := time.Now()
		srv.ServeHTTP(w, r)
		d := time.Since(t0)
		if w.Code != http.StatusOK {
			b.Fatalf("GET %s: got %d %s, want 200", path, w.Code, w.Body)
		}
		return w, d
	}

	// A cursor 5,000 pages of 50 deep: the key of the 250,000th case in
	// the queue's order, read once with OFFSET, encoded as the server
	// would.
	deep := min(250000, n-100)
	var cur storage.CaseCursor
	cur.Sort, cur.Keys = storage.SortDue, make([]int64, 2)
	err = db.SQL().QueryRowContext(ctx, `SELECT COALESCE(c.urgent_until - 4611686018427387904, c.due_at, 9223372036854775807), (-c.created_at), c.id FROM cases c
		ORDER BY COALESCE(c.urgent_until - 4611686018427387904, c.due_at, 9223372036854775807), (-c.created_at), c.id LIMIT 1 OFFSET `+strconv.Itoa(deep-1)).Scan(&cur.Keys[0], &cur.Keys[1], &cur.ID)
	if err != nil {
		b.Fatal(err)
	}
	g := n*3/10 + 7
	number := fmt.Sprintf("BH-%d-%06d", 2021+g/200000, g%200000+1)
	company := companyName(1234)
	queries := []struct{ key, name, user, path string }{
		{"first", "first page (admin, queue order)", "admin", "/api/v1/cases?limit=50"},
		{"inspector", "first page (inspector, submitted)", "inspector", "/api/v1/cases?limit=50&status=submitted"},
		{"number", "search by case number", "admin", "/api/v1/cases?limit=50&q=" + number},
		{"company", "search by company name", "admin", "/api/v1/cases?limit=50&q=" + company},
		{"deep", "page 5,000 deep (cursor)", "admin", "/api/v1/cases?limit=50&cursor=" + cur.String()},
	}
	const rounds = 200
	fmt.Printf("\n%s, %d cases, %d requests each (target p99 < %s)\n", db.Dialect(), n, rounds, target)
	for _, q := range queries {
		w, _ := get(q.user, q.path) // warm
		var list []json.RawMessage
		if err := json.Unmarshal(w.Body.Bytes(), &list); err != nil {
			b.Fatal(err)
		}
		if len(list) == 0 {
			b.Fatalf("%s: an empty page", q.name)
		}
		times := make([]time.Duration, rounds)
		for i := range times {
			_, times[i] = get(q.user, q.path)
		}
		slices.Sort(times)
		p50, p99 := times[rounds/2], times[rounds*99/100]
		verdict := "ok"
		if p99 >= target {
			verdict = "OVER"
		}
		fmt.Printf("  %-36s %4d rows  p50 %7.2f ms  p99 %7.2f ms  %s\n", q.name, len(list), ms(p50), ms(p99), verdict)
		b.ReportMetric(ms(p99), q.key+"_p99_ms")
	}

	statsYear(b, db, get)

	// Every case reached once by following rel="next", in pages of 5,000.
	link := regexp.MustCompile(`^<([^>]+)>; rel="next"$`)
	seen := make(map[string]struct{}, n)
	path, pages := "/api/v1/cases?limit=5000", 0
	t0 := time.Now()
	for path != "" {
		w, _ := get("admin", path)
		var list []struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &list); err != nil {
			b.Fatal(err)
		}
		for _, c := range list {
			if _, dup := seen[c.ID]; dup {
				b.Fatalf("case %s served twice", c.ID)
			}
			seen[c.ID] = struct{}{}
		}
		pages++
		path = ""
		if m := link.FindStringSubmatch(w.Header().Get("Link")); m != nil {
			path = m[1]
		}
	}
	if len(seen) != n {
		b.Fatalf("following rel=next reached %d cases, want %d", len(seen), n)
	}
	fmt.Printf("  rel=next walk: all %d cases once, %d pages of 5000, %s\n", n, pages, time.Since(t0).Round(time.Millisecond))
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// seed makes the users (an admin, an inspector and a reviewer pool of the
// office, one applicant per company) through the API, then n cases in one
// INSERT … SELECT over a generated series, and ANALYZEs.
func seed(b testing.TB, db *storage.DB, n int) (admin, inspector *domain.User) {
	ctx := context.Background()
	db.SetPasswordCost(4)
	mk := func(name string, role domain.Role, org string) *domain.User {
		u, err := db.CreateUser(ctx, name, "password-"+name, role, "", org)
		if err != nil {
			b.Fatal(err)
		}
		return u
	}
	admin = mk("admin", domain.RoleAdmin, "")
	inspector = mk("insp00", domain.RoleInspector, "binhai")
	// The rest never log in: one multi-row INSERT, no password hashing.
	sqlDB := db.SQL()
	var users []any
	var marks []string
	add := func(prefix string, count int, role domain.Role, org func(int) string) []string {
		ids := make([]string, count)
		for i := range ids {
			ids[i] = domain.NewID()
			marks = append(marks, "(?, ?, '-', ?, '', ?, 0)")
			users = append(users, ids[i], fmt.Sprintf("%s%04d", prefix, i), string(role), org(i))
		}
		return ids
	}
	office := func(int) string { return "binhai" }
	inspectors := append([]string{inspector.ID}, add("insp", 49, domain.RoleInspector, office)...)
	reviewers := add("rev", 20, domain.RoleReviewer, office)
	applicants := add("app", companies, domain.RoleApplicant, companyName)
	if _, err := sqlDB.ExecContext(ctx, `INSERT INTO users (id, username, password_hash, role, display_name, org, created_at) VALUES `+strings.Join(marks, ", "), users...); err != nil {
		b.Fatalf("insert users: %v", err)
	}
	exec := func(q string, args ...any) {
		if _, err := sqlDB.ExecContext(ctx, q, args...); err != nil {
			b.Fatalf("%.80s…: %v", q, err)
		}
	}
	// Look-up tables the generator joins: k → applicant, inspector,
	// reviewer, word, permit type.
	exec(`CREATE TABLE bench_pick (kind TEXT NOT NULL, k INTEGER NOT NULL, v TEXT NOT NULL, org TEXT NOT NULL DEFAULT '', PRIMARY KEY (kind, k))`)
	insertPicks := func(kind string, vs []string, orgs func(int) string) {
		var sb strings.Builder
		var args []any
		for i, v := range vs {
			if i > 0 {
				sb.WriteString(", ")
			}
			sb.WriteString("(?, ?, ?, ?)")
			org := ""
			if orgs != nil {
				org = orgs(i)
			}
			args = append(args, kind, i, v, org)
		}
		exec(`INSERT INTO bench_pick (kind, k, v, org) VALUES `+sb.String(), args...)
	}
	insertPicks("app", applicants, companyName)
	insertPicks("insp", inspectors, nil)
	insertPicks("rev", reviewers, nil)
	insertPicks("road", roads, nil)
	insertPicks("permit", []string{"hotel", "internet-cafe", "seal-engraving", "fireworks-transport", "blasting-operator"}, nil)

	// Case g of n: opened every 150 s from 2021-06-01 UTC, numbered per
	// year of 200,000 (BH-2021-000001 …), company g mod 2000; one in ten
	// submitted (no officer yet), one in ten in review, one in twenty a
	// draft, the rest decided. Due 20 days after opening, drafts never.
	const base = int64(1622505600000) // 2021-06-01T00:00:00Z
	seq, pad, num := `WITH RECURSIVE g(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM g WHERE n < ?)`, `printf('%06d', g.n % 200000 + 1)`, `CAST(g.n AS TEXT)`
	if db.Dialect() == "postgres" {
		seq, pad, num = `WITH g(n) AS (SELECT generate_series(0, ?::bigint))`, `lpad((g.n % 200000 + 1)::text, 6, '0')`, `g.n::text`
	}
	// The secondary indexes of cases and audit_events are dropped for the load and made
	// again from their own definitions after it (a GIN index builds much
	// faster at once than row by row).
	defs := map[string]string{}
	listIdx := `SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name IN ('cases', 'audit_events') AND sql IS NOT NULL AND sql NOT LIKE '%UNIQUE%'`
	if db.Dialect() == "postgres" {
		listIdx = `SELECT indexname, indexdef FROM pg_indexes WHERE tablename IN ('cases', 'audit_events') AND indexdef NOT LIKE '%UNIQUE%'`
	}
	rows, err := sqlDB.QueryContext(ctx, listIdx)
	if err != nil {
		b.Fatal(err)
	}
	for rows.Next() {
		var name, def string
		if err := rows.Scan(&name, &def); err != nil {
			b.Fatal(err)
		}
		defs[name] = def
	}
	if err := rows.Close(); err != nil {
		b.Fatal(err)
	}
	for name := range defs {
		exec(`DROP INDEX ` + name)
	}
	status := `CASE WHEN g.n % 10 = 0 THEN 'submitted' WHEN g.n % 10 = 1 THEN 'in_review' WHEN g.n % 20 = 2 THEN 'draft' WHEN g.n % 10 = 3 THEN 'rejected' ELSE 'approved' END`
	exec(seq+`
		INSERT INTO cases (id, number, office, permit_type, status, applicant_id, applicant_org, inspector_id, reviewer_id,
			site_name, site_address, description, created_at, updated_at, submitted_at, due_at)
		SELECT 'bench-' || `+num+`, 'BH-' || (2021 + g.n / 200000) || '-' || `+pad+`, 'binhai', p.v, `+status+`, a.v, a.org,
			CASE WHEN g.n % 10 IN (0) OR g.n % 20 = 2 THEN NULL ELSE i.v END,
			CASE WHEN g.n % 10 IN (0, 1) OR g.n % 20 = 2 THEN NULL ELSE r.v END,
			a.org || '第' || (g.n / 2000 % 500 + 1) || '号场所', '天津市滨海新区' || rd.v || (g.n % 997 + 1) || '号', '',
			? + g.n * 150000, ? + g.n * 150000,
			CASE WHEN g.n % 20 = 2 THEN NULL ELSE ? + g.n * 150000 + 3600000 END,
			CASE WHEN g.n % 20 = 2 THEN NULL ELSE ? + g.n * 150000 + 20 * 86400000 END
		FROM g
		JOIN bench_pick a ON a.kind = 'app' AND a.k = g.n % 2000
		JOIN bench_pick i ON i.kind = 'insp' AND i.k = g.n % 50
		JOIN bench_pick r ON r.kind = 'rev' AND r.k = g.n % 20
		JOIN bench_pick rd ON rd.kind = 'road' AND rd.k = g.n % 10
		JOIN bench_pick p ON p.kind = 'permit' AND p.k = g.n % 5`, n-1, base, base, base, base)
	seedEvents(exec, seq, num, base, n)
	for _, def := range defs {
		exec(def)
	}
	exec(`DROP TABLE bench_pick`)
	exec(`ANALYZE`)
	return admin, inspector
}

// seedEvents writes the audit events the supervision figures count, one
// INSERT … SELECT over the same series per kind of event (seq 8n+k for
// case n): each case but the drafts submitted an hour after opening, taken
// 10 minutes later unless still submitted, the decided ones decided 30 to
// 329 minutes after submission and countersigned 20 to 219 minutes after
// that by the case's reviewer; one in three decided rated (level 1 + n mod
// 5) a day later; one in fifty marked urgent (24 h) a minute after
// submission. The chain's hashes are left empty: the figures do not read
// them.
func seedEvents(exec func(string, ...any), seq, num string, base int64, n int) {
	const (
		sub      = `(? + g.n * 150000 + 3600000)`
		decision = `(? + g.n * 150000 + 3600000 + (30 + g.n % 300) * 60000)`
		answer   = `(? + g.n * 150000 + 3600000 + (30 + g.n % 300) * 60000 + (20 + g.n % 200) * 60000)`
		notDraft = `g.n % 20 <> 2`
		taken    = `g.n % 10 <> 0 AND g.n % 20 <> 2`
		decided  = `g.n % 10 NOT IN (0, 1) AND g.n % 20 <> 2`
	)
	insert := func(k int, actor, action, data, at, where string) {
		exec(seq+`
			INSERT INTO audit_events (seq, case_id, actor_id, action, target, data, at, prev_hash, hash)
			SELECT g.n * 8 + `+fmt.Sprint(k)+`, 'bench-' || `+num+`, `+actor+`, '`+action+`', '', `+data+`, `+at+`, '', ''
			FROM g
			JOIN bench_pick a ON a.kind = 'app' AND a.k = g.n % 2000
			JOIN bench_pick i ON i.kind = 'insp' AND i.k = g.n % 50
			JOIN bench_pick r ON r.kind = 'rev' AND r.k = g.n % 20
			WHERE `+where, n-1, base)
	}
	final := `CASE WHEN g.n % 10 = 3 THEN 'rejected' ELSE 'approved' END`
	insert(1, "a.v", "case.status", `'{"from":"draft","to":"submitted"}'`, sub, notDraft)
	insert(2, "a.v", "case.urgent_set", `'{"reason":"flood","target_hours":24}'`, sub+` + 60000`, notDraft+` AND g.n % 50 = 5`)
	insert(3, "i.v", "case.status", `'{"from":"submitted","to":"in_review"}'`, sub+` + 600000`, taken)
	insert(4, "i.v", "case.status", `'{"decision_id":"d' || `+num+` || '","from":"in_review","to":"pending_countersign"}'`, decision, decided)
	insert(5, "r.v", "case.status", `'{"agree":true,"decision_id":"d' || `+num+` || '","from":"pending_countersign","to":"' || `+final+` || '"}'`, answer, decided)
	insert(6, "a.v", "case.rated", `'{"inspector_id":"' || i.v || '","level":' || (1 + g.n % 5) || ',"reviewer_id":"' || r.v || '"}'`,
		answer+` + 86400000`, decided+` AND g.n % 3 = 0`)
}

// statsYear asks for the supervision figures of 2023 (about 210,000 cases
// received): once cold, counting the year from the audit chain and keeping
// its days' tallies, then 20 times from the kept tallies; it prints the
// cold time and the warm p50 and p99 against the 1 s target.
func statsYear(b *testing.B, db *storage.DB, get func(user, path string) (*httptest.ResponseRecorder, time.Duration)) {
	const path, rounds, yearTarget = "/api/v1/stats?from=2023-01-01&to=2023-12-31", 20, time.Second
	w, cold := get("admin", path)
	var st domain.Stats
	if err := json.Unmarshal(w.Body.Bytes(), &st); err != nil {
		b.Fatal(err)
	}
	// 2023's submissions are those of the cases n = 333,480 … 543,719
	// (opened every 150 s from 2021-06-01, submitted an hour later), a
	// twentieth of them drafts: a count far off means a broken seed.
	if st.Totals.Received < 190000 || st.Totals.Decided < 150000 || st.Totals.Rated < 50000 {
		b.Fatalf("stats 2023: got received %d, decided %d, rated %d; want about 199,700, 157,700, 52,500",
			st.Totals.Received, st.Totals.Decided, st.Totals.Rated)
	}
	times := make([]time.Duration, rounds)
	var ru0, ru1 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	for i := range times {
		_, times[i] = get("admin", path)
	}
	// The process's CPU time, which a loaded machine's wall time hides; on
	// SQLite it includes the database's work (in process), on PostgreSQL
	// only the client's.
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	cpu := time.Duration(ru1.Utime.Nano()+ru1.Stime.Nano()-ru0.Utime.Nano()-ru0.Stime.Nano()) / rounds
	slices.Sort(times)
	p50, p99 := times[rounds/2], times[rounds-1]
	verdict := "ok"
	if p99 >= yearTarget {
		verdict = "OVER"
	}
	fmt.Printf("  %-36s cold %7.0f ms (counted from the chain, %d received, %d decided)\n", "stats for 2023", ms(cold), st.Totals.Received, st.Totals.Decided)
	fmt.Printf("  %-36s %4d runs  p50 %7.2f ms  max %7.2f ms  %s (target < %s); process CPU %.0f ms a run\n",
		"stats for 2023 (kept days)", rounds, ms(p50), ms(p99), verdict, yearTarget, ms(cpu))
	b.ReportMetric(ms(cold), "stats_year_cold_ms")
	b.ReportMetric(ms(p99), "stats_year_max_ms")
	b.ReportMetric(ms(cpu), "stats_year_cpu_ms")
}
