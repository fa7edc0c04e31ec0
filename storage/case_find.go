package storage

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"siteinspect/domain"
)

// A case list is read page by page with a keyset cursor (the sort key and
// id of the last row shown), never with OFFSET: a page deep in a million
// cases costs what the first page costs, and a case inserted meanwhile
// neither repeats a row nor hides one already due.
//
// Each order is a tuple of integer expressions ending with c.id, all
// ascending, so that "after the cursor" is one row-value comparison that
// both databases answer from the expression indexes of the migration
// (storage/migrations/*/0013_case_search.sql, the queue's redone in
// 0019_ratings_urgent.sql) — the same text here and
// there, or the planner will not match it.

// CaseSort names an order of the case list.
type CaseSort string

// The orders of the case list.
const (
	// SortDue is the queue's order: urgent cases first (soonest target
	// first), then soonest due, cases without a due time (drafts) last,
	// then newest first. The urgent cases' targets are shifted down by
	// 2^62 into one key with the due times, rather than a key of their
	// own: SQLite seeks a cursor on its first key only, and a first key
	// that is the same for nearly every case would make a deep page read
	// every row before it (measured at 1M cases: 525 ms against 1 ms).
	SortDue CaseSort = "due"
	// SortNewest is newest first, by the time the case was opened.
	SortNewest CaseSort = "newest"
)

// sortKeys is each order's key expressions, before the final c.id.
var sortKeys = map[CaseSort][]string{
	SortDue:    {`COALESCE(c.urgent_until - 4611686018427387904, c.due_at, 9223372036854775807)`, `(-c.created_at)`},
	SortNewest: {`(-c.created_at)`},
}

// Valid reports whether s is a known order.
func (s CaseSort) Valid() bool { _, ok := sortKeys[s]; return ok }

// CaseCursor is where a page of the case list ends: the sort key and id of
// its last case. Its text form (String) is opaque to clients.
type CaseCursor struct {
	Sort CaseSort `json:"s"`
	Keys []int64  `json:"k"`
	ID   string   `json:"i"`
}

// String encodes the cursor for a URL (unpadded base64url of its JSON).
func (c *CaseCursor) String() string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

// ParseCaseCursor decodes a cursor made by String for the order sort. A
// cursor that does not decode, or was made for another order, is ErrInvalid
// with the code "bad_cursor".
func ParseCaseCursor(s string, sort CaseSort) (*CaseCursor, error) {
	bad := domain.Coded(domain.ErrInvalid, "bad_cursor", "the cursor is not one this server gave for this order; start from the first page")
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, bad
	}
	var c CaseCursor
	if err := json.Unmarshal(b, &c); err != nil || c.Sort != sort || len(c.Keys) != len(sortKeys[sort]) || c.ID == "" {
		return nil, bad
	}
	return &c, nil
}

// CaseQuery selects a page of the case list. Zero fields select everything.
type CaseQuery struct {
	// Statuses keeps cases in any of these states.
	Statuses []domain.Status
	// PermitType keeps cases of this permit type code.
	PermitType string
	// Officer keeps cases whose inspector or reviewer is this user id.
	Officer string
	// Unit keeps cases routed to this unit id (分中心).
	Unit string
	// From and To keep cases opened at or after From and before To.
	From, To time.Time
	// Text keeps cases whose number, company, site name or site address
	// contains it (case-insensitively for Latin letters).
	Text string
	// Sort is the order; empty is SortDue.
	Sort CaseSort
	// After continues the list after this cursor.
	After *CaseCursor
	// Limit is the page size (at least 1).
	Limit int
}

// searchMin is the shortest text the trigram indexes can look up; shorter
// text is matched by scanning.
const searchMin = 3

// searchBody is the text the search looks in, the indexed expression of
// PostgreSQL's trigram index (the same text as in its migration).
const searchBody = `(c.number || ' ' || c.applicant_org || ' ' || c.site_name || ' ' || c.site_address)`

// numberLike matches the start of a case number, PREFIX-YEAR-NNNNNN, from
// PREFIX- on (letters and digits only, so no LIKE wildcard).
var numberLike = regexp.MustCompile(`^[A-Za-z]+-[0-9]{1,4}(-[0-9]*)?$|^[A-Za-z]+-$`)

