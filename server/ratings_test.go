package server

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"siteinspect/domain"
)

// call sends body as JSON as user and returns the status, the error code
// (if any) and the body.
func (m *matrix) call(user, method, path, body string) (int, string, []byte) {
	m.t.Helper()
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	r.Header.Set("Authorization", "Bearer "+m.tokens[user])
	r.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	m.s.ServeHTTP(w, r)
	var e apiError
	json.Unmarshal(w.Body.Bytes(), &e)
	return w.Code, e.Error.Code, w.Body.Bytes()
}

// expectCall fails unless the request answers status (and code, if given).
func (m *matrix) expectCall(user, method, path, body string, status int, code string) []byte {
	m.t.Helper()
	got, gotCode, b := m.call(user, method, path, body)
	if got != status || code != "" && gotCode != code {
		m.t.Errorf("%s %s %s as %s: got %d %s %s, want %d %s", method, path, body, user, got, gotCode, b, status, code)
	}
	return b
}

// auditActions lists the actions of the case's audit trail as user reads it.
func (m *matrix) auditActions(user, caseID string) string {
	m.t.Helper()
	var list []domain.AuditEvent
	if err := json.Unmarshal(m.expectCall(user, "GET", "/api/v1/cases/"+caseID+"/audit", "", http.StatusOK, ""), &list); err != nil {
		m.t.Fatal(err)
	}
	var out []string
	for _, e := range list {
		out = append(out, e.Action)
	}
	return strings.Join(out, " ")
}

