package e2e

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"siteinspect/domain"
	"siteinspect/internal/testenv"
	"siteinspect/server"
	"siteinspect/storage"
	"siteinspect/storage/objects"
	"siteinspect/web"
)

// seededOffice is an office whose records a browser test writes straight
// into the database (audit events appended unchained: the pages under test
// read them, not their hashes), in the office's zone, Asia/Shanghai, while
// the test machine runs in UTC.
type seededOffice struct {
	t     *testing.T
	db    *storage.DB
	loc   *time.Location
	users map[string]*domain.User
	seq   int64
}

// seedUser is one of a seeded office's people; their password is
// "password-" + name.
type seedUser struct{ name, role, display string }

// newSeededOffice opens a fresh database with the permit catalogue, the
// units (id, Chinese and English name) and the people.
func newSeededOffice(t *testing.T, units [][3]string, people []seedUser) *seededOffice {
	t.Helper()
	ctx := context.Background()
	o := &seededOffice{t: t, db: testenv.NewDB(t), users: map[string]*domain.User{}}
	var err error
	if o.loc, err = time.LoadLocation("Asia/Shanghai"); err != nil {
		t.Fatal(err)
	}
	if err := o.db.SeedPermitTypes(ctx); err != nil {
		t.Fatal(err)
	}
	for _, u := range units {
		o.exec(`INSERT INTO units (id, office, name_zh, name_en, created_at) VALUES (?, 'binhai', ?, ?, 0)`, u[0], u[1], u[2])
	}
	for _, p := range people {
		u, err := o.db.CreateUser(ctx, p.name, "password-"+p.name, domain.Role(p.role), p.display, "binhai")
		if err != nil {
			t.Fatal(err)
		}
		o.users[p.name] = u
	}
	if err := o.db.SQL().QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM audit_events`).Scan(&o.seq); err != nil {
		t.Fatal(err)
	}
	return o
}

// exec runs one statement on the office's database.
func (o *seededOffice) exec(q string, args ...any) {
	o.t.Helper()
	if _, err := o.db.SQL().ExecContext(context.Background(), q, args...); err != nil {
		o.t.Fatalf("%.60s: %v", q, err)
	}
}

// event appends an audit event by actor (a user's id) at at; caseID ""
// is an event of no case.
func (o *seededOffice) event(caseID, actor, action string, at time.Time, data string) {
	o.t.Helper()
	o.seq++
	var cs any
	if caseID != "" {
		cs = caseID
	}
	o.exec(`INSERT INTO audit_events (seq, case_id, actor_id, action, target, data, at, prev_hash, hash) VALUES (?, ?, ?, ?, '', ?, ?, '', '')`,
		o.seq, cs, actor, action, data, at.UnixMilli())
}

// serve starts the API and UI on the office's database, with files on
// disk, and returns its URL.
func (o *seededOffice) serve() string {
	o.t.Helper()
	t := o.t
	disk, err := objects.NewDisk(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ups, err := storage.NewUploads(o.db, disk, domain.UploadConfig{SpoolDir: t.TempDir(), PartSize: objects.MinPartSize})
	if err != nil {
		t.Fatal(err)
	}
	webFS, err := web.FS()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Config{DB: o.db, Objects: disk, Uploads: ups, Web: webFS, Office: "binhai", NumberPrefix: "BH", Location: o.loc})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close(context.Background()) })
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return ts.URL
}
