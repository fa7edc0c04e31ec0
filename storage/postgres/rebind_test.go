package postgres

import "testing"

func TestRebind(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{`SELECT 1`, `SELECT 1`},
		{`SELECT a FROM t WHERE b = ? AND c IN (?, ?) LIMIT ?`, `SELECT a FROM t WHERE b = $1 AND c IN ($2, $3) LIMIT $4`},
		{`UPDATE t SET a = '?' WHERE b = ?`, `UPDATE t SET a = '?' WHERE b = $1`},
		{`SELECT 'it''s ?', "odd?""name" FROM t WHERE x = ?`, `SELECT 'it''s ?', "odd?""name" FROM t WHERE x = $1`},
		{"SELECT ? -- why?\n, ?", "SELECT $1 -- why?\n, $2"},
		{`SELECT /* ? */ ?`, `SELECT /* ? */ $1`},
		{`CREATE FUNCTION f() RETURNS int AS $$ SELECT '?' $$; SELECT ?`, `CREATE FUNCTION f() RETURNS int AS $$ SELECT '?' $$; SELECT $1`},
		{`SELECT $body$ ? $body$, ?`, `SELECT $body$ ? $body$, $1`},
		{`SELECT 'unterminated ?`, `SELECT 'unterminated ?`},
	} {
		if got := rebind(tt.in); got != tt.want {
			t.Errorf("rebind(%q):\n got %q\nwant %q", tt.in, got, tt.want)
		}
	}
}