// TestRatingsAPI: only the case's applicant rates, only after the final
// decision, only once (409 rating_exists); 非常不满意 opens a follow-up
// that the office's supervisor closes, and the applicant then reads its
// outcome; the officers' aggregate counts it and names nobody, and the
// case's officers read neither the rating nor its events; everyone else is
// refused.
func TestRatingsAPI(t *testing.T) {
	m := newMatrix(t)
	undecided := m.build(domain.StatusInReview)
	m.expectCall("appA", "POST", "/api/v1/cases/"+undecided.cs.ID+"/rating", `{"level":1}`, http.StatusUnprocessableEntity, domain.CodeWrongState)

	f := m.build(domain.StatusRejected)
	path := "/api/v1/cases/" + f.cs.ID + "/rating"
	for _, c := range []struct {
		user   string
		status int
		code   string
	}{
		{"appA2", http.StatusForbidden, domain.CodeRatingApplicantOnly},
		{"appB", http.StatusNotFound, "not_found"},
		{"insp", http.StatusForbidden, domain.CodeNotPermitted},
		{"rev", http.StatusForbidden, domain.CodeNotPermitted},
		{"sup", http.StatusForbidden, domain.CodeNotPermitted},
		{"admin", http.StatusForbidden, domain.CodeNotPermitted},
		{"appA", http.StatusBadRequest, domain.CodeRatingLevelInvalid},
	} {
		body := `{"level":5,"comment":"等了太久"}`
		if c.user == "appA" {
			body = `{"level":0}`
		}
		m.expectCall(c.user, "POST", path, body, c.status, c.code)
	}
	if got := strings.TrimSpace(string(m.expectCall("appA", "GET", path, "", http.StatusOK, ""))); got != "null" {
		t.Errorf("rating before any: got %s, want null", got)
	}
	var r domain.Rating
	json.Unmarshal(m.expectCall("appA", "POST", path, `{"level":5,"comment":"等了太久"}`, http.StatusCreated, ""), &r)
	if r.Level != 5 || r.FollowUp == nil || r.FollowUp.ClosedAt != nil {
		t.Fatalf("rating: got %+v, want level 5 with an open follow-up", r)
	}
	m.expectCall("appA", "POST", path, `{"level":1}`, http.StatusConflict, domain.CodeRatingExists)

	// The case's officers never read the rating nor its events; the
	// supervisor does.
	m.expectCall("insp", "GET", path, "", http.StatusForbidden, domain.CodeNotPermitted)
	m.expectCall("rev", "GET", path, "", http.StatusForbidden, domain.CodeNotPermitted)
	if got := m.auditActions("insp", f.cs.ID); strings.Contains(got, "rated") || strings.Contains(got, "followup") {
		t.Errorf("the inspector's audit trail: got %s, want no rating events", got)
	}
	if got := m.auditActions("sup", f.cs.ID); !strings.Contains(got, "case.rated followup.opened") {
		t.Errorf("the supervisor's audit trail: got %s, want case.rated followup.opened", got)
	}

	// The officers' own aggregates: numbers only.
	for _, who := range []string{"insp", "rev"} {
		b := m.expectCall(who, "GET", "/api/v1/me/ratings", "", http.StatusOK, "")
		var a map[string]any
		json.Unmarshal(b, &a)
		// One rating: its level would tell who rated how, so only the
		// count shows.
		if len(a) != 6 || a["count"] != float64(1) || a["average"] != float64(0) || a["dissatisfied"] != float64(0) || a["share"] != float64(0) ||
			a["withheld"] != true || a["min_count"] != float64(domain.RatingAggregateMin) {
			t.Errorf("%s's aggregate: got %s, want count 1, the figures withheld below %d ratings, and nothing else", who, b, domain.RatingAggregateMin)
		}
		for _, leak := range []string{m.users["appA"].ID, "appA", "等了太久", f.cs.ID, f.cs.Number} {
			if strings.Contains(string(b), leak) {
				t.Errorf("%s's aggregate %s names %q", who, b, leak)
			}
		}
	}
	if b := m.expectCall("insp2", "GET", "/api/v1/me/ratings", "", http.StatusOK, ""); !strings.Contains(string(b), `"count":0`) {
		t.Errorf("another inspector's aggregate: got %s, want count 0", b)
	}
	for _, who := range []string{"appA", "sup", "admin", "inspOther"} {
		m.expectCall(who, "GET", "/api/v1/me/ratings", "", http.StatusForbidden, domain.CodeOfficeNotPermitted)
	}

	// The follow-up: listed for the office's supervisor, closed by them.
	for _, who := range []string{"insp", "appA", "supOther"} {
		m.expectCall(who, "GET", "/api/v1/followups", "", http.StatusForbidden, domain.CodeOfficeNotPermitted)
	}
	var list []domain.FollowUp
	json.Unmarshal(m.expectCall("sup", "GET", "/api/v1/followups?open=1", "", http.StatusOK, ""), &list)
	if len(list) != 1 || list[0].ID != r.FollowUp.ID || list[0].CaseNumber != f.cs.Number || list[0].Comment != "等了太久" {
		t.Fatalf("the supervisor's open follow-ups: got %+v, want %s's", list, f.cs.Number)
	}
	closePath := "/api/v1/followups/" + r.FollowUp.ID + "/close"
	m.expectCall("insp", "POST", closePath, `{"outcome":"x"}`, http.StatusForbidden, domain.CodeOfficeNotPermitted)
	m.expectCall("admin", "POST", closePath, `{"outcome":"x"}`, http.StatusForbidden, domain.CodeOfficeNotPermitted)
	m.expectCall("appA", "POST", closePath, `{"outcome":"x"}`, http.StatusNotFound, "not_found")
	m.expectCall("supOther", "POST", closePath, `{"outcome":"x"}`, http.StatusNotFound, "not_found")
	m.expectCall("sup", "POST", closePath, `{"outcome":" "}`, http.StatusBadRequest, "field_required")
	m.expectCall("sup", "POST", closePath, `{"outcome":"已约谈承办人，流程改为当日告知"}`, http.StatusOK, "")
	m.expectCall("sup", "POST", closePath, `{"outcome":"again"}`, http.StatusConflict, domain.CodeFollowUpClosed)
	if b := m.expectCall("sup", "GET", "/api/v1/followups?open=1", "", http.StatusOK, ""); strings.TrimSpace(string(b)) != "[]" {
		t.Errorf("open follow-ups after the close: got %s, want []", b)
	}

	// The applicant sees the outcome on the case.
	var seen domain.Rating
	json.Unmarshal(m.expectCall("appA", "GET", path, "", http.StatusOK, ""), &seen)
	if seen.FollowUp == nil || seen.FollowUp.Outcome != "已约谈承办人，流程改为当日告知" || seen.FollowUp.ClosedAt == nil {
		t.Errorf("the applicant's view of the rating: got %+v, want the follow-up's outcome", seen.FollowUp)
	}
	if got := m.auditActions("sup", f.cs.ID); !strings.HasSuffix(got, "followup.closed") {
		t.Errorf("the audit trail: got %s, want it to end with followup.closed", got)
	}

	// 满意 opens no follow-up.
	g := m.build(domain.StatusApproved)
	json.Unmarshal(m.expectCall("appA", "POST", "/api/v1/cases/"+g.cs.ID+"/rating", `{"level":2}`, http.StatusCreated, ""), &r)
	if r.FollowUp != nil {
		t.Errorf("a rating of 2 opened a follow-up: %+v", r.FollowUp)
	}
	if b := m.expectCall("insp", "GET", "/api/v1/me/ratings", "", http.StatusOK, ""); !strings.Contains(string(b), `"count":2,"average":0,"dissatisfied":0,"share":0,"withheld":true`) {
		t.Errorf("the inspector's aggregate after a 2: got %s, want count 2 and the figures withheld", b)
	}
	// From the fifth rating on the figures show: 5, 2, 1, 1, 1.
	for i := 0; i < 3; i++ {
		g := m.build(domain.StatusApproved)
		m.expectCall("appA", "POST", "/api/v1/cases/"+g.cs.ID+"/rating", `{"level":1}`, http.StatusCreated, "")
	}
	if b := m.expectCall("insp", "GET", "/api/v1/me/ratings", "", http.StatusOK, ""); !strings.Contains(string(b), `"count":5,"average":2,"dissatisfied":1,"share":0.2,"withheld":false`) {
		t.Errorf("the inspector's aggregate after five ratings: got %s, want count 5, average 2, dissatisfied 1, share 0.2", b)
	}
}