// likeEscaper escapes LIKE's wildcards with a backslash.
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// FindCases returns a page of the cases u may see (visibilitySQL: the
// policy's rule, so the list and VisibleTo cannot disagree) that match q,
// in q's order, and the cursor of the next page, nil on the last page.
func (d *DB) FindCases(ctx context.Context, u *domain.User, q CaseQuery) ([]*domain.Case, *CaseCursor, error) {
	if q.Sort == "" {
		q.Sort = SortDue
	}
	keys, ok := sortKeys[q.Sort]
	if !ok {
		return nil, nil, domain.Coded(domain.ErrInvalid, "bad_sort", fmt.Sprintf("unknown order %q", q.Sort))
	}
	if q.Limit < 1 {
		q.Limit = 1
	}
	cond, args := visibilitySQL(u)
	where := []string{cond}
	if len(q.Statuses) > 0 {
		marks := make([]string, len(q.Statuses))
		for i, s := range q.Statuses {
			marks[i] = "?"
			args = append(args, string(s))
		}
		where = append(where, `c.status IN (`+strings.Join(marks, ", ")+`)`)
	}
	if q.PermitType != "" {
		where = append(where, `c.permit_type = ?`)
		args = append(args, q.PermitType)
	}
	if q.Officer != "" {
		where = append(where, `(c.inspector_id = ? OR c.reviewer_id = ?)`)
		args = append(args, q.Officer, q.Officer)
	}
	if q.Unit != "" {
		where = append(where, `c.unit_id = ?`)
		args = append(args, q.Unit)
	}
	if !q.From.IsZero() {
		where = append(where, `c.created_at >= ?`)
		args = append(args, ms(q.From))
	}
	if !q.To.IsZero() {
		where = append(where, `c.created_at < ?`)
		args = append(args, ms(q.To))
	}
	text := strings.TrimSpace(q.Text)
	searching := text != "" && !numberLike.MatchString(text)
	if text != "" {
		c, a, err := d.searchSQL(ctx, text)
		if err != nil {
			return nil, nil, err
		}
		where = append(where, c)
		args = append(args, a...)
	}
	if q.After != nil {
		c, a := d.afterSQL(keys, q.After)
		where = append(where, c)
		args = append(args, a...)
	}
	// The key expressions are selected too, to make the next cursor from
	// the last row exactly as the database computed them.
	sel := `SELECT ` + strings.Join(keys, ", ") + `, ` + strings.TrimPrefix(caseSelect, `SELECT `)
	order := strings.Join(keys, ", ") + `, c.id`
	if searching {
		// A search finds its few rows through its own index; sorting them
		// is cheap. Walking the order's index instead, testing each row,
		// is what both planners pick when they misjudge how few rows
		// match (measured at 1M cases: 20-30 ms, 70-280 ms at p99), so
		// the order is spelled so that no index can serve it.
		order = strings.Join(keys, " + 0, ") + ` + 0, c.id || ''`
	}
	stmt := sel + ` WHERE ` + strings.Join(where, ` AND `) + ` ORDER BY ` + order + ` LIMIT ?`
	// One row more than the page tells whether another page follows.
	args = append(args, q.Limit+1)
	rows, err := d.query(ctx, stmt, args...)
	if err != nil {
		return nil, nil, fmt.Errorf("find cases: %w", err)
	}
	defer rows.Close()
	out := []*domain.Case{}
	var last []int64
	for rows.Next() {
		k := make([]int64, len(keys))
		c, err := scanCase(keyScanner{rows, k})
		if err != nil {
			return nil, nil, fmt.Errorf("find cases: %w", err)
		}
		if len(out) == q.Limit {
			// The extra row: there is a next page, after the last shown.
			return out, &CaseCursor{Sort: q.Sort, Keys: last, ID: out[len(out)-1].ID}, rows.Err()
		}
		out, last = append(out, c), k
	}
	return out, nil, rows.Err()
}

// afterSQL is the condition "after the cursor" in the order keys, c.id.
// PostgreSQL seeks a row-value comparison in the index. SQLite does not
// seek one over indexed expressions, so it gets the same condition spelled
// out behind a plain lower bound on the first key, which it seeks:
// k1 >= a AND (k1 > a OR k2 > b OR (k2 = b AND c.id > id)).
func (d *DB) afterSQL(keys []string, after *CaseCursor) (string, []any) {
	if d.dialect.Name() == "postgres" {
		marks := strings.Repeat("?, ", len(keys)) + "?"
		args := make([]any, 0, len(keys)+1)
		for _, k := range after.Keys {
			args = append(args, k)
		}
		return `(` + strings.Join(keys, ", ") + `, c.id) > (` + marks + `)`, append(args, after.ID)
	}
	cond, args := `c.id > ?`, []any{after.ID}
	for i := len(keys) - 1; i >= 0; i-- {
		cond = keys[i] + ` > ? OR (` + keys[i] + ` = ? AND (` + cond + `))`
		args = append([]any{after.Keys[i], after.Keys[i]}, args...)
	}
	return keys[0] + ` >= ? AND (` + cond + `)`, append([]any{after.Keys[0]}, args...)
}

// searchSQL is the condition that keeps cases whose searched text holds
// text. On PostgreSQL, ILIKE on searchBody uses the pg_trgm GIN index; on
// SQLite, the FTS5 trigram table cases_search (kept by triggers) finds the
// ids holding text's rarest trigrams (rareTrigrams) and LIKE checks them.
// Text shorter than a trigram is matched with LIKE over the table.
func (d *DB) searchSQL(ctx context.Context, text string) (string, []any, error) {
	if numberLike.MatchString(text) {
		// A case number or the start of one (BH-2026-0001…): a range of
		// the unique index on number, the LIKE rechecking it under any
		// collation. Numbers are upper case.
		n := strings.ToUpper(text)
		return `(c.number >= ? AND c.number < ? AND c.number LIKE ?)`, []any{n, n + "~", n + "%"}, nil
	}
	like := "%" + likeEscaper.Replace(text) + "%"
	if d.dialect.Name() == "postgres" {
		return searchBody + ` ILIKE ?`, []any{like}, nil
	}
	if len([]rune(text)) < searchMin {
		return searchBody + ` LIKE ? ESCAPE '\'`, []any{like}, nil
	}
	return `c.id IN (SELECT case_id FROM cases_search WHERE cases_search MATCH ?) AND ` + searchBody + ` LIKE ? ESCAPE '\'`,
		[]any{d.rareTrigrams(ctx, text), like}, nil
}

