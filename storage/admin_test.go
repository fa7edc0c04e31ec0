package storage_test

import (
	"context"
	"errors"
	"siteinspect/domain"
	"siteinspect/internal/testenv"
	"siteinspect/storage"
	"testing"
	"time"
)

// codeOf is the stable code of a domain error, "" for none.
func codeOf(err error) string {
	var de *domain.Error
	if errors.As(err, &de) {
		return de.Code
	}
	return ""
}

// TestAdminStorage runs on SQLite, and on PostgreSQL under
// scripts/with-postgres.sh with SITEINSPECT_TEST_DB=postgres: usernames
// unique by the database's own code, a disabled user's sessions and login
// gone, the last admin kept, a reset password, units unique per office,
// settings saved and audited, and the case list's unit rules in SQL.
func TestAdminStorage(t *testing.T) {
	db := testenv.NewDB(t)
	db.SetPasswordCost(4)
	ctx := context.Background()
	admin, err := db.CreateUser(ctx, "root", "root password", domain.RoleAdmin, "Root", "binhai")
	if err != nil {
		t.Fatal(err)
	}
	u, err := db.CreateUserAs(ctx, admin, storage.NewUserInput{Username: "zhao", Password: "first password", Role: domain.RoleInspector, Org: "binhai"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.CreateUserAs(ctx, admin, storage.NewUserInput{Username: "zhao", Password: "first password", Role: domain.RoleReviewer, Org: "binhai"}); codeOf(err) != "username_taken" || !errors.Is(err, domain.ErrConflict) {
		t.Errorf("second zhao: got %v, want ErrConflict username_taken", err)
	}

	// Disable: sessions deleted and refused, login refused.
	token, _, err := db.CreateSession(ctx, u.ID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.SessionByToken(ctx, token); err != nil {
		t.Fatalf("session before disabling: got %v, want it", err)
	}
	off := true
	got, err := db.UpdateUser(ctx, admin, u.ID, domain.UserEdit{Disabled: &off})
	if err != nil || got.DisabledAt == nil {
		t.Fatalf("disable: got %+v, %v, want disabled_at set", got, err)
	}
	if _, err := db.SessionByToken(ctx, token); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("session after disabling: got %v, want ErrNotFound", err)
	}
	var left int
	if err := db.SQL().QueryRowContext(ctx, rebind(db, `SELECT COUNT(*) FROM sessions WHERE user_id = ?`), u.ID).Scan(&left); err != nil || left != 0 {
		t.Errorf("sessions rows after disabling: got %d (%v), want 0", left, err)
	}
	if _, err := db.Authenticate(ctx, "zhao", "first password"); codeOf(err) != domain.CodeAccountDisabled {
		t.Errorf("login while disabled: got %v, want account_disabled", err)
	}
	on := false
	if _, err := db.UpdateUser(ctx, admin, u.ID, domain.UserEdit{Disabled: &on}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Authenticate(ctx, "zhao", "first password"); err != nil {
		t.Errorf("login after enabling: got %v, want nil", err)
	}

	// Reset.
	if err := db.ResetPassword(ctx, admin, u.ID, "temporary pw 1"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Authenticate(ctx, "zhao", "first password"); codeOf(err) != "bad_credentials" {
		t.Errorf("old password after reset: got %v, want bad_credentials", err)
	}
	if _, err := db.Authenticate(ctx, "zhao", "temporary pw 1"); err != nil {
		t.Errorf("temporary password: got %v, want nil", err)
	}

	// The last admin.
	demote := domain.RoleSupervisor
	if _, err := db.UpdateUser(ctx, admin, admin.ID, domain.UserEdit{Role: &demote}); codeOf(err) != domain.CodeLastAdmin {
		t.Errorf("demoting the last admin: got %v, want last_admin", err)
	}
	if _, err := db.UpdateUser(ctx, admin, admin.ID, domain.UserEdit{Disabled: &off}); codeOf(err) != domain.CodeSelfDisable {
		t.Errorf("disabling oneself: got %v, want cannot_disable_self", err)
	}

	// Units.
	one, err := db.CreateUnit(ctx, admin, "binhai", "一分中心", "Unit One")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.CreateUnit(ctx, admin, "binhai", "一分中心", "Dup"); codeOf(err) != domain.CodeUnitNameTaken {
		t.Errorf("duplicate unit name: got %v, want unit_name_taken", err)
	}
	if _, err := db.CreateUnit(ctx, admin, "elsewhere", "一分中心", "Other office's"); err != nil {
		t.Errorf("the same name in another office: got %v, want nil", err)
	}
	unit := one.ID
	if _, err := db.UpdateUser(ctx, admin, u.ID, domain.UserEdit{UnitID: &unit}); err != nil {
		t.Fatal(err)
	}
	if units, err := db.Units(ctx, "binhai"); err != nil || len(units) != 1 || units[0].NameEn != "Unit One" {
		t.Errorf("units of binhai: got %v, %v, want Unit One only", units, err)
	}

	// Settings.
	s, err := db.SaveOfficeSettings(ctx, admin, domain.OfficeSettings{Office: "binhai", NameZh: "滨海", Timezone: "Asia/Shanghai", RetentionDays: 400})
	if err != nil {
		t.Fatal(err)
	}
	if s.NameZh != "滨海" || s.Timezone != "Asia/Shanghai" || s.RetentionDays != 400 || s.UpdatedBy != admin.ID {
		t.Errorf("settings: got %+v, want 滨海 Asia/Shanghai 400 by root", s)
	}
	if _, err := db.SaveOfficeSettings(ctx, admin, domain.OfficeSettings{Office: "binhai", Timezone: "Nowhere/Town"}); codeOf(err) != domain.CodeBadTimezone {
		t.Errorf("bad zone: got %v, want bad_timezone", err)
	}
	events, err := db.TargetAudit(ctx, "binhai", 10)
	if err != nil || len(events) != 1 || events[0].Action != "office.settings" || events[0].ActorID != admin.ID {
		t.Errorf("settings audit: got %v, %v, want one office.settings by root", events, err)
	}
	ret := &storage.Retention{DB: db, Default: 180 * 24 * time.Hour, Office: "binhai"}
	if got := ret.Period("hotel"); got != 400*24*time.Hour {
		t.Errorf("retention period with the office's setting: got %v, want 400 days", got)
	}

	// The unit rule in SQL: a routed case is in its unit's queue only.
	app, err := db.CreateUser(ctx, "acme", "acme password", domain.RoleApplicant, "", "Acme")
	if err != nil {
		t.Fatal(err)
	}
	other, err := db.CreateUserAs(ctx, admin, storage.NewUserInput{Username: "qian", Password: "first password", Role: domain.RoleInspector, Org: "binhai"})
	if err != nil {
		t.Fatal(err)
	}
	cs, err := db.CreateCase(ctx, app, "binhai", "BH", time.UTC, domain.NewCase{PermitType: "hotel", SiteName: "Inn", SiteAddress: "1 Road"})
	if err != nil {
		t.Fatal(err)
	}
	// Submitted without evidence: a direct write, as only the unit rule
	// matters here.
	if _, err := db.SQL().ExecContext(ctx, rebind(db, `UPDATE cases SET status = 'submitted' WHERE id = ?`), cs.ID); err != nil {
		t.Fatal(err)
	}
	if cs, err = db.Case(ctx, cs.ID); err != nil {
		t.Fatal(err)
	}
	if cs, err = db.RouteCase(ctx, cs, admin, one.ID); err != nil || cs.UnitID != one.ID {
		t.Fatalf("route: got %v, %v, want unit one", cs, err)
	}
	member, err := db.UserByID(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		who  *domain.User
		q    storage.CaseQuery
		want int
	}{
		{member, storage.CaseQuery{Limit: 10}, 1},
		{other, storage.CaseQuery{Limit: 10}, 0},
		{admin, storage.CaseQuery{Unit: one.ID, Limit: 10}, 1},
		{admin, storage.CaseQuery{Unit: "none", Limit: 10}, 0},
	} {
		list, _, err := db.FindCases(ctx, tc.who, tc.q)
		if err != nil || len(list) != tc.want {
			t.Errorf("FindCases as %s unit %q: got %d (%v), want %d", tc.who.Username, tc.q.Unit, len(list), err, tc.want)
		}
	}
	if _, err := db.AssignCase(ctx, cs, other, "", ""); err == nil {
		t.Errorf("an inspector of no unit taking a case routed to a unit: got nil, want a refusal")
	}
}

// rebind is q with PostgreSQL's $n placeholders on PostgreSQL.
func rebind(db *storage.DB, q string) string {
	if db.Dialect() != "postgres" {
		return q
	}
	out, n := []byte{}, 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			out = append(out, []byte("$"+string(rune('0'+n)))...)
			continue
		}
		out = append(out, q[i])
	}
	return string(out)
}
