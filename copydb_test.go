package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"siteinspect/domain"
	"siteinspect/internal/harness"
	"siteinspect/internal/testenv"
	"siteinspect/internal/tsatest"
	"siteinspect/storage"
)

// mustFullOffice runs a server on a SQLite file, makes every kind of
// record through the API (and a live annotation through storage, as the
// live room would), stops it, and returns the file's path. A test TSA
// time-stamps its evidence and decisions.
func mustFullOffice(t *testing.T) string {
	t.Helper()
	data := t.TempDir()
	tsa := tsatest.Start(t)
	p := harness.StartServer(t, append([]string{"--data", data, "--jobs", "1", "--part-size-mib", "5", "--tsa-url", tsa.URL, "--tsa-ca", tsa.CAFile}, harness.S3Args(t)...)...)
	app := harness.Login(t, p.URL, "applicant", p.Demo["applicant"])
	insp := harness.Login(t, p.URL, "inspector", p.Demo["inspector"])
	rev := harness.Login(t, p.URL, "reviewer", p.Demo["reviewer"])
	bad := harness.Anonymous(t, p.URL)
	bad.MustJSON("POST", "/api/v1/auth/login", map[string]string{"username": "inspector", "password": "wrong"}, http.StatusUnauthorized, nil)
	var me domain.User
	insp.MustJSON("GET", "/api/v1/me", nil, http.StatusOK, &me)

	pdf := filepath.Join(t.TempDir(), "plan.pdf")
	if err := os.WriteFile(pdf, harness.MinimalPDF(2, "Floor plan"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A draft with a half-sent upload (one 5 MiB part stored).
	draft := app.NewCase()
	clip, err := os.ReadFile(testenv.MakeMP4(t, t.TempDir(), 1, "160x120"))
	if err != nil {
		t.Fatal(err)
	}
	head := append(clip, make([]byte, 5<<20+1-len(clip))...)
	loc := app.CreateUpload(draft.ID, "big.mp4", 6<<20)
	if resp := app.Patch(loc, 0, bytes.NewReader(head), int64(len(head))); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("patch: got %d, want 204", resp.StatusCode)
	}
	// An approved, countersigned case with an annotation edited and replied to.
	done := app.NewCase()
	pdfID := app.MustUploadFile(done.ID, pdf)
	if ev := app.MustEvidenceDone(pdfID, 2*time.Minute); ev.Status != domain.EvidenceReady {
		t.Fatalf("pdf: got %q (%s), want ready", ev.Status, ev.StatusReason)
	}
	path := "/api/v1/cases/" + done.ID
	app.MustJSON("POST", path+"/submit", nil, http.StatusOK, nil)
	insp.MustJSON("POST", path+"/assign", nil, http.StatusOK, nil)
	rev.MustJSON("POST", path+"/assign", nil, http.StatusOK, nil)
	var note domain.Annotation
	insp.MustJSON("POST", "/api/v1/evidence/"+pdfID+"/annotations", map[string]any{"body": "登记终端位置", "page": 2, "checklist_item": "guest-registration"}, http.StatusCreated, &note)
	resp := insp.Do("PATCH", "/api/v1/annotations/"+note.ID, strings.NewReader(`{"body": "登记终端位置已标注"}`), map[string]string{"Content-Type": "application/json", "If-Match": fmt.Sprint(note.Version)})
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("edit annotation: got %d, want 200", resp.StatusCode)
	}
	rev.MustJSON("POST", "/api/v1/annotations/"+note.ID+"/replies", map[string]any{"body": "已核对"}, http.StatusCreated, nil)
	for _, item := range []string{"fire-exits", "guest-registration", "cctv-entrances", "valuables-storage"} {
		insp.MustJSON("POST", path+"/findings", map[string]any{"checklist_item": item, "result": "pass"}, http.StatusCreated, nil)
	}
	insp.MustJSON("POST", path+"/decision", map[string]any{"outcome": "approve", "summary": "符合条件"}, http.StatusOK, nil)
	rev.MustJSON("POST", path+"/countersign", map[string]any{"agree": true, "comment": "同意"}, http.StatusOK, nil)
	// A case sent back for materials, with a live session opened first.
	back := app.NewCase()
	app.MustUploadFile(back.ID, pdf)
	path = "/api/v1/cases/" + back.ID
	// 承诺办: the applicant signs the commitment before submitting.
	app.MustJSON("POST", path+"/commitment", map[string]any{"items": []string{"营业执照"}, "signer_name": "张三", "agree": true}, http.StatusCreated, nil)
	app.MustJSON("POST", path+"/submit", nil, http.StatusOK, nil)
	insp.MustJSON("POST", path+"/assign", nil, http.StatusOK, nil)
	var ls harness.LiveSession
	insp.MustJSON("POST", path+"/live", map[string]any{}, http.StatusCreated, &ls)
	// The live room adds live annotations; here storage does, beside the server.
	db := testenv.OpenDBAt(t, filepath.Join(data, "siteinspect.db"))
	ctx := context.Background()
	cs, err := db.Case(ctx, back.ID)
	if err != nil {
		t.Fatal(err)
	}
	lsess, err := db.LiveSession(ctx, ls.ID)
	if err != nil {
		t.Fatal(err)
	}
	u, err := db.UserByID(ctx, me.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.AddLiveAnnotation(ctx, cs, lsess, u, domain.AnnotationInput{Body: "门口有障碍物", Severity: "info"}, 1500); err != nil {
		t.Fatalf("live annotation: %v", err)
	}
	// A segment of the session's recording that a replica stored.
	if err := db.AddLiveSegment(ctx, storage.LiveSegment{SessionID: ls.ID, ObjectKey: "cases/" + back.ID + "/live/" + ls.ID + "/segment-1.webm",
		Replica: "replica-a", ContentType: "video/webm", StartedAt: time.Now(), Duration: 3 * time.Second}); err != nil {
		t.Fatalf("live segment: %v", err)
	}
	// A unit the inspector belongs to and the case is routed to, and the
	// office's settings as an admin changed them.
	for _, q := range []string{
		`INSERT INTO units (id, office, name_zh, name_en, created_at) VALUES ('unit-1', 'demo', '一分中心', 'Unit 1', 1)`,
		`UPDATE users SET unit_id = 'unit-1' WHERE id = '` + me.ID + `'`,
		`UPDATE cases SET unit_id = 'unit-1' WHERE id = '` + back.ID + `'`,
		`INSERT INTO office_settings (office, name_zh, name_en, timezone, retention_days, updated_at, updated_by) VALUES ('demo', '示范办', 'Demo office', 'Asia/Shanghai', 3650, 1, '` + me.ID + `')`,
		// A rating of a decision (written under the API: this case is not
		// decided) and the follow-up it opened, closed.
		`INSERT INTO decisions (id, case_id, outcome, summary, inspector_id, decided_at) VALUES ('dec-rated', '` + back.ID + `', 'reject', '不予批准', '` + me.ID + `', 2)`,
		`INSERT INTO ratings (id, case_id, decision_id, rater_id, office, inspector_id, level, comment, rated_at) VALUES ('rating-1', '` + back.ID + `', 'dec-rated', '` + back.Applicant.ID + `', 'demo', '` + me.ID + `', 5, '太慢', 3)`,
		`INSERT INTO followups (id, rating_id, case_id, office, opened_at, due_at, closed_at, closed_by, outcome) VALUES ('fu-1', 'rating-1', '` + back.ID + `', 'demo', 3, 4, 5, '` + me.ID + `', '已整改')`,
		// A notification the inspector read and was e-mailed, and the
		// phone's track during the live session (one point without an
		// accuracy).
		`INSERT INTO notifications (id, user_id, case_id, kind, data, created_at, read_at, email_sent_at) VALUES ('notif-1', '` + me.ID + `', '` + back.ID + `', 'case.claimed', '{"number":"` + back.Number + `"}', 6, 7, 8)`,
		`INSERT INTO live_positions (session_id, at, lat, lon, accuracy) VALUES ('` + ls.ID + `', 1500, 39.0842, 117.2009, 12.5)`,
		`INSERT INTO live_positions (session_id, at, lat, lon) VALUES ('` + ls.ID + `', 4500, 39.0843, 117.201)`,
	} {
		if _, err := db.SQL().ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()
	due := time.Now().Add(10 * 24 * time.Hour)
	insp.MustJSON("POST", path+"/decision", map[string]any{"outcome": "request_supplement", "summary": "补充材料", "supplement_due": due, "owed": []string{"营业执照复印件"}}, http.StatusOK, nil)
	app.MustJSON("GET", "/api/v1/cases/"+back.ID, nil, http.StatusOK, nil)
	p.Stop(t)

	return filepath.Join(data, "siteinspect.db")
}

// tableDump is every row of every table copy-db copies, in key order, with
// values written the same way whatever database they came from.
func tableDump(t *testing.T, db *sql.DB) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, tb := range storage.CopiedTables() {
		rows, err := db.Query(`SELECT * FROM ` + tb.Name + ` ORDER BY ` + tb.Key)
		if err != nil {
			t.Fatalf("dump %s: %v", tb.Name, err)
		}
		cols, _ := rows.Columns()
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatalf("dump %s: %v", tb.Name, err)
			}
			var b strings.Builder
			for i, v := range vals {
				switch x := v.(type) {
				case int32:
					v = int64(x)
				case int16:
					v = int64(x)
				case []byte:
					v = hex.EncodeToString(x)
				}
				fmt.Fprintf(&b, "%s=%v;", cols[i], v)
			}
			out[tb.Name] = append(out[tb.Name], b.String())
		}
		if err := rows.Err(); err != nil {
			t.Fatalf("dump %s: %v", tb.Name, err)
		}
		rows.Close()
	}
	return out
}

