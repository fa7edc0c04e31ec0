package server_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"
)

// TestStoredReportKeepsItsCode: the second report of an unchanged case is
// the stored copy, byte for byte, and its issue is recorded with the code
// printed on it (the first issue's), so /verify answers for what the
// reader holds.
func TestStoredReportKeepsItsCode(t *testing.T) {
	e := newEnv(t)
	e.withReports(nil)
	cs, _ := e.decidedCase()
	path := "/api/v1/cases/" + cs.ID + "/report.pdf"
	first := e.req("zhouapp", "GET", path, nil, nil)
	second := e.req("zhouapp", "GET", path, nil, nil)
	if first.Code != http.StatusOK || second.Code != http.StatusOK || !bytes.Equal(first.Body.Bytes(), second.Body.Bytes()) {
		t.Fatalf("reports of an unchanged case: got %d and %d, equal %v; want 200 twice, the same bytes", first.Code, second.Code, bytes.Equal(first.Body.Bytes(), second.Body.Bytes()))
	}
	issued := e.issuedEvents(cs.ID)
	sha := hexSHA(first.Body.Bytes())
	if len(issued) != 2 || issued[0]["code"] != issued[1]["code"] || issued[0]["sha256"] != sha || issued[1]["sha256"] != sha {
		t.Fatalf("report.issued events: got %v, want two with one code and sha256 %s", issued, sha)
	}
	code, _ := issued[1]["code"].(string)
	// The JSON shows what is printed: its stored copy keeps its own code too.
	js1 := e.req("zhouapp", "GET", "/api/v1/cases/"+cs.ID+"/report.json", nil, nil)
	js2 := e.req("zhouapp", "GET", "/api/v1/cases/"+cs.ID+"/report.json", nil, nil)
	var rep struct {
		VerifyURL string `json:"verify_url"`
	}
	if err := json.Unmarshal(js2.Body.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	issued = e.issuedEvents(cs.ID)
	if !bytes.Equal(js1.Body.Bytes(), js2.Body.Bytes()) || len(issued) != 4 || issued[2]["code"] != issued[3]["code"] || issued[2]["code"] == code ||
		rep.VerifyURL != "https://permits.example.gov/verify/"+issued[3]["code"].(string) {
		t.Fatalf("report.json twice: got equal %v, verify_url %s, issued %v; want the same JSON printed with the code issued twice", bytes.Equal(js1.Body.Bytes(), js2.Body.Bytes()), rep.VerifyURL, issued[2:])
	}
	v := e.req("", "GET", "/verify/"+code, nil, map[string]string{"Accept": "application/json"})
	if v.Code != http.StatusOK || !bytes.Contains(v.Body.Bytes(), []byte(sha)) {
		t.Fatalf("verify %s: got %d %s, want 200 with sha256 %s", code, v.Code, v.Body, sha)
	}
}
