package server

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"siteinspect/domain"
	"slices"
	"testing"
)

var mergePatchHeader = map[string]string{"Content-Type": "application/merge-patch+json"}

// patch sends body as a JSON Merge Patch (application/merge-patch+json)
// and decodes the answer into out (when not nil), failing unless the
// status is want.
func (m *matrix) patch(user, path, body string, want int, out any) {
	m.t.Helper()
	code, ecode, w := m.send(user, "PATCH", path, []byte(body), mergePatchHeader)
	if code != want {
		m.t.Fatalf("PATCH %s %s as %s: got %d %s (%s), want %d", path, body, user, code, ecode, w.Body, want)
	}
	if out != nil {
		if err := json.Unmarshal(w.Body.Bytes(), out); err != nil {
			m.t.Fatalf("PATCH %s: decode %s: %v", path, w.Body, err)
		}
	}
}

// TestAdminMergePatch: PATCH on a user and on a unit is a JSON Merge Patch
// (API.md "PATCH"): application/merge-patch+json is taken, a field left out
// stays as it is, null removes an optional field (a user's unit, the
// disabled mark) and is refused on a required one.
func TestAdminMergePatch(t *testing.T) {
	m := newMatrix(t)
	ctx := context.Background()
	var unit domain.Unit
	m.adminJSON("admin", "POST", "/api/v1/admin/units", map[string]any{"name_zh": "一分中心", "name_en": "Unit 1"}, http.StatusCreated, &unit)

	// A unit: only the English name; the Chinese one stays.
	var got domain.Unit
	m.patch("admin", "/api/v1/admin/units/"+unit.ID, `{"name_en":"Unit One"}`, http.StatusOK, &got)
	if got.NameZh != "一分中心" || got.NameEn != "Unit One" {
		t.Errorf("unit after patching name_en: got %q %q, want 一分中心 Unit One", got.NameZh, got.NameEn)
	}
	units, err := m.db.Units(ctx, "binhai")
	m.must(err)
	if len(units) != 1 || units[0].NameZh != "一分中心" || units[0].NameEn != "Unit One" {
		t.Errorf("stored units: got %+v, want 一分中心 / Unit One", units)
	}
	// Plain JSON is still accepted.
	m.adminJSON("admin", "PATCH", "/api/v1/admin/units/"+unit.ID, map[string]any{"name_zh": "第一分中心"}, http.StatusOK, &got)
	if got.NameZh != "第一分中心" || got.NameEn != "Unit One" {
		t.Errorf("unit after patching name_zh: got %q %q, want 第一分中心 Unit One", got.NameZh, got.NameEn)
	}
	for _, body := range []string{`{"name_zh":null}`, `{"name_en":""}`} {
		if code, ecode, w := m.send("admin", "PATCH", "/api/v1/admin/units/"+unit.ID, []byte(body), mergePatchHeader); code != http.StatusBadRequest || ecode != "unit_name_invalid" {
			t.Errorf("PATCH unit %s: got %d %s %s, want 400 unit_name_invalid", body, code, ecode, w.Body)
		}
	}
	if code, _, w := m.send("admin", "PATCH", "/api/v1/admin/units/"+unit.ID, []byte(`{"name":"x"}`), mergePatchHeader); code != http.StatusBadRequest {
		t.Errorf("PATCH unit with an unknown field: got %d %s, want 400", code, w.Body)
	}
	if code, _, w := m.send("admin", "PATCH", "/api/v1/admin/units/"+unit.ID, []byte(`{"name_en":"X"}`), map[string]string{"Content-Type": "text/plain"}); code != http.StatusUnsupportedMediaType {
		t.Errorf("PATCH unit as text/plain: got %d %s, want 415", code, w.Body)
	}

	// A user: into the unit, then unit_id null takes them out.
	insp := m.users["insp"].ID
	var u domain.User
	m.patch("admin", "/api/v1/admin/users/"+insp, `{"unit_id":"`+unit.ID+`","display_name":"Inspector One"}`, http.StatusOK, &u)
	if u.UnitID != unit.ID || u.DisplayName != "Inspector One" {
		t.Fatalf("user after patch: got unit %q name %q, want %q Inspector One", u.UnitID, u.DisplayName, unit.ID)
	}
	m.patch("admin", "/api/v1/admin/users/"+insp, `{"unit_id":null}`, http.StatusOK, &u)
	stored, err := m.db.UserByID(ctx, insp)
	m.must(err)
	if stored.UnitID != "" || stored.DisplayName != "Inspector One" || stored.Role != domain.RoleInspector {
		t.Errorf("user after unit_id null: got unit %q name %q role %s, want no unit, the name and role kept", stored.UnitID, stored.DisplayName, stored.Role)
	}
	// disabled, then null enables again.
	m.patch("admin", "/api/v1/admin/users/"+insp, `{"disabled":true}`, http.StatusOK, nil)
	if stored, _ = m.db.UserByID(ctx, insp); stored.DisabledAt == nil {
		t.Fatal("user after disabled true: not disabled")
	}
	m.patch("admin", "/api/v1/admin/users/"+insp, `{"disabled":null}`, http.StatusOK, nil)
	if stored, _ = m.db.UserByID(ctx, insp); stored.DisabledAt != nil {
		t.Error("user after disabled null: still disabled, want enabled")
	}
	for body, want := range map[string]string{`{"display_name":null}`: "display_name_invalid", `{"role":null}`: "unknown_role", `{"password":null}`: "password_length"} {
		if code, ecode, w := m.send("admin", "PATCH", "/api/v1/admin/users/"+insp, []byte(body), mergePatchHeader); code != http.StatusBadRequest || ecode != want {
			t.Errorf("PATCH user %s: got %d %s %s, want 400 %s", body, code, ecode, w.Body, want)
		}
	}
	if code, _, w := m.send("admin", "PATCH", "/api/v1/admin/users/"+insp, []byte(`{"nickname":"x"}`), mergePatchHeader); code != http.StatusBadRequest {
		t.Errorf("PATCH user with an unknown field: got %d %s, want 400", code, w.Body)
	}

	// "password" resets the password with the other fields, in one
	// transaction: the old session ends, the new password logs in.
	m.patch("admin", "/api/v1/admin/users/"+insp, `{"display_name":"Inspector 1","password":"a new temporary pw"}`, http.StatusOK, &u)
	if u.DisplayName != "Inspector 1" {
		t.Errorf("display name with the reset: got %q, want Inspector 1", u.DisplayName)
	}
	if code, _, _ := m.send("insp", "GET", "/api/v1/me", nil, nil); code != http.StatusUnauthorized {
		t.Errorf("the user's old session after the reset: got %d, want 401", code)
	}
	if code, ecode, _ := m.login("insp", "a new temporary pw"); code != http.StatusOK {
		t.Errorf("login with the new password: got %d %s, want 200", code, ecode)
	}
	if code, _, _ := m.login("insp", "password-insp"); code != http.StatusUnauthorized {
		t.Errorf("login with the old password: got %d, want 401", code)
	}
	if ev, data := m.lastAudit(insp, "user.password_reset"); ev.ActorID != m.users["admin"].ID || data["password"] != nil {
		t.Errorf("user.password_reset: got actor %s data %v, want the admin and no password", ev.ActorID, data)
	}
	// A refused part refuses the whole: the password is not changed.
	if code, ecode, _ := m.send("admin", "PATCH", "/api/v1/admin/users/"+insp, []byte(`{"unit_id":"nope","password":"yet another pw 1"}`), mergePatchHeader); code != http.StatusBadRequest || ecode != domain.CodeUnknownUnit {
		t.Errorf("PATCH with an unknown unit and a password: got %d %s, want 400 %s", code, ecode, domain.CodeUnknownUnit)
	}
	if code, _, _ := m.login("insp", "yet another pw 1"); code == http.StatusOK {
		t.Error("the password of a refused patch logs in, want it not set")
	}
	if code, ecode, _ := m.send("admin", "PATCH", "/api/v1/admin/users/"+insp, []byte(`{"password":"short"}`), mergePatchHeader); code != http.StatusBadRequest || ecode != "password_length" {
		t.Errorf("PATCH with a short password: got %d %s, want 400 password_length", code, ecode)
	}
}

