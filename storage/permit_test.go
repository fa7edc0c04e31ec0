package storage

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"siteinspect/domain"
	"siteinspect/internal/pgtest"
)

// catalogueDB is a seeded database with an admin, an applicant and an
// inspector.
func catalogueDB(t *testing.T) (*DB, map[string]*domain.User) {
	t.Helper()
	ctx := context.Background()
	d, err := openTestDB(t)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	if err := d.SeedPermitTypes(ctx); err != nil {
		t.Fatal(err)
	}
	users := map[string]*domain.User{}
	for _, u := range []struct {
		name string
		role domain.Role
		org  string
	}{{"admin", domain.RoleAdmin, ""}, {"app", domain.RoleApplicant, "Acme"}, {"insp", domain.RoleInspector, "binhai"}, {"sup", domain.RoleSupervisor, "binhai"}} {
		if users[u.name], err = d.CreateUser(ctx, u.name, "password-"+u.name, u.role, "", u.org); err != nil {
			t.Fatal(err)
		}
	}
	return d, users
}

// hotelV2 is the hotel type with valuables-storage dropped and a new item.
func hotelV2(t *testing.T, d *DB) domain.PermitType {
	t.Helper()
	cur, err := d.PermitType(context.Background(), "hotel")
	if err != nil {
		t.Fatal(err)
	}
	next := *cur
	next.Checklist = nil
	for _, it := range cur.Checklist {
		if it.ID != "valuables-storage" {
			next.Checklist = append(next.Checklist, it)
		}
	}
	next.Checklist = append(next.Checklist, domain.ChecklistItem{ID: "smoke-detectors", Text: domain.Text{ZH: "客房安装烟感报警器", EN: "Rooms have smoke detectors"}})
	next.Materials = append(slices.Clone(cur.Materials), domain.Text{ZH: "治安管理制度", EN: "Public order rules"})
	next.TargetDays = 3
	return next
}

type catalogueEvent struct {
	Action, Target string
	Data           map[string]any
}