// runCmd runs the program with args and returns its error and stderr.
func runCmd(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(context.Background(), args, func(string) string { return "" }, strings.NewReader(""), &out, &errb)
	return out.String(), errb.String(), err
}

// TestCopyDB moves an office with every kind of record from SQLite to
// PostgreSQL: every row arrives unchanged, the audit chain verifies on
// both, and a second copy into the same database is refused.
func TestCopyDB(t *testing.T) {
	src := mustFullOffice(t)
	srcDB := testenv.OpenDBAt(t, src)
	before := tableDump(t, srcDB.SQL())
	for _, tb := range storage.CopiedTables() {
		if len(before[tb.Name]) == 0 {
			t.Errorf("source %s: got no rows, want some (the fixture must make every kind of record)", tb.Name)
		}
	}
	srcDB.Close()

	// The target has been opened by a server once: its permit catalogue is
	// seeded, but it holds no user, case or audit event.
	to := testenv.PostgresURL(t)
	seeded := testenv.OpenDBAt(t, to)
	if err := seeded.SeedPermitTypes(context.Background()); err != nil {
		t.Fatal(err)
	}
	seeded.Close()

	out, progress, err := runCmd(t, "copy-db", "--from", src, "--to", to)
	if err != nil {
		t.Fatalf("copy-db: %v\n%s", err, progress)
	}
	for _, want := range []string{"copy-db: users", "copy-db: audit_events", "copy-db: login_attempts", "100% of all"} {
		if !strings.Contains(progress, want) {
			t.Errorf("copy-db progress: got %q, want it to contain %q", progress, want)
		}
	}
	if !strings.Contains(out, "audit chain intact on the target") {
		t.Errorf("copy-db output: got %q, want the target's audit chain reported intact", out)
	}
	dst := testenv.OpenDBAt(t, to)
	after := tableDump(t, dst.SQL())
	for _, tb := range storage.CopiedTables() {
		got, want := after[tb.Name], before[tb.Name]
		if len(got) != len(want) {
			t.Errorf("target %s: got %d rows, want %d", tb.Name, len(got), len(want))
			continue
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("target %s row %d:\n got %s\nwant %s", tb.Name, i, got[i], want[i])
				break
			}
		}
	}
	for _, db := range []string{src, to} {
		out, errb, err := runCmd(t, "audit", "verify", "--data", t.TempDir(), "--db", db)
		if err != nil || !strings.HasPrefix(out, "audit chain intact: "+fmt.Sprint(len(before["audit_events"]))+" events") {
			t.Errorf("audit verify %s: got %v %q %s, want intact with %d events", storage.RedactDSN(db), err, out, errb, len(before["audit_events"]))
		}
	}

	// PostgreSQL to PostgreSQL (another server, say) reads the source the
	// same way.
	again := testenv.PostgresURL(t)
	if _, progress, err := runCmd(t, "copy-db", "--from", to, "--to", again); err != nil {
		t.Fatalf("copy-db from PostgreSQL: %v\n%s", err, progress)
	}
	other := testenv.OpenDBAt(t, again)
	if got := tableDump(t, other.SQL()); fmt.Sprint(got) != fmt.Sprint(after) {
		t.Errorf("copy-db from PostgreSQL: the second target's rows differ from the first's")
	}

	// The program itself, as an operator runs it: exit status 1 and why.
	cmd := exec.Command(harness.MustBinary(t), "copy-db", "--from", src, "--to", to)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err = cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.Contains(stderr.String(), "target is not empty") {
		t.Errorf("second copy-db: got %v, stderr %q; want exit status 1 naming a non-empty target", err, stderr.String())
	}
	if got := tableDump(t, dst.SQL()); fmt.Sprint(got) != fmt.Sprint(after) {
		t.Errorf("second copy-db changed the target")
	}
}