// TestAdminContractRoutes: API.md's addresses GET and POST /api/v1/users,
// PATCH /api/v1/users/{id} (disable, role, reset password) and PUT
// /api/v1/permit-types/{code} answer as the admin routes do, to admins
// only.
func TestAdminContractRoutes(t *testing.T) {
	m := newMatrix(t)
	ctx := context.Background()
	insp := m.users["insp"].ID
	hotel := hotelV2Body(t, m, 1)
	refused := []struct {
		method, path string
		body         []byte
		code         string
	}{
		{"GET", "/api/v1/users", nil, domain.CodeOfficeNotPermitted},
		{"POST", "/api/v1/users", []byte(`{"username":"x1","password":"long enough pw","role":"inspector"}`), domain.CodeOfficeNotPermitted},
		{"PATCH", "/api/v1/users/" + insp, []byte(`{"disabled":true}`), domain.CodeOfficeNotPermitted},
		{"PUT", "/api/v1/permit-types/hotel", hotel, domain.CodeCatalogueAdminsOnly},
	}
	head, _, err := m.db.AuditHead(ctx)
	m.must(err)
	for _, user := range []string{"appA", "insp", "rev", "sup"} {
		for _, r := range refused {
			if code, ecode, w := m.send(user, r.method, r.path, r.body, jsonHeader); code != http.StatusForbidden || ecode != r.code {
				t.Errorf("%s %s as %s: got %d %s %s, want 403 %s", r.method, r.path, user, code, ecode, w.Body, r.code)
			}
		}
	}
	if code, _, _ := m.send("", "GET", "/api/v1/users", nil, nil); code != http.StatusUnauthorized {
		t.Errorf("GET /api/v1/users without a login: got %d, want 401", code)
	}
	if after, _, err := m.db.AuditHead(ctx); err != nil || after != head {
		t.Errorf("audit head after the refusals: got %d %v, want %d", after, err, head)
	}

	var list []domain.User
	m.adminJSON("admin", "GET", "/api/v1/users?role=inspector", nil, http.StatusOK, &list)
	if len(list) == 0 || list[0].Role != domain.RoleInspector {
		t.Errorf("GET /api/v1/users?role=inspector: got %+v, want inspectors", list)
	}
	var created domain.User
	m.adminJSON("admin", "POST", "/api/v1/users", map[string]any{"username": "newinsp", "password": "first password", "role": "inspector",
		"display_name": "New Inspector", "org": "binhai"}, http.StatusCreated, &created)
	if created.Username != "newinsp" || created.Org != "binhai" {
		t.Errorf("POST /api/v1/users: got %+v", created)
	}
	if code, _, _ := m.login("newinsp", "first password"); code != http.StatusOK {
		t.Errorf("login of the created user: got %d, want 200", code)
	}
	// Roles, disabling and a password reset.
	var u domain.User
	m.patch("admin", "/api/v1/users/"+created.ID, `{"role":"reviewer"}`, http.StatusOK, &u)
	if u.Role != domain.RoleReviewer {
		t.Errorf("role after PATCH: got %s, want reviewer", u.Role)
	}
	m.patch("admin", "/api/v1/users/"+created.ID, `{"disabled":true}`, http.StatusOK, nil)
	if code, ecode, _ := m.login("newinsp", "first password"); code != http.StatusForbidden || ecode != domain.CodeAccountDisabled {
		t.Errorf("login of the disabled user: got %d %s, want 403 %s", code, ecode, domain.CodeAccountDisabled)
	}
	m.patch("admin", "/api/v1/users/"+created.ID, `{"disabled":false,"password":"second password"}`, http.StatusOK, nil)
	if code, _, _ := m.login("newinsp", "second password"); code != http.StatusOK {
		t.Errorf("login with the reset password after enabling: got %d, want 200", code)
	}
	if code, _, _ := m.login("newinsp", "first password"); code != http.StatusUnauthorized {
		t.Errorf("login with the old password: got %d, want 401", code)
	}

	// PUT /api/v1/permit-types/hotel publishes version 2.
	code, ecode, w := m.send("admin", "PUT", "/api/v1/permit-types/hotel", hotel, jsonHeader)
	if code != http.StatusCreated {
		t.Fatalf("PUT /api/v1/permit-types/hotel: got %d %s %s, want 201", code, ecode, w.Body)
	}
	pt, err := m.db.PermitType(ctx, "hotel")
	m.must(err)
	if pt.Version != 2 || pt.TargetDays != 3 || !slices.ContainsFunc(pt.Checklist, func(it domain.ChecklistItem) bool { return it.ID == "smoke-detectors" }) {
		t.Errorf("hotel after PUT: got version %d target %d checklist %v, want version 2 with smoke-detectors and 3 days", pt.Version, pt.TargetDays, pt.Checklist)
	}
	if et := w.Header().Get("ETag"); et != `"2"` {
		t.Errorf("ETag after PUT: got %q, want \"2\"", et)
	}
	// The base by If-Match: a stale one is 412, the current one publishes.
	noBase := bytes.Replace(hotelV2Body(t, m, 0), []byte(`"base_version":0,`), nil, 1)
	if code, ecode, w := m.send("admin", "PUT", "/api/v1/permit-types/hotel", noBase, map[string]string{"Content-Type": "application/json", "If-Match": `"1"`}); code != http.StatusPreconditionFailed || ecode != domain.CodePermitVersionConflict {
		t.Errorf("PUT with a stale If-Match: got %d %s %s, want 412 %s", code, ecode, w.Body, domain.CodePermitVersionConflict)
	}
	if code, ecode, w := m.send("admin", "PUT", "/api/v1/permit-types/hotel", noBase, map[string]string{"Content-Type": "application/json", "If-Match": `"2"`}); code != http.StatusCreated {
		t.Errorf("PUT with If-Match 2: got %d %s %s, want 201", code, ecode, w.Body)
	}
	if code, _, w := m.send("admin", "PUT", "/api/v1/permit-types/nope", noBase, jsonHeader); code != http.StatusNotFound {
		t.Errorf("PUT on an unknown type: got %d %s, want 404", code, w.Body)
	}
}
