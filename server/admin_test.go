package server

import (
	"context"
	"encoding/json"
	"net/http"
	"siteinspect/domain"
	"slices"
	"testing"
	"time"
)

// adminJSON sends a JSON body as user and decodes the answer into out
// (when not nil), failing unless the status is want.
func (m *matrix) adminJSON(user, method, path string, body any, want int, out any) {
	m.t.Helper()
	var b []byte
	if body != nil {
		var err error
		if b, err = json.Marshal(body); err != nil {
			m.t.Fatal(err)
		}
	}
	code, ecode, w := m.send(user, method, path, b, map[string]string{"Content-Type": "application/json"})
	if code != want {
		m.t.Fatalf("%s %s as %s: got %d %s (%s), want %d", method, path, user, code, ecode, w.Body, want)
	}
	if out != nil {
		if err := json.Unmarshal(w.Body.Bytes(), out); err != nil {
			m.t.Fatalf("%s %s: decode %s: %v", method, path, w.Body, err)
		}
	}
}

// refused sends a request and checks its status and error code.
func (m *matrix) refused(user, method, path string, body any, wantStatus int, wantCode string) {
	m.t.Helper()
	b, _ := json.Marshal(body)
	code, ecode, w := m.send(user, method, path, b, map[string]string{"Content-Type": "application/json"})
	if code != wantStatus || ecode != wantCode {
		m.t.Fatalf("%s %s as %s: got %d %q (%s), want %d %q", method, path, user, code, ecode, w.Body, wantStatus, wantCode)
	}
}

// lastAudit is the newest event of action about target, failing when
// there is none.
func (m *matrix) lastAudit(target, action string) (*domain.AuditEvent, map[string]any) {
	m.t.Helper()
	list, err := m.db.TargetAudit(context.Background(), target, 1000)
	m.must(err)
	for i := len(list) - 1; i >= 0; i-- {
		if list[i].Action == action {
			var data map[string]any
			m.must(json.Unmarshal(list[i].Data, &data))
			return list[i], data
		}
	}
	m.t.Fatalf("no %s event about %s among %d", action, target, len(list))
	return nil, nil
}

// login posts a username and password and returns status, code and token.
func (m *matrix) login(username, password string) (int, string, string) {
	m.t.Helper()
	b, _ := json.Marshal(map[string]string{"username": username, "password": password})
	code, ecode, w := m.send("", "POST", "/api/v1/auth/login", b, map[string]string{"Content-Type": "application/json"})
	var resp struct {
		Token string `json:"token"`
	}
	json.Unmarshal(w.Body.Bytes(), &resp)
	return code, ecode, resp.Token
}

// TestAdminRoutesRefuseOthers: every administration route answers 403
// office_not_permitted to every role but admin, and changes nothing.
func TestAdminRoutesRefuseOthers(t *testing.T) {
	m := newMatrix(t)
	insp := m.users["insp"].ID
	routes := []struct {
		method, path string
		body         any
	}{
		{"GET", "/api/v1/admin/users", nil},
		{"POST", "/api/v1/admin/users", map[string]any{"username": "x1", "password": "long enough pw", "role": "inspector"}},
		{"PATCH", "/api/v1/admin/users/" + insp, map[string]any{"display_name": "Changed"}},
		{"POST", "/api/v1/admin/users/" + insp + "/password", map[string]any{"password": "long enough pw"}},
		{"POST", "/api/v1/admin/units", map[string]any{"name_zh": "一分中心", "name_en": "Unit 1"}},
		{"PATCH", "/api/v1/admin/units/nope", map[string]any{"name_zh": "一分中心", "name_en": "Unit 1"}},
		{"GET", "/api/v1/admin/settings", nil},
		{"PUT", "/api/v1/admin/settings", map[string]any{"name_zh": "改名"}},
	}
	head, _, err := m.db.AuditHead(context.Background())
	m.must(err)
	for _, user := range []string{"appA", "insp", "rev", "sup", "supOther", "inspOther"} {
		for _, r := range routes {
			m.refused(user, r.method, r.path, r.body, http.StatusForbidden, domain.CodeOfficeNotPermitted)
		}
	}
	for _, r := range routes[:1] {
		m.refused("", r.method, r.path, r.body, http.StatusUnauthorized, "unauthenticated")
	}
	after, _, err := m.db.AuditHead(context.Background())
	m.must(err)
	if after != head {
		t.Errorf("audit head after refused requests: got %d, want %d (nothing changed)", after, head)
	}
	u, err := m.db.UserByID(context.Background(), insp)
	m.must(err)
	if u.DisplayName != "insp" {
		t.Errorf("inspector's display name after refused edits: got %q, want insp", u.DisplayName)
	}
	// The admin is let through (the same routes answer 2xx or a refusal
	// of the input, never office_not_permitted).
	m.adminJSON("admin", "GET", "/api/v1/admin/users", nil, http.StatusOK, nil)
	m.adminJSON("admin", "GET", "/api/v1/admin/settings", nil, http.StatusOK, nil)
}

