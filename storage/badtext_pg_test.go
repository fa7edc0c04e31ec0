package storage_test

import (
	"context"
	"errors"
	"testing"

	"siteinspect/domain"
	"siteinspect/storage"
)

// TestClassifyBadText: text PostgreSQL refuses to store (a NUL character,
// \u0000 in a JSON value) is the client's error, 400 text_invalid, not a
// 500, wherever it slipped past the HTTP layer's own check; SQLite stores
// such text and gives no error to classify.
func TestClassifyBadText(t *testing.T) {
	forDialects(t, func(t *testing.T, dsn string, db *storage.DB) {
		ctx := context.Background()
		var got string
		errText := db.SQL().QueryRowContext(ctx, `SELECT CAST(? AS TEXT)`, "a\x00b").Scan(&got)
		if db.Dialect() == "sqlite" {
			if errText != nil || got != "a\x00b" {
				t.Fatalf("SQLite: got %q %v, want the text back", got, errText)
			}
			return
		}
		errJSON := db.SQL().QueryRowContext(ctx, `SELECT CAST(CAST(? AS TEXT) AS JSONB)::TEXT`, `{"a":"\u0000"}`).Scan(&got)
		for name, err := range map[string]error{"NUL in text": errText, `\u0000 in JSON`: errJSON} {
			var se *domain.Error
			if c := storage.Classify(err); err == nil || !errors.Is(c, domain.ErrInvalid) || !errors.As(c, &se) || se.Code != domain.CodeTextInvalid {
				t.Errorf("%s: PostgreSQL's %v classified as %#v, want ErrInvalid %s", name, err, c, domain.CodeTextInvalid)
			}
		}
	})
}
