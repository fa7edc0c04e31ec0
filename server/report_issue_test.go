package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"siteinspect/domain"
	"siteinspect/internal/testenv"
	"siteinspect/storage"
)

// holdWrites makes db refuse writes while reads go on, the way
// TestRoomDatabaseBusy does: on SQLite another connection holds the write
// lock (a write waits out busy_timeout, then fails SQLITE_BUSY); on
// PostgreSQL the database's sessions are ended and new ones are
// read-only. release gives writes back.
func holdWrites(t *testing.T, db *storage.DB) (release func()) {
	t.Helper()
	ctx := context.Background()
	conn, err := db.SQL().Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !testenv.OnPostgres() {
		if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
			t.Fatalf("take the write lock: %v", err)
		}
		return func() {
			conn.ExecContext(ctx, "ROLLBACK")
			conn.Close()
		}
	}
	var name string
	if err := conn.QueryRowContext(ctx, `SELECT current_database()`).Scan(&name); err != nil {
		t.Fatal(err)
	}
	readOnly := func(on string) {
		t.Helper()
		if _, err := conn.ExecContext(ctx, `ALTER DATABASE "`+name+`" SET default_transaction_read_only = `+on); err != nil {
			t.Fatalf("default_transaction_read_only = %s: %v", on, err)
		}
		if _, err := conn.ExecContext(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`, name); err != nil {
			t.Fatalf("end the database's other sessions: %v", err)
		}
		// The pool checks a connection idle for over a second before
		// reusing it (pgx's ResetSession), so the ended ones are dropped.
		time.Sleep(1100 * time.Millisecond)
	}
	readOnly("on")
	return func() {
		readOnly("off")
		conn.Close()
	}
}

// A report goes out only once its verification code is on record: the
// "report.issued" event is committed before the first byte of the report,
// and when it cannot be the client gets a clean JSON error and no report.
// Before, the report was streamed first and the event written after it,
// so a database that refused the write left the client holding a report
// (200, the whole PDF) whose code /verify did not know.
func TestReportNotSentUnlessIssued(t *testing.T) {
	e := newEnv(t)
	e.withReports(nil)
	cs, _ := e.decidedCase()
	path := "/api/v1/cases/" + cs.ID + "/report.pdf"
	release := holdWrites(t, e.db)
	w := e.req("zhouapp", "GET", path, nil, nil)
	var apiErr struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	json.Unmarshal(w.Body.Bytes(), &apiErr)
	if w.Code != http.StatusServiceUnavailable || apiErr.Error.Code != domain.CodeDatabaseUnavailable ||
		!strings.HasPrefix(w.Header().Get("Content-Type"), "application/json") || bytes.Contains(w.Body.Bytes(), []byte("%PDF")) {
		t.Errorf("report with the database refusing writes: got %d %s, %d bytes starting %q; want 503 %s in JSON and no report",
			w.Code, w.Header().Get("Content-Type"), w.Body.Len(), w.Body.Bytes()[:min(w.Body.Len(), 16)], domain.CodeDatabaseUnavailable)
	}
	if cd := w.Header().Get("Content-Disposition"); cd != "" {
		t.Errorf("the refusal carries the report's Content-Disposition %q", cd)
	}
	if issued := e.issuedEvents(cs.ID); len(issued) != 0 {
		t.Errorf("report.issued events while writes were refused: %v", issued)
	}
	release()
	// With the database back, the report is issued and its code verifies.
	w = e.req("zhouapp", "GET", path, nil, nil)
	issued := e.issuedEvents(cs.ID)
	if w.Code != http.StatusOK || !bytes.HasPrefix(w.Body.Bytes(), []byte("%PDF")) || len(issued) != 1 || issued[0]["sha256"] != hexSHA(w.Body.Bytes()) {
		t.Fatalf("report with the database back: got %d, %d bytes, issued %v; want 200, a PDF and its event", w.Code, w.Body.Len(), issued)
	}
	v := e.req("", "GET", "/verify/"+issued[0]["code"].(string), nil, map[string]string{"Accept": "application/json"})
	if v.Code != http.StatusOK {
		t.Errorf("verify the issued report: got %d %s", v.Code, v.Body)
	}
}