// TestUrgentAPI: an officer of the office or a supervisor marks a case
// urgent and it heads the queue with its target; the company and other
// offices are refused; clearing puts it back; a decided case cannot be
// marked.
func TestUrgentAPI(t *testing.T) {
	m := newMatrix(t)
	first, second := m.build(domain.StatusSubmitted), m.build(domain.StatusSubmitted)
	queue := func(user string) []*domain.Case {
		t.Helper()
		var list []*domain.Case
		if err := json.Unmarshal(m.expectCall(user, "GET", "/api/v1/cases", "", http.StatusOK, ""), &list); err != nil {
			t.Fatal(err)
		}
		return list
	}
	// Both due the same day: the newer first.
	if q := queue("insp"); len(q) != 2 || q[0].ID != second.cs.ID {
		t.Fatalf("queue before: got %d cases, want %s first", len(q), second.cs.Number)
	}
	path := "/api/v1/cases/" + first.cs.ID + "/urgent"
	body := `{"reason":"防汛抢险工程","target_hours":6}`
	m.expectCall("appA", "POST", path, body, http.StatusForbidden, domain.CodeNotPermitted)
	m.expectCall("admin", "POST", path, body, http.StatusForbidden, domain.CodeNotPermitted)
	m.expectCall("inspOther", "POST", path, body, http.StatusNotFound, "not_found")
	m.expectCall("supOther", "POST", path, body, http.StatusNotFound, "not_found")
	m.expectCall("insp", "POST", path, `{"reason":"防汛","target_hours":721}`, http.StatusBadRequest, domain.CodeUrgentTargetInvalid)
	m.expectCall("insp", "POST", path, `{"target_hours":6}`, http.StatusBadRequest, "field_required")
	m.expectCall("insp", "DELETE", path, "", http.StatusConflict, domain.CodeCaseNotUrgent)
	var cs domain.Case
	json.Unmarshal(m.expectCall("insp", "POST", path, body, http.StatusOK, ""), &cs)
	if cs.Urgent == nil || !cs.Urgent.Active || cs.Urgent.TargetHours != 6 || cs.Urgent.Reason != "防汛抢险工程" {
		t.Fatalf("marked case: got %+v, want urgent for 6 h", cs.Urgent)
	}
	for _, who := range []string{"insp", "rev", "sup"} {
		if q := queue(who); len(q) != 2 || q[0].ID != first.cs.ID || q[0].Urgent == nil {
			t.Errorf("queue of %s with %s urgent: got %d cases, want it first with its mark", who, first.cs.Number, len(q))
		}
	}
	// The supervisor may clear it (the one change a supervisor makes).
	m.expectCall("sup", "DELETE", path, "", http.StatusOK, "")
	if q := queue("insp"); len(q) != 2 || q[0].ID != second.cs.ID || q[1].Urgent != nil {
		t.Errorf("queue after clearing: want %s first again and no mark", second.cs.Number)
	}
	m.expectCall("sup", "POST", path, `{"reason":"重大项目","target_hours":24}`, http.StatusOK, "")
	decided := m.build(domain.StatusApproved)
	m.expectCall("sup", "POST", "/api/v1/cases/"+decided.cs.ID+"/urgent", body, http.StatusUnprocessableEntity, domain.CodeWrongState)

	var actions []string
	list, err := m.db.CaseAudit(context.Background(), first.cs.ID, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range list {
		if strings.HasPrefix(e.Action, "case.urgent") {
			actions = append(actions, e.Action+" "+string(e.Data))
		}
	}
	want := []string{`case.urgent_set {"reason":"防汛抢险工程","target_hours":6}`, `case.urgent_cleared {}`, `case.urgent_set {"reason":"重大项目","target_hours":24}`}
	if strings.Join(actions, "\n") != strings.Join(want, "\n") {
		t.Errorf("urgent events: got\n%s\nwant\n%s", strings.Join(actions, "\n"), strings.Join(want, "\n"))
	}
}

// TestRatingScoreContract: POST …/rating takes API.md's score (5 非常满意
// … 1 非常不满意) as well as our pages' level (1 非常满意 … 5 非常不满意),
// level = 6 − score; a score ≤ 2 opens a follow-up; a body with neither,
// a score out of range, or a score and level that disagree is refused with
// its own code; the rating and its follow-up carry score beside level.
func TestRatingScoreContract(t *testing.T) {
	m := newMatrix(t)
	f := m.build(domain.StatusRejected)
	path := "/api/v1/cases/" + f.cs.ID + "/rating"
	for _, c := range []struct{ body, code string }{
		{`{}`, "rating_score_required"},
		{`{"comment":"没有分数"}`, "rating_score_required"},
		{`{"score":null,"level":null}`, "rating_score_required"},
		{`{"score":0}`, "rating_score_invalid"},
		{`{"score":6}`, "rating_score_invalid"},
		{`{"score":1,"level":1}`, "rating_score_level_conflict"},
		{`{"score":5,"level":5}`, "rating_score_level_conflict"},
		{`{"level":0}`, domain.CodeRatingLevelInvalid},
		{`{"level":6}`, domain.CodeRatingLevelInvalid},
	} {
		m.expectCall("appA", "POST", path, c.body, http.StatusBadRequest, c.code)
	}
	// figures reads score and level of a rating's JSON and of its follow-up.
	figures := func(b []byte) (score, level any, followup map[string]any) {
		t.Helper()
		var r map[string]any
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatalf("rating %s: %v", b, err)
		}
		fu, _ := r["followup"].(map[string]any)
		return r["score"], r["level"], fu
	}
	// A score of 1 is level 5 and opens a follow-up; both given, agreeing.
	b := m.expectCall("appA", "POST", path, `{"score":1,"level":5,"comment":"等了太久"}`, http.StatusCreated, "")
	score, level, fu := figures(b)
	if score != float64(1) || level != float64(5) || fu == nil || fu["score"] != float64(1) || fu["level"] != float64(5) {
		t.Fatalf("score 1: got %s, want score 1, level 5 and a follow-up with score 1, level 5", b)
	}
	b = m.expectCall("appA", "GET", path, "", http.StatusOK, "")
	if score, level, fu := figures(b); score != float64(1) || level != float64(5) || fu == nil || fu["score"] != float64(1) {
		t.Errorf("the applicant's read of the rating: got %s, want score 1, level 5, the follow-up's score 1", b)
	}
	var list []map[string]any
	json.Unmarshal(m.expectCall("sup", "GET", "/api/v1/followups", "", http.StatusOK, ""), &list)
	if len(list) != 1 || list[0]["score"] != float64(1) || list[0]["level"] != float64(5) {
		t.Errorf("the supervisor's follow-ups: got %v, want one with score 1, level 5", list)
	}
	m.expectCall("appA", "POST", path, `{"score":5}`, http.StatusConflict, domain.CodeRatingExists)

	for _, c := range []struct {
		body         string
		score, level int
		followUp     bool
	}{
		{`{"score":2}`, 2, 4, true},
		{`{"score":3,"comment":"还行"}`, 3, 3, false},
		{`{"score":4}`, 4, 2, false},
		{`{"score":5,"level":1}`, 5, 1, false},
		{`{"level":4}`, 2, 4, true},
		{`{"level":1,"comment":"很好"}`, 5, 1, false},
	} {
		g := m.build(domain.StatusApproved)
		b := m.expectCall("appA", "POST", "/api/v1/cases/"+g.cs.ID+"/rating", c.body, http.StatusCreated, "")
		score, level, fu := figures(b)
		if score != float64(c.score) || level != float64(c.level) || (fu != nil) != c.followUp {
			t.Errorf("%s: got %s, want score %d, level %d, a follow-up %v", c.body, b, c.score, c.level, c.followUp)
		}
	}
}