// TestCopyDBRefusesOtherSchemaVersions: a target or a source at another
// schema version than the other end is refused before anything is copied.
func TestCopyDBRefusesOtherSchemaVersions(t *testing.T) {
	src := filepath.Join(t.TempDir(), "src.db")
	db := testenv.OpenDBAt(t, src)
	if _, err := db.CreateUser(context.Background(), "someone", "password-1234", domain.RoleInspector, "", ""); err != nil {
		t.Fatal(err)
	}
	db.Close()

	older := testenv.PostgresURL(t)
	o := testenv.OpenDBAt(t, older)
	if _, err := o.SQL().Exec(`DELETE FROM schema_migrations WHERE version = (SELECT MAX(version) FROM schema_migrations)`); err != nil {
		t.Fatal(err)
	}
	o.Close()
	_, _, err := runCmd(t, "copy-db", "--from", src, "--to", older)
	if err == nil || !strings.Contains(err.Error(), "same schema version") {
		t.Errorf("copy-db to an older target: got %v, want a schema version refusal", err)
	}

	newer := filepath.Join(t.TempDir(), "newer.db")
	n := testenv.OpenDBAt(t, newer)
	if _, err := n.SQL().Exec(`INSERT INTO schema_migrations (version, applied_at) VALUES ('9999_future', 0)`); err != nil {
		t.Fatal(err)
	}
	n.Close()
	fresh := testenv.PostgresURL(t)
	_, _, err = runCmd(t, "copy-db", "--from", newer, "--to", fresh)
	if err == nil || !strings.Contains(err.Error(), "source schema is at 9999_future") {
		t.Errorf("copy-db from a newer source: got %v, want a schema version refusal", err)
	}
	_, _, err = runCmd(t, "copy-db", "--from", filepath.Join(t.TempDir(), "missing.db"), "--to", fresh)
	if err == nil || !strings.Contains(err.Error(), "source") {
		t.Errorf("copy-db from a missing file: got %v, want an error about the source", err)
	}
}
