package server_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"siteinspect/domain"
)

// caseOwed is a case as the API shows it.
type caseOwed struct{ domain.Case }

// uploadOwed sends data as the material for owed item owedID of the case
// (Upload-Metadata owed_item) and returns the status of the request that
// answered last, its error code, and the evidence id when it completed.
func (e *env) uploadOwed(user, caseID, owedID, name string, data []byte) (int, string, string) {
	e.t.Helper()
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	meta := "filename " + b64(name) + ",filetype " + b64("application/pdf")
	if owedID != "" {
		meta += ",owed_item " + b64(owedID)
	}
	w := e.req(user, "POST", "/api/v1/cases/"+caseID+"/uploads", nil, map[string]string{
		"Tus-Resumable": "1.0.0", "Upload-Length": strconv.Itoa(len(data)), "Upload-Metadata": meta})
	if w.Code != http.StatusCreated {
		return w.Code, errorCode(w.Body.Bytes()), ""
	}
	w = e.req(user, "PATCH", w.Header().Get("Location"), bytes.NewReader(data), map[string]string{
		"Tus-Resumable": "1.0.0", "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"})
	return w.Code, errorCode(w.Body.Bytes()), w.Header().Get("Evidence-Id")
}

func errorCode(body []byte) string {
	var v struct {
		Error struct{ Code string } `json:"error"`
	}
	json.Unmarshal(body, &v)
	return v.Error.Code
}

// auditActions lists the actions of a case's audit trail, as the admin reads it.
func (e *env) auditActions(caseID string) []string {
	e.t.Helper()
	var events []domain.AuditEvent
	e.json("admin", "GET", "/api/v1/cases/"+caseID+"/audit", nil, http.StatusOK, &events)
	var out []string
	for _, ev := range events {
		out = append(out, ev.Action)
	}
	return out
}