// rareCap is how many rows rareTrigrams counts of each trigram at most,
// and rareWindow how many of the newest rows it counts them in.
const (
	rareCap    = 2000
	rareWindow = 20000
)

// rareTrigrams is an FTS5 query for the cases that may contain text: the
// two of its trigrams found in the fewest rows, which the caller's LIKE
// then checks. FTS5 answers a phrase by reading the row lists of all its
// trigrams, and a company's name holds some that nearly every row holds
// (有限公司): measured at 1M cases, 25-75 ms for the phrase against 2 ms
// for its two rarest trigrams.
//
// Which are rarest is estimated, not counted: how many of the newest
// rareWindow rows hold each, up to rareCap (one bounded seek and read per
// trigram, all in one statement). Counting over the whole table up to a
// cap could not tell them apart: at 1M cases even a name's distinctive
// trigrams (大港瑞, 瑞丰运) are in ~5,000 rows each, as many as the cap
// or more, while in the window they are in ~100 and 有限公 in all. An
// estimate only ever costs speed: the trigrams chosen are matched over
// the whole table and LIKE decides. When even the rarest reaches the cap
// (a tenth of the window), text is common and the whole phrase is as good
// as any part.
func (d *DB) rareTrigrams(ctx context.Context, text string) string {
	quote := func(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
	grams, pos := trigrams(text)
	if len(grams) <= 2 {
		return quote(text)
	}
	var top int64
	if err := d.queryRow(ctx, `SELECT rowid FROM cases_search ORDER BY rowid DESC LIMIT 1`).Scan(&top); err != nil {
		return quote(text) // an empty table, or the phrase is right, only slower
	}
	// One statement counts them all: one round trip, not one a trigram.
	sel := make([]string, len(grams))
	args := make([]any, 0, 2*len(grams))
	counts := make([]int, len(grams))
	dest := make([]any, len(grams))
	for i, g := range grams {
		sel[i] = `(SELECT COUNT(*) FROM (SELECT 1 FROM cases_search WHERE cases_search MATCH ? AND rowid > ? LIMIT ` + fmt.Sprint(rareCap) + `))`
		args, dest[i] = append(args, quote(g), top-rareWindow), &counts[i]
	}
	if err := d.queryRow(ctx, `SELECT `+strings.Join(sel, ", "), args...).Scan(dest...); err != nil {
		return quote(text) // the phrase is right, only slower
	}
	// The rarest, and the rarest that does not overlap it by two
	// characters: neighbours (大港瑞, 港瑞丰) occur together, so the pair
	// would find no fewer rows than the one.
	order := make([]int, len(grams))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(i, j int) bool { return counts[order[i]] < counts[order[j]] })
	first, second, ok := rarePair(counts, pos)
	if !ok {
		return quote(text)
	}
	return quote(grams[first]) + ` AND ` + quote(grams[second])
}

// trigrams returns text's distinct trigrams (case-insensitively) and
// where each starts, in runes.
func trigrams(text string) ([]string, []int) {
	r := []rune(text)
	seen := map[string]bool{}
	var grams []string
	var pos []int
	for i := 0; i+3 <= len(r); i++ {
		if g := string(r[i : i+3]); !seen[strings.ToLower(g)] {
			seen[strings.ToLower(g)] = true
			grams, pos = append(grams, g), append(pos, i)
		}
	}
	return grams, pos
}

// rarePair picks, by their counts, the rarest trigram and the rarest that
// does not overlap it by two characters: neighbours (大港瑞, 港瑞丰) occur
// together, so the pair would find no fewer rows than the one. ok is
// false when even the rarest reached rareCap.
func rarePair(counts, pos []int) (first, second int, ok bool) {
	order := make([]int, len(counts))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(i, j int) bool { return counts[order[i]] < counts[order[j]] })
	first, second = order[0], order[1]
	if counts[first] >= rareCap {
		return 0, 0, false
	}
	for _, i := range order[1:] {
		if pos[i]-pos[first] >= 2 || pos[first]-pos[i] >= 2 {
			second = i
			break
		}
	}
	return first, second, true
}

// keyScanner scans the sort keys that FindCases selects before the case's
// columns, then hands the rest to scanCase.
type keyScanner struct {
	row  scanner
	keys []int64
}

func (k keyScanner) Scan(dest ...any) error {
	all := make([]any, 0, len(k.keys)+len(dest))
	for i := range k.keys {
		all = append(all, &k.keys[i])
	}
	return k.row.Scan(append(all, dest...)...)
}