// TestAdminUsers: an admin creates, edits, disables, enables and resets
// accounts; each change is audited with its actor and before/after; a
// disabled user's session is refused at once and their login too; a reset
// password works and the old one does not.
func TestAdminUsers(t *testing.T) {
	m := newMatrix(t)
	admin := m.users["admin"]
	var created domain.User
	m.adminJSON("admin", "POST", "/api/v1/admin/users", map[string]any{"username": "wang", "password": "first password", "role": "inspector", "display_name": "王工"}, http.StatusCreated, &created)
	if created.Role != domain.RoleInspector || created.Org != "binhai" || created.DisplayName != "王工" {
		t.Errorf("created: got role %q org %q name %q, want inspector, binhai (the office), 王工", created.Role, created.Org, created.DisplayName)
	}
	ev, data := m.lastAudit(created.ID, "user.created")
	if ev.ActorID != admin.ID || data["username"] != "wang" || data["role"] != "inspector" {
		t.Errorf("user.created: got actor %s data %v, want actor %s, username wang, role inspector", ev.ActorID, data, admin.ID)
	}
	m.refused("admin", "POST", "/api/v1/admin/users", map[string]any{"username": "wang", "password": "first password", "role": "reviewer"}, http.StatusConflict, "username_taken")
	m.refused("admin", "POST", "/api/v1/admin/users", map[string]any{"username": "li", "password": "short", "role": "reviewer"}, http.StatusBadRequest, "password_length")
	m.refused("admin", "POST", "/api/v1/admin/users", map[string]any{"username": "co", "password": "first password", "role": "applicant"}, http.StatusBadRequest, "org_required")

	// The list filters.
	var list []domain.User
	m.adminJSON("admin", "GET", "/api/v1/admin/users?q=WAN&role=inspector", nil, http.StatusOK, &list)
	if len(list) != 1 || list[0].ID != created.ID {
		t.Errorf("list q=WAN role=inspector: got %v, want only wang", list)
	}
	m.adminJSON("admin", "GET", "/api/v1/admin/users?role=reviewer", nil, http.StatusOK, &list)
	if len(list) != 3 {
		t.Errorf("list role=reviewer: got %d users, want 3 (rev, rev2, revOther)", len(list))
	}

	// Edit: display name and role, with before and after.
	var edited domain.User
	m.adminJSON("admin", "PATCH", "/api/v1/admin/users/"+created.ID, map[string]any{"display_name": "王主任", "role": "reviewer"}, http.StatusOK, &edited)
	if edited.DisplayName != "王主任" || edited.Role != domain.RoleReviewer {
		t.Errorf("edited: got %q %q, want 王主任 reviewer", edited.DisplayName, edited.Role)
	}
	ev, data = m.lastAudit(created.ID, "user.updated")
	before, _ := data["before"].(map[string]any)
	after, _ := data["after"].(map[string]any)
	if ev.ActorID != admin.ID || before["display_name"] != "王工" || after["display_name"] != "王主任" || before["role"] != "inspector" || after["role"] != "reviewer" {
		t.Errorf("user.updated: got actor %s data %v, want the admin and display name 王工→王主任, role inspector→reviewer", ev.ActorID, data)
	}

	// Disable: the session in use is refused at once, and the login.
	code, _, token := m.login("wang", "first password")
	if code != http.StatusOK || token == "" {
		t.Fatalf("login before disabling: got %d, want 200 and a token", code)
	}
	m.tokens["wang"] = token
	m.adminJSON("wang", "GET", "/api/v1/me", nil, http.StatusOK, nil)
	m.adminJSON("admin", "PATCH", "/api/v1/admin/users/"+created.ID, map[string]any{"disabled": true}, http.StatusOK, &edited)
	if edited.DisabledAt == nil {
		t.Errorf("disabled user: got disabled_at nil, want a time")
	}
	_, data = m.lastAudit(created.ID, "user.updated")
	if after, _ := data["after"].(map[string]any); after["disabled"] != true {
		t.Errorf("disable audited: got %v, want after.disabled true", data)
	}
	m.refused("wang", "GET", "/api/v1/me", nil, http.StatusUnauthorized, "unauthenticated")
	if code, ecode, _ := m.login("wang", "first password"); code != http.StatusForbidden || ecode != domain.CodeAccountDisabled {
		t.Errorf("login while disabled: got %d %q, want 403 account_disabled", code, ecode)
	}
	if code, ecode, _ := m.login("wang", "wrong password!"); code != http.StatusUnauthorized || ecode != "bad_credentials" {
		t.Errorf("login while disabled with a wrong password: got %d %q, want 401 bad_credentials (disabled is told only to who knows the password)", code, ecode)
	}
	m.adminJSON("admin", "GET", "/api/v1/admin/users?disabled=true", nil, http.StatusOK, &list)
	if len(list) != 1 || list[0].ID != created.ID {
		t.Errorf("list disabled=true: got %d users, want only wang", len(list))
	}
	m.adminJSON("admin", "PATCH", "/api/v1/admin/users/"+created.ID, map[string]any{"disabled": false}, http.StatusOK, &edited)
	if code, _, _ := m.login("wang", "first password"); code != http.StatusOK {
		t.Errorf("login after enabling: got %d, want 200", code)
	}

	// Reset: the temporary password works, the old one and the old
	// session do not.
	_, _, token = m.login("wang", "first password")
	m.tokens["wang"] = token
	m.adminJSON("admin", "POST", "/api/v1/admin/users/"+created.ID+"/password", map[string]any{"password": "temporary password"}, http.StatusNoContent, nil)
	m.refused("wang", "GET", "/api/v1/me", nil, http.StatusUnauthorized, "unauthenticated")
	if code, ecode, _ := m.login("wang", "first password"); code != http.StatusUnauthorized || ecode != "bad_credentials" {
		t.Errorf("login with the old password: got %d %q, want 401 bad_credentials", code, ecode)
	}
	if code, _, _ := m.login("wang", "temporary password"); code != http.StatusOK {
		t.Errorf("login with the temporary password: got %d, want 200", code)
	}
	ev, data = m.lastAudit(created.ID, "user.password_reset")
	if ev.ActorID != admin.ID || data["username"] != "wang" || len(data) != 1 {
		t.Errorf("user.password_reset: got actor %s data %v, want the admin and only the username (never the password)", ev.ActorID, data)
	}
	m.refused("admin", "POST", "/api/v1/admin/users/"+created.ID+"/password", map[string]any{"password": "short"}, http.StatusBadRequest, "password_length")

	// The admin cannot disable themself, nor remove the last admin.
	m.refused("admin", "PATCH", "/api/v1/admin/users/"+admin.ID, map[string]any{"disabled": true}, http.StatusForbidden, domain.CodeSelfDisable)
	m.refused("admin", "PATCH", "/api/v1/admin/users/"+admin.ID, map[string]any{"role": "supervisor"}, http.StatusConflict, domain.CodeLastAdmin)
	var second domain.User
	m.adminJSON("admin", "POST", "/api/v1/admin/users", map[string]any{"username": "admin2", "password": "second admin pw", "role": "admin"}, http.StatusCreated, &second)
	m.adminJSON("admin", "PATCH", "/api/v1/admin/users/"+second.ID, map[string]any{"disabled": true}, http.StatusOK, nil)
	m.refused("admin", "PATCH", "/api/v1/admin/users/"+admin.ID, map[string]any{"role": "supervisor"}, http.StatusConflict, domain.CodeLastAdmin)
	m.adminJSON("admin", "PATCH", "/api/v1/admin/users/"+second.ID, map[string]any{"disabled": false}, http.StatusOK, nil)
	m.adminJSON("admin", "PATCH", "/api/v1/admin/users/"+admin.ID, map[string]any{"role": "supervisor"}, http.StatusOK, &edited)
	if edited.Role != domain.RoleSupervisor {
		t.Errorf("demoted with another admin enabled: got role %q, want supervisor", edited.Role)
	}
	// The demoted admin's session holds the new role at once.
	m.refused("admin", "GET", "/api/v1/admin/users", nil, http.StatusForbidden, domain.CodeOfficeNotPermitted)
}

