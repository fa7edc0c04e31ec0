package harness

import (
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"siteinspect/internal/testenv"
)

// LiveSession is POST /cases/{id}/live's answer.
type LiveSession struct {
	ID           string     `json:"id"`
	CaseID       string     `json:"case_id"`
	Status       string     `json:"status"`
	EndReason    string     `json:"end_reason"`
	PublishURL   string     `json:"publish_url"`
	PublishToken string     `json:"publish_token"`
	JoinURL      string     `json:"join_url"`
	EvidenceID   *string    `json:"evidence_id"`
	Publishing   bool       `json:"publishing"`
	StartedAt    *time.Time `json:"started_at"`
	EndedAt      *time.Time `json:"ended_at"`
}

// LiveCase makes a case in review (one photo uploaded, submitted, taken by
// the inspector) and returns the applicant and inspector clients and the
// case id.
func LiveCase(t testing.TB, p *Proc) (app, insp *Client, caseID string) {
	t.Helper()
	app = Login(t, p.URL, "applicant", p.Demo["applicant"])
	insp = Login(t, p.URL, "inspector", p.Demo["inspector"])
	cs := app.NewCase()
	photo := filepath.Join(t.TempDir(), "gate.jpg")
	testenv.FFmpeg(t, "-f", "lavfi", "-i", "testsrc=size=320x240", "-frames:v", "1", photo)
	app.MustUploadFile(cs.ID, photo)
	app.MustJSON("POST", "/api/v1/cases/"+cs.ID+"/submit", nil, http.StatusOK, nil)
	insp.MustJSON("POST", "/api/v1/cases/"+cs.ID+"/assign", map[string]string{}, http.StatusOK, nil)
	return app, insp, cs.ID
}

// SDPPost sends an SDP offer (or a fragment) with a bearer token.
func SDPPost(t testing.TB, method, url, token, contentType, body string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// WHIP and whep are testenv.Signal functions over HTTP.
func WHIP(t testing.TB, base string, ls LiveSession) testenv.Signal {
	return sdpSignal(t, base+ls.PublishURL, ls.PublishToken)
}

func WHEP(t testing.TB, base, lid, token string) testenv.Signal {
	return sdpSignal(t, base+"/api/v1/live/"+lid+"/whep", token)
}

func sdpSignal(t testing.TB, url, token string) testenv.Signal {
	return func(offer string) (string, string, error) {
		resp, body := SDPPost(t, "POST", url, token, "application/sdp", offer)
		if resp.StatusCode != http.StatusCreated {
			return "", "", &HTTPStatusError{resp.StatusCode, body}
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/sdp" {
			t.Errorf("answer Content-Type %q, want application/sdp", ct)
		}
		return body, resp.Header.Get("Location"), nil
	}
}

type HTTPStatusError struct {
	Status int
	Body   string
}

func (e *HTTPStatusError) Error() string { return strconv.Itoa(e.Status) + " " + e.Body }