func catalogueEvents(t *testing.T, d *DB, code string) []catalogueEvent {
	t.Helper()
	rows, err := d.query(context.Background(), `SELECT action, target, data FROM audit_events WHERE target = ? AND action LIKE 'permit_type.%' ORDER BY seq`, code)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []catalogueEvent
	for rows.Next() {
		var e catalogueEvent
		var data string
		if err := rows.Scan(&e.Action, &e.Target, &data); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal([]byte(data), &e.Data); err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

// A case keeps the version of its type it was opened with: publishing v2
// changes what new cases get, not what the old case is checked against.
func TestPermitVersionsKeptByCases(t *testing.T) {
	ctx := context.Background()
	d, u := catalogueDB(t)
	loc := time.UTC
	old, err := d.CreateCase(ctx, u["app"], "binhai", "BH", loc, domain.NewCase{PermitType: "hotel", SiteName: "Old", SiteAddress: "1 Rd"})
	if err != nil {
		t.Fatal(err)
	}
	if old.PermitVersion != 1 {
		t.Fatalf("case opened on the seeded catalogue: got version %d, want 1", old.PermitVersion)
	}
	pub, err := d.PublishPermitType(ctx, u["admin"], "hotel", 1, hotelV2(t, d))
	if err != nil {
		t.Fatal(err)
	}
	if pub.Version != 2 || pub.TargetDays != 3 {
		t.Fatalf("published: got version %d target %d, want 2 and 3", pub.Version, pub.TargetDays)
	}
	cur, err := d.PermitType(ctx, "hotel")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := cur.Item("valuables-storage"); ok || cur.Version != 2 {
		t.Fatalf("current hotel: got version %d with valuables-storage %v, want version 2 without", cur.Version, ok)
	}
	old, err = d.Case(ctx, old.ID)
	if err != nil {
		t.Fatal(err)
	}
	pt, err := d.CasePermitType(ctx, old)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := pt.Item("valuables-storage"); !ok || pt.Version != 1 || pt.TargetDays != 0 {
		t.Errorf("old case's type: got version %d target %d valuables-storage %v, want version 1 target 0 with it", pt.Version, pt.TargetDays, ok)
	}
	fresh, err := d.CreateCase(ctx, u["app"], "binhai", "BH", loc, domain.NewCase{PermitType: "hotel", SiteName: "New", SiteAddress: "2 Rd"})
	if err != nil {
		t.Fatal(err)
	}
	if fresh.PermitVersion != 2 {
		t.Errorf("case opened after the publish: got version %d, want 2", fresh.PermitVersion)
	}
	// A second publish from the same base loses: it would undo v2 unseen.
	v1, err := d.PermitTypeVersion(ctx, "hotel", 1)
	if err != nil {
		t.Fatal(err)
	}
	stale := *v1
	stale.TargetDays = 7
	_, err = d.PublishPermitType(ctx, u["admin"], "hotel", 1, stale)
	if !errors.Is(err, domain.ErrConflict) || errCode(err) != domain.CodePermitVersionConflict {
		t.Errorf("publish from a stale base: got %v, want %s", err, domain.CodePermitVersionConflict)
	}

	// Retired: no new case; the old ones are untouched.
	if _, err := d.RetirePermitType(ctx, u["admin"], "hotel", true); err != nil {
		t.Fatal(err)
	}
	_, err = d.CreateCase(ctx, u["app"], "binhai", "BH", loc, domain.NewCase{PermitType: "hotel", SiteName: "Late", SiteAddress: "3 Rd"})
	if errCode(err) != domain.CodePermitTypeRetired {
		t.Errorf("case of a retired type: got %v, want %s", err, domain.CodePermitTypeRetired)
	}
	if _, err := d.RetirePermitType(ctx, u["admin"], "hotel", false); err != nil {
		t.Fatal(err)
	}
	if _, err := d.CreateCase(ctx, u["app"], "binhai", "BH", loc, domain.NewCase{PermitType: "hotel", SiteName: "Back", SiteAddress: "4 Rd"}); err != nil {
		t.Errorf("case after reactivation: %v", err)
	}

	// Every change is audited with its version, and the chain holds.
	var got []string
	for _, e := range catalogueEvents(t, d, "hotel") {
		got = append(got, e.Action+"@"+jsonNumber(e.Data["version"]))
	}
	want := []string{"permit_type.published@2", "permit_type.retired@2", "permit_type.reactivated@2"}
	if !slices.Equal(got, want) {
		t.Errorf("audit events: got %v, want %v", got, want)
	}
	if ev := catalogueEvents(t, d, "hotel"); len(ev) > 0 {
		if removed, _ := json.Marshal(ev[0].Data["items_removed"]); string(removed) != `["valuables-storage"]` {
			t.Errorf("items_removed: got %s, want [\"valuables-storage\"]", removed)
		}
	}
	if _, err := d.VerifyAudit(ctx); err != nil {
		t.Errorf("audit chain: %v", err)
	}

	cat, err := d.Catalogue(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range cat {
		if e.Current.Code != "hotel" {
			continue
		}
		if len(e.Versions) != 2 || e.Versions[0].Version != 2 || e.Versions[1].Version != 1 {
			t.Fatalf("hotel's versions: got %d, want 2 then 1", len(e.Versions))
		}
		if by := e.Versions[0].CreatedBy; by == nil || by.Username != "admin" {
			t.Errorf("v2 published by: got %+v, want admin", by)
		}
		if e.Versions[1].CreatedBy != nil {
			t.Errorf("v1 published by: got %+v, want nobody (seeded)", e.Versions[1].CreatedBy)
		}
	}
}

func jsonNumber(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// Edits are validated with stable codes, and only admins make them.
func TestPermitTypeEditsRefused(t *testing.T) {
	ctx := context.Background()
	d, u := catalogueDB(t)
	good := func() domain.PermitType {
		return domain.PermitType{Code: "dance-hall", Name: domain.Text{ZH: "歌舞娱乐场所", EN: "Dance hall"}, TargetDays: 5,
			Checklist: []domain.ChecklistItem{{ID: "exits", Text: domain.Text{ZH: "安全出口", EN: "Exits"}}},
			Materials: []domain.Text{{ZH: "营业执照", EN: "Business licence"}}}
	}
	for _, tc := range []struct {
		name   string
		edit   func(*domain.PermitType)
		wantIs error
		code   string
	}{
		{"bad code", func(p *domain.PermitType) { p.Code = "Dance Hall" }, domain.ErrInvalid, domain.CodePermitCodeInvalid},
		{"no english name", func(p *domain.PermitType) { p.Name.EN = "  " }, domain.ErrInvalid, domain.CodePermitNameMissing},
		{"negative days", func(p *domain.PermitType) { p.TargetDays = -1 }, domain.ErrInvalid, domain.CodePermitDaysInvalid},
		{"too many days", func(p *domain.PermitType) { p.SupplementDays = 366 }, domain.ErrInvalid, domain.CodePermitDaysInvalid},
		{"commitment without days", func(p *domain.PermitType) { p.CommitmentAllowed, p.SupplementDays = true, 0 }, domain.ErrInvalid, domain.CodePermitDaysInvalid},
		{"no items", func(p *domain.PermitType) { p.Checklist = nil }, domain.ErrInvalid, domain.CodeChecklistEmpty},
		{"duplicate item", func(p *domain.PermitType) { p.Checklist = append(p.Checklist, p.Checklist[0]) }, domain.ErrInvalid, domain.CodeChecklistItemDuplicate},
		{"item without text", func(p *domain.PermitType) { p.Checklist[0].Text.ZH = "" }, domain.ErrInvalid, domain.CodeChecklistItemInvalid},
		{"bad item id", func(p *domain.PermitType) { p.Checklist[0].ID = "出口" }, domain.ErrInvalid, domain.CodeChecklistItemInvalid},
		{"material without name", func(p *domain.PermitType) { p.Materials[0].EN = "" }, domain.ErrInvalid, domain.CodeMaterialInvalid},
		{"taken code", func(p *domain.PermitType) { p.Code = "hotel" }, domain.ErrConflict, domain.CodePermitTypeExists},
	} {
		p := good()
		tc.edit(&p)
		_, err := d.CreatePermitType(ctx, u["admin"], p)
		if !errors.Is(err, tc.wantIs) || errCode(err) != tc.code {
			t.Errorf("%s: got %v, want %v %s", tc.name, err, tc.wantIs, tc.code)
		}
	}
	for _, who := range []string{"app", "insp", "sup"} {
		if _, err := d.CreatePermitType(ctx, u[who], good()); !errors.Is(err, domain.ErrForbidden) {
			t.Errorf("create by %s: got %v, want forbidden", who, err)
		}
		if _, err := d.PublishPermitType(ctx, u[who], "hotel", 1, hotelV2(t, d)); !errors.Is(err, domain.ErrForbidden) {
			t.Errorf("publish by %s: got %v, want forbidden", who, err)
		}
		if _, err := d.RetirePermitType(ctx, u[who], "hotel", true); !errors.Is(err, domain.ErrForbidden) {
			t.Errorf("retire by %s: got %v, want forbidden", who, err)
		}
	}
	if _, err := d.PublishPermitType(ctx, u["admin"], "no-such-type", 1, good()); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("publish of an unknown type: got %v, want not found", err)
	}
	if n := len(catalogueEvents(t, d, "dance-hall")) + len(catalogueEvents(t, d, "hotel")); n != 0 {
		t.Errorf("audit events of refused edits: got %d, want 0", n)
	}

	// The good one goes in after the seeded types, as version 1.
	pt, err := d.CreatePermitType(ctx, u["admin"], good())
	if err != nil {
		t.Fatal(err)
	}
	all, err := d.PermitTypes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if pt.Version != 1 || all[len(all)-1].Code != "dance-hall" || len(all) != len(domain.Catalogue)+1 {
		t.Errorf("created: got version %d, last of %d types %q; want 1, %d, dance-hall", pt.Version, len(all), all[len(all)-1].Code, len(domain.Catalogue)+1)
	}
	v1, err := d.PermitTypeVersion(ctx, "dance-hall", 1)
	if err != nil || v1.Name.EN != "Dance hall" {
		t.Errorf("version 1 of the new type: got %+v, %v", v1, err)
	}
	if ev := catalogueEvents(t, d, "dance-hall"); len(ev) != 1 || ev[0].Action != "permit_type.created" || jsonNumber(ev[0].Data["version"]) != "1" {
		t.Errorf("audit of the create: got %+v, want one permit_type.created at version 1", ev)
	}
}

// errCode is the stable code of err, or "".
func errCode(err error) string {
	var e *domain.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// Migration 0018 makes the catalogue as it stood version 1 of every type
// and sets every existing case to version 1. The database is put back to
// its shape before 0018 (the migration's table and columns dropped, its
// record removed) with a case in it, and opened again.
func TestPermitVersionsMigration(t *testing.T) {
	ctx := context.Background()
	dsn := filepath.Join(t.TempDir(), "test.db")
	if pgtest.Selected() {
		dsn = pgtest.URL(t)
	}
	d, err := OpenDB(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.SeedPermitTypes(ctx); err != nil {
		t.Fatal(err)
	}
	app, err := d.CreateUser(ctx, "app", "password-app", domain.RoleApplicant, "", "Acme")
	if err != nil {
		t.Fatal(err)
	}
	cs, err := d.CreateCase(ctx, app, "binhai", "BH", time.UTC, domain.NewCase{PermitType: "bank-security", SiteName: "Bank", SiteAddress: "1 Rd"})
	if err != nil {
		t.Fatal(err)
	}
	// A checklist edited by hand before versions existed is what version
	// 1 must hold.
	for _, q := range []string{
		`DROP TABLE permit_type_versions`,
		`ALTER TABLE permit_types DROP COLUMN version`,
		`ALTER TABLE permit_types DROP COLUMN retired_at`,
		`ALTER TABLE cases DROP COLUMN permit_version`,
		`DELETE FROM schema_migrations WHERE version = '0018_permit_versions'`,
		// 0025 adds a column to the versions table: it runs again too.
		`ALTER TABLE permit_types DROP COLUMN slots_required`,
		`ALTER TABLE evidence DROP COLUMN slot`,
		`ALTER TABLE evidence DROP COLUMN removed_at`,
		`ALTER TABLE evidence DROP COLUMN removed_by`,
		`DELETE FROM schema_migrations WHERE version = '0025_slots'`,
		`UPDATE permit_types SET checklist = '[{"id":"vault-doors","text":{"zh":"金库门","en":"Vault doors"}}]' WHERE code = 'bank-security'`,
	} {
		if _, err := d.SQL().ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	d.Close()
	if d, err = OpenDB(ctx, dsn); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	got, err := d.Case(ctx, cs.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.PermitVersion != 1 {
		t.Errorf("existing case: got version %d, want 1", got.PermitVersion)
	}
	pt, err := d.CasePermitType(ctx, got)
	if err != nil {
		t.Fatal(err)
	}
	if ids := itemIDs(pt.Checklist); !slices.Equal(ids, []string{"vault-doors"}) || pt.TargetDays != 5 {
		t.Errorf("its version 1: got items %v target %d, want [vault-doors] and 5", ids, pt.TargetDays)
	}
	cat, err := d.Catalogue(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(cat) != len(domain.Catalogue) {
		t.Fatalf("types after the migration: got %d, want %d", len(cat), len(domain.Catalogue))
	}
	for _, e := range cat {
		if e.Current.Version != 1 || len(e.Versions) != 1 || e.Versions[0].Version != 1 || e.Versions[0].CreatedBy != nil || e.Current.RetiredAt != nil {
			t.Errorf("%s after the migration: got current version %d, %d versions, retired %v; want version 1 only, by nobody, offered", e.Current.Code, e.Current.Version, len(e.Versions), e.Current.RetiredAt)
		}
	}
}

// Two admins publishing from the same version at once: one wins, the
// other is told (permit_version_conflict), and there is one version 2.
func TestPermitPublishRace(t *testing.T) {
	ctx := context.Background()
	d, u := catalogueDB(t)
	next := hotelV2(t, d)
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			_, err := d.PublishPermitType(ctx, u["admin"], "hotel", 1, next)
			errs <- err
		}()
	}
	won, lost := 0, 0
	for range 4 {
		switch err := <-errs; {
		case err == nil:
			won++
		case errCode(err) == domain.CodePermitVersionConflict:
			lost++
		default:
			t.Errorf("publish: got %v, want success or %s", err, domain.CodePermitVersionConflict)
		}
	}
	cat, err := d.Catalogue(ctx)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(cat, func(e domain.CatalogueEntry) bool { return e.Current.Code == "hotel" })
	if won != 1 || lost != 3 || cat[i].Current.Version != 2 || len(cat[i].Versions) != 2 {
		t.Errorf("got %d won, %d refused, current version %d, %d versions; want 1, 3, 2, 2", won, lost, cat[i].Current.Version, len(cat[i].Versions))
	}
}