// TestAdminSettings: office settings override the flags in GET
// /api/v1/config and the dates the server computes, at once; they are
// audited with before and after; bad input is refused with its code.
func TestAdminSettings(t *testing.T) {
	m := newMatrix(t) // Location UTC, no office name: the code shows
	var cfg publicConfig
	m.adminJSON("", "GET", "/api/v1/config", nil, http.StatusOK, &cfg)
	if cfg.Timezone != "UTC" || cfg.Office.Name != "binhai" {
		t.Fatalf("config before: got %q %q, want UTC binhai", cfg.Timezone, cfg.Office.Name)
	}
	var got settingsBody
	m.adminJSON("admin", "PUT", "/api/v1/admin/settings", map[string]any{"name_zh": "滨海新区行政审批局", "name_en": "Binhai Approvals Bureau", "timezone": "Asia/Shanghai", "retention_days": 3650}, http.StatusOK, &got)
	if got.Effective.Timezone != "Asia/Shanghai" || got.Effective.RetentionDays != 3650 || got.Defaults.Timezone != "UTC" || got.Defaults.RetentionDays != 180 {
		t.Errorf("settings: got effective %+v defaults %+v, want Asia/Shanghai 3650 over UTC 180", got.Effective, got.Defaults)
	}
	m.adminJSON("", "GET", "/api/v1/config", nil, http.StatusOK, &cfg)
	if cfg.Timezone != "Asia/Shanghai" || cfg.Office.NameZh != "滨海新区行政审批局" || cfg.Office.NameEn != "Binhai Approvals Bureau" || cfg.Office.Name != "滨海新区行政审批局" {
		t.Errorf("config after: got %q %+v, want Asia/Shanghai and the names set", cfg.Timezone, cfg.Office)
	}
	ev, data := m.lastAudit("binhai", "office.settings")
	before, _ := data["before"].(map[string]any)
	after, _ := data["after"].(map[string]any)
	if ev.ActorID != m.users["admin"].ID || before["timezone"] != "" || after["timezone"] != "Asia/Shanghai" || after["retention_days"] != float64(3650) {
		t.Errorf("office.settings: got actor %s data %v, want the admin and timezone ''→Asia/Shanghai, retention 3650", ev.ActorID, data)
	}
	// A case submitted now is due by the office day in Shanghai.
	f := m.build(domain.StatusDraft)
	var cs domain.Case
	m.adminJSON("appA", "POST", "/api/v1/cases/"+f.cs.ID+"/submit", nil, http.StatusOK, &cs)
	shanghai, _ := time.LoadLocation("Asia/Shanghai")
	pt, err := m.db.PermitType(context.Background(), "hotel")
	m.must(err)
	if want := domain.DueAt(*cs.SubmittedAt, pt.TargetDays, shanghai); cs.DueAt == nil || !cs.DueAt.Equal(want) {
		t.Errorf("due date after the zone changed: got %v, want %v (Shanghai's office day)", cs.DueAt, want)
	}
	m.refused("admin", "PUT", "/api/v1/admin/settings", map[string]any{"timezone": "Mars/Olympus"}, http.StatusBadRequest, domain.CodeBadTimezone)
	m.refused("admin", "PUT", "/api/v1/admin/settings", map[string]any{"retention_days": -1}, http.StatusBadRequest, domain.CodeBadRetention)
	// Empty fields fall back to the flags.
	m.adminJSON("admin", "PUT", "/api/v1/admin/settings", map[string]any{}, http.StatusOK, &got)
	m.adminJSON("", "GET", "/api/v1/config", nil, http.StatusOK, &cfg)
	if cfg.Timezone != "UTC" || cfg.Office.Name != "binhai" || got.Effective.RetentionDays != 180 {
		t.Errorf("config after clearing: got %q %q retention %d, want UTC binhai 180", cfg.Timezone, cfg.Office.Name, got.Effective.RetentionDays)
	}
}

