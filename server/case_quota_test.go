package server

import (
	"encoding/json"
	"net/http"
	"strconv"
	"testing"
)

// TestCaseQuotaAnswer: past the company's daily cases (storage's
// TestCaseCompanyQuota has the rule), POST /cases answers 429
// case_quota_exceeded with a Retry-After of at most a day.
func TestCaseQuotaAnswer(t *testing.T) {
	e := newFuzzEnv(t, false)
	e.db.SetCompanyDailyCases(2)
	body := []byte(`{"permit_type":"hotel","site_name":"s","site_address":"a"}`)
	hdr := map[string]string{"Content-Type": "application/json"}
	for range 2 {
		e.mustDo(t, "app", "POST", "/api/v1/cases", hdr, body, http.StatusCreated)
	}
	w := e.mustDo(t, "app", "POST", "/api/v1/cases", hdr, body, http.StatusTooManyRequests)
	var got struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil || got.Error.Code != "case_quota_exceeded" {
		t.Fatalf("body %s (%v), want code case_quota_exceeded", w.Body, err)
	}
	if s, err := strconv.Atoi(w.Header().Get("Retry-After")); err != nil || s < 1 || s > 24*3600 {
		t.Errorf("Retry-After %q, want 1 to 86400 seconds", w.Header().Get("Retry-After"))
	}
}