// TestOwedLoop is 承诺办 end to end over the API: the applicant signs the
// commitment before submitting, the case is approved with two materials
// owed, the applicant delivers each into its slot, the inspector returns
// one (the slot opens again) and accepts both, an item past due shows as
// overdue and on the office's escalation list, and the case closes when
// nothing is owed — with the refusals on the way (another company, a
// plain upload to the approved case, a slot already filled).
func TestOwedLoop(t *testing.T) {
	e := newEnv(t)
	cs := e.newCase("appA")
	path := "/api/v1/cases/" + cs.ID
	e.upload("appA", cs.ID, "walk.mp4", video(2000))

	// The commitment: the permit type's materials only, agreed, signed by name.
	sign := func(user string, body map[string]any, want int, code string) *domain.Commitment {
		t.Helper()
		w := e.req(user, "POST", path+"/commitment", strings.NewReader(mustJSON(body)), map[string]string{"Content-Type": "application/json"})
		if w.Code != want || code != "" && errorCode(w.Body.Bytes()) != code {
			t.Fatalf("sign commitment %v as %s: got %d %s, want %d %s", body, user, w.Code, w.Body, want, code)
		}
		var c domain.Commitment
		json.Unmarshal(w.Body.Bytes(), &c)
		return &c
	}
	good := map[string]any{"items": []string{"营业执照", "Floor plan"}, "signer_name": "张三", "agree": true}
	sign("appA", map[string]any{"items": []string{"营业执照"}, "signer_name": "张三", "agree": false}, http.StatusBadRequest, domain.CodeCommitmentInvalid)
	sign("appA", map[string]any{"items": []string{"赌场执照"}, "signer_name": "张三", "agree": true}, http.StatusBadRequest, domain.CodeCommitmentInvalid)
	sign("appA", map[string]any{"items": []string{"营业执照"}, "signer_name": " ", "agree": true}, http.StatusBadRequest, domain.CodeCommitmentInvalid)
	sign("appB", good, http.StatusNotFound, "")
	sign("insp", good, http.StatusNotFound, "")
	signed := sign("appA", good, http.StatusCreated, "")
	if len(signed.Items) != 2 || signed.Items[0].Material.ZH != "营业执照" || signed.Items[1].Material.ZH != "平面图" || signed.SignerName != "张三" ||
		signed.Statement != domain.CommitmentStatement || signed.Signer == nil || signed.Signer.ID != e.users["appA"].ID {
		t.Fatalf("signed: got %+v", signed)
	}
	if d := time.Until(signed.Items[0].DueAt); d < 59*24*time.Hour || d > 64*24*time.Hour {
		t.Fatalf("commitment due %v: got %v from now, want about 60 days", signed.Items[0].DueAt, d)
	}
	e.json("appA", "POST", path+"/submit", nil, http.StatusOK, nil)
	sign("appA", good, http.StatusUnprocessableEntity, domain.CodeWrongState) // signed before submission only
	var got *domain.Commitment
	e.json("insp", "GET", path+"/commitment", nil, http.StatusOK, &got)
	if got == nil || got.SignerName != "张三" || len(got.Items) != 2 || !got.SignedAt.Equal(signed.SignedAt) {
		t.Fatalf("commitment as the inspector reads it: got %+v, want the one signed", got)
	}

	// Approval with the committed materials owed.
	e.json("insp", "POST", path+"/assign", nil, http.StatusOK, nil)
	e.json("rev", "POST", path+"/assign", nil, http.StatusOK, nil)
	for _, item := range []string{"cctv-entrances", "fire-exits", "guest-registration", "valuables-storage"} {
		e.json("insp", "POST", path+"/findings", map[string]any{"checklist_item": item, "result": "pass"}, http.StatusCreated, nil)
	}
	e.json("insp", "POST", path+"/decision", map[string]any{"outcome": "approve", "summary": "现场符合要求，容缺后补", "owed": []string{"营业执照", "平面图"}}, http.StatusOK, nil)
	var c caseOwed
	e.json("rev", "POST", path+"/countersign", map[string]any{"agree": true}, http.StatusOK, &c)
	if c.Status != domain.StatusApproved || c.OwedOpen != 2 || c.OwedClosedAt != nil {
		t.Fatalf("approved: got %q owed_open %d closed %v, want approved, 2 owed, open", c.Status, c.OwedOpen, c.OwedClosedAt)
	}
	owed := func() map[string]domain.Owed {
		t.Helper()
		var list []domain.Owed
		e.json("appA", "GET", path+"/owed", nil, http.StatusOK, &list)
		out := map[string]domain.Owed{}
		for _, o := range list {
			out[o.Text] = o
		}
		return out
	}
	items := owed()
	licence, plan := items["营业执照"], items["平面图"]
	if licence.State != domain.OwedOpen || plan.State != domain.OwedOpen || licence.Overdue {
		t.Fatalf("owed after approval: got %+v, want two open items, not overdue", items)
	}
	pdf := append([]byte("%PDF-1.4\n"), video(800)...)

	// Refused: a plain upload to the decided case, another company, a slot of no case.
	if code, ec, _ := e.uploadOwed("appA", cs.ID, "", "late.pdf", pdf); code != http.StatusUnprocessableEntity || ec != domain.CodeNotAcceptingEvidence {
		t.Fatalf("plain upload to an approved case: got %d %s, want 422 %s", code, ec, domain.CodeNotAcceptingEvidence)
	}
	if code, _, _ := e.uploadOwed("appB", cs.ID, licence.ID, "licence.pdf", pdf); code != http.StatusNotFound {
		t.Fatalf("another company delivers: got %d, want 404", code)
	}
	if code, _, _ := e.uploadOwed("insp", cs.ID, licence.ID, "licence.pdf", pdf); code != http.StatusForbidden {
		t.Fatalf("the inspector delivers: got %d, want 403", code)
	}
	if code, ec, _ := e.uploadOwed("appA", cs.ID, "no-such-item", "licence.pdf", pdf); code != http.StatusUnprocessableEntity || ec != domain.CodeOwedItemNotOpen {
		t.Fatalf("unknown owed item: got %d %s, want 422 %s", code, ec, domain.CodeOwedItemNotOpen)
	}

	// Delivered, returned with a reason (the slot opens again), delivered again, accepted.
	code, _, ev1 := e.uploadOwed("appA2", cs.ID, licence.ID, "licence.pdf", pdf) // a colleague of the same company
	if code != http.StatusNoContent || ev1 == "" {
		t.Fatalf("deliver licence: got %d evidence %q, want 204 with an evidence id", code, ev1)
	}
	if l := owed()["营业执照"]; l.State != domain.OwedDelivered || l.EvidenceID != ev1 || l.DeliveredAt == nil {
		t.Fatalf("delivered: got %+v, want state delivered with evidence %s", l, ev1)
	}
	if code, ec, _ := e.uploadOwed("appA", cs.ID, licence.ID, "again.pdf", pdf); code != http.StatusUnprocessableEntity || ec != domain.CodeOwedItemNotOpen {
		t.Fatalf("second delivery into a filled slot: got %d %s, want 422 %s", code, ec, domain.CodeOwedItemNotOpen)
	}
	var evidence domain.Evidence
	e.json("insp", "GET", "/api/v1/evidence/"+ev1, nil, http.StatusOK, &evidence)
	if evidence.CaseID != cs.ID || evidence.Filename != "licence.pdf" {
		t.Fatalf("delivered evidence: got case %s file %q", evidence.CaseID, evidence.Filename)
	}
	ret := func(user, oid string, body map[string]any, want int, code string) {
		t.Helper()
		w := e.req(user, "POST", path+"/owed/"+oid+"/return", strings.NewReader(mustJSON(body)), map[string]string{"Content-Type": "application/json"})
		if w.Code != want || code != "" && errorCode(w.Body.Bytes()) != code {
			t.Fatalf("return %s as %s: got %d %s, want %d %s", oid, user, w.Code, w.Body, want, code)
		}
	}
	ret("insp", licence.ID, map[string]any{"reason": " "}, http.StatusBadRequest, domain.CodeReturnReasonRequired)
	ret("appA", licence.ID, map[string]any{"reason": "x"}, http.StatusForbidden, domain.CodeNotPermitted)
	ret("insp", plan.ID, map[string]any{"reason": "x"}, http.StatusUnprocessableEntity, domain.CodeOwedNotDelivered)
	ret("insp", licence.ID, map[string]any{"reason": "扫描件不清晰，请重新上传"}, http.StatusNoContent, "")
	if l := owed()["营业执照"]; l.State != domain.OwedOpen || l.EvidenceID != "" || l.ReturnReason != "扫描件不清晰，请重新上传" || l.ReturnedAt == nil {
		t.Fatalf("returned: got %+v, want an open slot with the reason", l)
	}
	code, _, ev2 := e.uploadOwed("appA", cs.ID, licence.ID, "licence-clear.pdf", pdf)
	if code != http.StatusNoContent || ev2 == "" || ev2 == ev1 {
		t.Fatalf("deliver again: got %d evidence %q, want 204 with a new evidence id", code, ev2)
	}
	e.json("appA", "POST", path+"/owed/"+licence.ID+"/fulfill", nil, http.StatusForbidden, nil)
	e.json("insp", "POST", path+"/owed/"+licence.ID+"/fulfill", nil, http.StatusNoContent, nil)
	if l := owed()["营业执照"]; l.State != domain.OwedAccepted || l.EvidenceID != ev2 || l.FulfilledAt == nil {
		t.Fatalf("accepted: got %+v, want state accepted with evidence %s", l, ev2)
	}
	e.json("appA", "GET", path, nil, http.StatusOK, &c)
	if c.OwedOpen != 1 || c.OwedClosedAt != nil {
		t.Fatalf("one of two accepted: got owed_open %d closed %v, want 1 and open", c.OwedOpen, c.OwedClosedAt)
	}

	// Past due: overdue to both sides and on the office's escalation list.
	later := time.Now().Add(70 * 24 * time.Hour) // past the 60 days, counted from the next working day
	e.db.SetClock(func() time.Time { return later })
	head, err := e.db.CreateUser(context.Background(), "head", "password-head", domain.RoleSupervisor, "", "binhai")
	if err != nil {
		t.Fatal(err)
	}
	e.users["head"] = head
	for _, u := range []string{"appA", "appB", "insp", "inspOther", "rev", "admin", "head"} {
		tok, _, err := e.db.CreateSession(context.Background(), e.users[u].ID, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		e.tokens[u] = tok
	}
	if p := owed()["平面图"]; !p.Overdue || p.State != domain.OwedOpen {
		t.Fatalf("past due: got %+v, want overdue", p)
	}
	// The daily reminder: once per overdue item and day.
	remind := func(at time.Time, want int) {
		t.Helper()
		e.db.SetClock(func() time.Time { return at })
		n, err := e.db.RemindOverdueOwed(context.Background(), 24*time.Hour)
		if err != nil || n != want {
			t.Fatalf("reminders at %v: got %d (%v), want %d", at, n, err, want)
		}
	}
	remind(later, 1)
	remind(later.Add(time.Hour), 0)
	remind(later.Add(25*time.Hour), 1)
	e.db.SetClock(func() time.Time { return later })
	e.json("insp", "GET", path, nil, http.StatusOK, &c)
	if c.OwedDueAt == nil || !c.OwedDueAt.Equal(plan.DueAt) || !c.OwedOverdue(later) {
		t.Fatalf("the case of an overdue item: got owed_due_at %v, want %v (overdue)", c.OwedDueAt, plan.DueAt)
	}
	escalation := func(user string) []string {
		t.Helper()
		var list []domain.OwedEntry
		e.json(user, "GET", "/api/v1/owed?overdue=1", nil, http.StatusOK, &list)
		var ids []string
		for _, o := range list {
			if o.CaseID == cs.ID && (o.CaseNumber != c.Number || !o.Overdue || o.ApplicantOrg != "Acme" || o.Inspector == nil || o.Inspector.Username != "insp") {
				t.Fatalf("escalation entry: got %+v", o)
			}
			ids = append(ids, o.ID)
		}
		return ids
	}
	if ids := escalation("rev"); len(ids) != 1 || ids[0] != plan.ID {
		t.Fatalf("office escalation list as a reviewer: got %v, want [%s]", ids, plan.ID)
	}
	if ids := escalation("head"); len(ids) != 1 || ids[0] != plan.ID {
		t.Fatalf("escalation list as the office head (supervisor): got %v, want [%s]", ids, plan.ID)
	}
	if ids := escalation("admin"); len(ids) != 1 || ids[0] != plan.ID {
		t.Fatalf("escalation list as admin: got %v, want [%s]", ids, plan.ID)
	}
	if ids := escalation("inspOther"); len(ids) != 0 {
		t.Fatalf("another office's escalation list: got %v, want none", ids)
	}
	e.json("appA", "GET", "/api/v1/owed?overdue=1", nil, http.StatusForbidden, nil)

	// Late but delivered: off the escalation list; accepted: the case closes.
	if code, _, _ := e.uploadOwed("appA", cs.ID, plan.ID, "plan.pdf", pdf); code != http.StatusNoContent {
		t.Fatalf("deliver the overdue plan: got %d, want 204", code)
	}
	if ids := escalation("insp"); len(ids) != 0 {
		t.Fatalf("escalation list after delivery: got %v, want none", ids)
	}
	e.json("insp", "POST", path+"/owed/"+plan.ID+"/fulfill", nil, http.StatusNoContent, nil)
	e.json("appA", "GET", path, nil, http.StatusOK, &c)
	if c.OwedOpen != 0 || c.OwedClosedAt == nil || !c.OwedClosedAt.Equal(later.UTC().Truncate(time.Millisecond)) || c.Status != domain.StatusApproved || c.OwedDueAt != nil {
		t.Fatalf("nothing owed: got status %q owed_open %d closed %v due %v, want approved, 0, closed now, nothing due", c.Status, c.OwedOpen, c.OwedClosedAt, c.OwedDueAt)
	}
	if code, ec, _ := e.uploadOwed("appA", cs.ID, plan.ID, "more.pdf", pdf); code != http.StatusUnprocessableEntity || ec != domain.CodeOwedItemNotOpen {
		t.Fatalf("delivery to a closed case: got %d %s, want 422 %s", code, ec, domain.CodeOwedItemNotOpen)
	}
	// The report's JSON carries the commitment as signed.
	e.withReports(nil)
	var rep struct {
		Commitment *struct {
			Items []struct {
				MaterialZH string `json:"material_zh"`
			} `json:"items"`
			StatementZH string `json:"statement_zh"`
			SignerName  string `json:"signer_name"`
		} `json:"commitment"`
	}
	e.json("appA", "GET", path+"/report.json", nil, http.StatusOK, &rep)
	if rep.Commitment == nil || rep.Commitment.SignerName != "张三" || len(rep.Commitment.Items) != 2 || rep.Commitment.Items[0].MaterialZH != "营业执照" ||
		rep.Commitment.StatementZH != domain.CommitmentStatement.ZH {
		t.Fatalf("report.json commitment: got %+v, want the one 张三 signed", rep.Commitment)
	}
	want := []string{"case.commitment_signed", "owed.delivered", "owed.returned", "owed.delivered", "owed.fulfilled",
		"owed.reminder", "owed.reminder", "owed.delivered", "owed.fulfilled", "case.owed_closed"}
	var seen []string
	for _, a := range e.auditActions(cs.ID) {
		if strings.HasPrefix(a, "owed.") || a == "case.commitment_signed" || a == "case.owed_closed" {
			seen = append(seen, a)
		}
	}
	if strings.Join(seen, " ") != strings.Join(want, " ") {
		t.Fatalf("audit: got %v, want %v", seen, want)
	}
}

// TestCommitmentOnlyWhereAllowed: a precursor-chemical filing is not
// commitment-based, so its applicant cannot sign one.
func TestCommitmentOnlyWhereAllowed(t *testing.T) {
	e := newEnv(t)
	var cs domain.Case
	e.json("appA", "POST", "/api/v1/cases", map[string]string{"permit_type": "precursor-purchase", "site_name": "Lab", "site_address": "2 Port Rd"}, http.StatusCreated, &cs)
	w := e.req("appA", "POST", "/api/v1/cases/"+cs.ID+"/commitment", strings.NewReader(`{"items":["营业执照"],"signer_name":"李四","agree":true}`), map[string]string{"Content-Type": "application/json"})
	if w.Code != http.StatusBadRequest || errorCode(w.Body.Bytes()) != domain.CodeCommitmentNotAllowed {
		t.Fatalf("commitment on a precursor filing: got %d %s, want 400 %s", w.Code, w.Body, domain.CodeCommitmentNotAllowed)
	}
	var none *domain.Commitment
	e.json("appA", "GET", "/api/v1/cases/"+cs.ID+"/commitment", nil, http.StatusOK, &none)
	if none != nil {
		t.Fatalf("no commitment: got %+v, want null", none)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