// TestAdminUnits: units are created and renamed (audited), officers join
// them, a routed case's open slots go only to its unit's officers (the
// queue and the reviewer pairing), taking an unrouted case routes it to
// the inspector's unit, and the case list filters by ?unit=.
func TestAdminUnits(t *testing.T) {
	m := newMatrix(t)
	var u1, u2 domain.Unit
	m.adminJSON("admin", "POST", "/api/v1/admin/units", map[string]any{"name_zh": "一分中心", "name_en": "Unit One"}, http.StatusCreated, &u1)
	m.adminJSON("admin", "POST", "/api/v1/admin/units", map[string]any{"name_zh": "二分中心", "name_en": "Unit Two"}, http.StatusCreated, &u2)
	m.refused("admin", "POST", "/api/v1/admin/units", map[string]any{"name_zh": "一分中心", "name_en": "Again"}, http.StatusConflict, domain.CodeUnitNameTaken)
	m.adminJSON("admin", "PATCH", "/api/v1/admin/units/"+u2.ID, map[string]any{"name_zh": "第二分中心", "name_en": "Unit Two"}, http.StatusOK, nil)
	ev, data := m.lastAudit(u2.ID, "unit.updated")
	if b, _ := data["before"].(map[string]any); ev.ActorID != m.users["admin"].ID || b["name_zh"] != "二分中心" {
		t.Errorf("unit.updated: got actor %s data %v, want the admin and before 二分中心", ev.ActorID, data)
	}
	var units []domain.Unit
	m.adminJSON("insp", "GET", "/api/v1/units", nil, http.StatusOK, &units)
	if len(units) != 2 {
		t.Fatalf("units as an inspector: got %d, want 2", len(units))
	}
	for name, unit := range map[string]string{"insp": u1.ID, "rev": u1.ID, "insp2": u2.ID, "rev2": u2.ID} {
		m.adminJSON("admin", "PATCH", "/api/v1/admin/users/"+m.users[name].ID, map[string]any{"unit_id": unit}, http.StatusOK, nil)
		fresh, err := m.db.UserByID(context.Background(), m.users[name].ID)
		m.must(err)
		m.users[name] = fresh
	}
	m.refused("admin", "PATCH", "/api/v1/admin/users/"+m.users["insp"].ID, map[string]any{"unit_id": "nope"}, http.StatusBadRequest, domain.CodeUnknownUnit)

	routed := m.build(domain.StatusSubmitted)
	unrouted := m.build(domain.StatusSubmitted)
	m.adminJSON("admin", "POST", "/api/v1/cases/"+routed.cs.ID+"/route", map[string]any{"unit_id": u1.ID}, http.StatusOK, nil)
	if n := m.audited(routed.cs.ID, "case.routed"); n != 1 {
		t.Errorf("case.routed events: got %d, want 1", n)
	}
	m.refused("insp", "POST", "/api/v1/cases/"+unrouted.cs.ID+"/route", map[string]any{"unit_id": u1.ID}, http.StatusForbidden, domain.CodeNotPermitted)
	m.refused("sup", "POST", "/api/v1/cases/"+unrouted.cs.ID+"/route", map[string]any{"unit_id": u1.ID}, http.StatusForbidden, domain.CodeNotPermitted)

	queue := func(user, query string) []string {
		t.Helper()
		var list []domain.Case
		m.adminJSON(user, "GET", "/api/v1/cases"+query, nil, http.StatusOK, &list)
		var ids []string
		for _, c := range list {
			ids = append(ids, c.ID)
		}
		return ids
	}
	has := func(ids []string, id string) bool { return slices.Contains(ids, id) }
	if q := queue("insp", ""); !has(q, routed.cs.ID) || !has(q, unrouted.cs.ID) {
		t.Errorf("unit one's inspector's queue: got %v, want the routed case and the unrouted one", q)
	}
	if q := queue("insp2", ""); has(q, routed.cs.ID) || !has(q, unrouted.cs.ID) {
		t.Errorf("unit two's inspector's queue: got %v, want the unrouted case only", q)
	}
	if q := queue("admin", "?unit="+u1.ID); len(q) != 1 || q[0] != routed.cs.ID {
		t.Errorf("?unit=unit one as admin: got %v, want only the routed case", q)
	}
	m.refused("insp2", "POST", "/api/v1/cases/"+routed.cs.ID+"/assign", nil, http.StatusNotFound, "not_found")

	// Taking the unrouted case routes it to the inspector's unit (two).
	var cs domain.Case
	m.adminJSON("insp2", "POST", "/api/v1/cases/"+unrouted.cs.ID+"/assign", nil, http.StatusOK, &cs)
	if cs.UnitID != u2.ID {
		t.Errorf("unrouted case taken by unit two's inspector: got unit %q, want %q", cs.UnitID, u2.ID)
	}
	if q := queue("admin", "?unit="+u2.ID); len(q) != 1 || q[0] != unrouted.cs.ID {
		t.Errorf("?unit=unit two as admin: got %v, want only the case unit two's inspector took", q)
	}
	// The pairing per unit: unit one's reviewer cannot take the
	// countersign slot of unit two's case; unit two's reviewer can.
	m.refused("rev", "POST", "/api/v1/cases/"+unrouted.cs.ID+"/assign", nil, http.StatusNotFound, "not_found")
	m.adminJSON("rev2", "POST", "/api/v1/cases/"+unrouted.cs.ID+"/assign", nil, http.StatusOK, &cs)
	if cs.Reviewer == nil || cs.Reviewer.ID != m.users["rev2"].ID {
		t.Errorf("unit two's reviewer taking the slot: got %+v, want rev2", cs.Reviewer)
	}
	// And on the routed case, unit one's.
	m.adminJSON("insp", "POST", "/api/v1/cases/"+routed.cs.ID+"/assign", nil, http.StatusOK, nil)
	m.refused("rev2", "POST", "/api/v1/cases/"+routed.cs.ID+"/assign", nil, http.StatusNotFound, "not_found")
	m.adminJSON("rev", "POST", "/api/v1/cases/"+routed.cs.ID+"/assign", nil, http.StatusOK, &cs)
	if cs.Reviewer == nil || cs.Reviewer.ID != m.users["rev"].ID || cs.UnitID != u1.ID {
		t.Errorf("unit one's reviewer on the routed case: got reviewer %+v unit %q, want rev and unit one", cs.Reviewer, cs.UnitID)
	}
}
