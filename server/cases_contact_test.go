package server_test

import (
	"net/http"
	"testing"

	"siteinspect/domain"
)

// TestCaseCompanyAndContact: a new case keeps the company's 统一社会信用代码
// (check character verified, capitals) and the contact person and phone;
// a wrong code or phone is refused with its code and opens nothing.
func TestCaseCompanyAndContact(t *testing.T) {
	e := newEnv(t)
	base := func() map[string]string {
		return map[string]string{"permit_type": "hotel", "site_name": "港湾酒店", "site_address": "港湾路1号",
			"credit_code": "9144030071526726xg", "contact_name": " 王芳 ", "contact_phone": "+86 138 0013 8000"}
	}
	var cs domain.Case
	e.json("appA", "POST", "/api/v1/cases", base(), http.StatusCreated, &cs)
	var got domain.Case
	e.json("insp", "GET", "/api/v1/cases/"+cs.ID, nil, http.StatusNotFound, nil) // a draft is the company's alone
	e.json("appA", "GET", "/api/v1/cases/"+cs.ID, nil, http.StatusOK, &got)
	if got.CreditCode != "9144030071526726XG" || got.ContactName != "王芳" || got.ContactPhone != "+86 138 0013 8000" {
		t.Errorf("stored: got %q %q %q, want 9144030071526726XG 王芳 +86 138 0013 8000", got.CreditCode, got.ContactName, got.ContactPhone)
	}
	for _, c := range []struct{ field, value, code string }{
		{"credit_code", "9144030071526726XA", domain.CodeCreditCodeInvalid},
		{"credit_code", "91440300715267", domain.CodeCreditCodeInvalid},
		{"contact_phone", "call me", domain.CodeContactPhoneInvalid},
	} {
		body := base()
		body[c.field] = c.value
		var out struct {
			Error struct{ Code string } `json:"error"`
		}
		e.json("appA", "POST", "/api/v1/cases", body, http.StatusBadRequest, &out)
		if out.Error.Code != c.code {
			t.Errorf("%s %q: got code %q, want %s", c.field, c.value, out.Error.Code, c.code)
		}
	}
	var list []domain.Case
	e.json("appA", "GET", "/api/v1/cases", nil, http.StatusOK, &list)
	if len(list) != 1 {
		t.Errorf("cases after the refusals: got %d, want the 1 created", len(list))
	}
}
