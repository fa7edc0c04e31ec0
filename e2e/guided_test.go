package e2e

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"siteinspect/domain"
	"siteinspect/internal/harness"
	"siteinspect/internal/testenv"
)

// guidedSite is where the test case's site is (Binhai, Tianjin).
const guidedLat, guidedLon = 39.0842, 117.2009

// guidedCase is harness.LiveCase for a hotel whose site has coordinates.
func guidedCase(t testing.TB, p *harness.Proc) (app, insp *harness.Client, caseID string) {
	t.Helper()
	app = harness.Login(t, p.URL, "applicant", p.Demo["applicant"])
	insp = harness.Login(t, p.URL, "inspector", p.Demo["inspector"])
	var cs domain.Case
	app.MustJSON("POST", "/api/v1/cases", map[string]any{"permit_type": "hotel", "site_name": "港湾酒店 Harbour Hotel", "site_address": "1 Harbour Rd, Binhai",
		"site_lat": guidedLat, "site_lon": guidedLon}, http.StatusCreated, &cs)
	photo := filepath.Join(t.TempDir(), "gate.jpg")
	testenv.FFmpeg(t, "-f", "lavfi", "-i", "testsrc=size=320x240", "-frames:v", "1", photo)
	app.MustUploadFile(cs.ID, photo)
	app.MustJSON("POST", "/api/v1/cases/"+cs.ID+"/submit", nil, http.StatusOK, nil)
	insp.MustJSON("POST", "/api/v1/cases/"+cs.ID+"/assign", map[string]string{}, http.StatusOK, nil)
	return app, insp, cs.ID
}

// phoneUpload sends a whole file over tus with the publish token and
// returns the upload id and the evidence id (or the creation's status when
// it is refused).
func phoneUpload(t *testing.T, p *harness.Proc, ls harness.LiveSession, data []byte, meta map[string]string) (uid, evID string, status int) {
	t.Helper()
	var pairs []string
	for k, v := range meta {
		pairs = append(pairs, k+" "+base64.StdEncoding.EncodeToString([]byte(v)))
	}
	phone := harness.WithToken(t, p.URL, ls.PublishToken)
	resp := phone.Do("POST", "/api/v1/live/"+ls.ID+"/uploads", nil, map[string]string{"Tus-Resumable": "1.0.0",
		"Upload-Length": strconv.Itoa(len(data)), "Upload-Metadata": strings.Join(pairs, ",")})
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return "", "", resp.StatusCode
	}
	loc := resp.Header.Get("Location")
	resp = phone.Patch(loc, 0, bytes.NewReader(data), int64(len(data)))
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Evidence-Id") == "" {
		t.Fatalf("PATCH %s: %d, Evidence-Id %q", loc, resp.StatusCode, resp.Header.Get("Evidence-Id"))
	}
	return loc[strings.LastIndex(loc, "/")+1:], resp.Header.Get("Evidence-Id"), resp.StatusCode
}

// errCode is the code of a room error message.
func errCode(m map[string]any) string {
	e, _ := m["error"].(map[string]any)
	s, _ := e["code"].(string)
	return s
}

// TestLiveGuidedFilming drives guided filming over the room WebSocket with
// a pion publisher: the phone and the inspector mark shots, which become
// annotations on the recording tied to their checklist items at the
// recording time of the mark; the phone's GPS positions are stored and
// measured against the site (a warning beyond --location-warn-km); the
// inspector's take_still reaches the phone, whose photo upload is announced
// to the room as image evidence; a continuous take uploaded with its marks
// gets them as annotations at their offsets; the case's coverage lists
// every item with its footage.
func TestLiveGuidedFilming(t *testing.T) {
	media := testenv.MustRTCMedia(t)
	p := harness.StartServer(t, append([]string{"--jobs", "1", "--webrtc-loopback", "--location-warn-km", "1"}, harness.S3Args(t)...)...)
	app, insp, caseID := guidedCase(t, p)
	var ls harness.LiveSession
	insp.MustJSON("POST", "/api/v1/cases/"+caseID+"/live", nil, http.StatusCreated, &ls)

	officer := dialRoom(t, p.URL, ls.ID, "", insp.Token)
	officer.expect("hello", 5*time.Second)
	phoneRoom := dialRoom(t, p.URL, ls.ID, "?token="+ls.PublishToken, "")
	hello := phoneRoom.expect("hello", 5*time.Second)
	var shotList []domain.ChecklistItem
	b, _ := json.Marshal(hello["checklist"])
	json.Unmarshal(b, &shotList)
	if len(shotList) != 4 || shotList[0].ID != "fire-exits" || shotList[3].ID != "valuables-storage" || shotList[0].Hint == nil || shotList[0].Hint.EN == "" {
		t.Fatalf("hello checklist: got %v, want the hotel's four items in order, with shot hints", hello["checklist"])
	}
	if site, _ := hello["site"].(map[string]any); site["lat"] != guidedLat || site["lon"] != guidedLon {
		t.Errorf("hello site: got %v, want %v,%v", hello["site"], guidedLat, guidedLon)
	}

	pub := testenv.Publish(t, testenv.CodecVP8, harness.WHIP(t, p.URL, ls))
	sent := make(chan time.Duration, 1)
	go func() { sent <- pub.Send(t, media, 5*time.Second) }()

	// Shot marks: the phone's, then the inspector's, each at its moment.
	time.Sleep(1200 * time.Millisecond)
	phoneRoom.send(map[string]any{"type": "shot", "checklist_item": "fire-exits"})
	first := officer.expect("shot", 5*time.Second)["annotation"].(map[string]any)
	firstMS := int64(first["recording_ms"].(float64))
	if first["checklist_item"] != "fire-exits" || first["shot"] != true || firstMS < 300 || firstMS > 3000 {
		t.Errorf("the phone's mark: got %v, want fire-exits at about 1200 ms", first)
	}
	if by := first["author"].(map[string]any)["username"]; by != "applicant" {
		t.Errorf("the phone's mark is by %v, want the case's applicant", by)
	}
	phoneRoom.expect("shot", 5*time.Second) // its own mark comes back too
	time.Sleep(1500 * time.Millisecond)
	officer.send(map[string]any{"type": "shot", "checklist_item": "cctv-entrances"})
	second := phoneRoom.expect("shot", 5*time.Second)["annotation"].(map[string]any)
	secondMS := int64(second["recording_ms"].(float64))
	if second["checklist_item"] != "cctv-entrances" || secondMS < firstMS+1000 {
		t.Errorf("the inspector's mark: got %v, want cctv-entrances at least 1000 ms after %d", second, firstMS)
	}
	phoneRoom.send(map[string]any{"type": "shot", "checklist_item": "lobby"})
	if m := phoneRoom.expect("error", 5*time.Second); errCode(m) != domain.CodeShotItemUnknown {
		t.Errorf("a shot of no checklist item: got %v, want %s", m, domain.CodeShotItemUnknown)
	}

	// The track: 111 m from the site, then 2.2 km.
	phoneRoom.send(map[string]any{"type": "position", "lat": guidedLat + 0.001, "lon": guidedLon, "accuracy": 8})
	pos := officer.expect("position", 5*time.Second)
	if pos["distance_m"] != 111.0 || pos["warning"] != false {
		t.Errorf("a position 0.001° north: got distance %v warning %v, want 111 m and no warning", pos["distance_m"], pos["warning"])
	}
	phoneRoom.send(map[string]any{"type": "position", "lat": guidedLat + 0.02, "lon": guidedLon, "accuracy": 15})
	if pos := officer.expect("position", 5*time.Second); pos["distance_m"] != 2224.0 || pos["warning"] != true {
		t.Errorf("a position 0.02° north: got distance %v warning %v, want 2224 m and a warning", pos["distance_m"], pos["warning"])
	}
	officer.send(map[string]any{"type": "position", "lat": guidedLat, "lon": guidedLon})
	if m := officer.expect("error", 5*time.Second); errCode(m) != "forbidden" {
		t.Errorf("an officer sending a position: got %v, want forbidden", m)
	}
	phoneRoom.send(map[string]any{"type": "position", "lat": 95, "lon": guidedLon})
	if m := phoneRoom.expect("error", 5*time.Second); errCode(m) != domain.CodePositionInvalid {
		t.Errorf("a position off the Earth: got %v, want %s", m, domain.CodePositionInvalid)
	}

	// A still on command: the phone hears it, uploads its photo, the room sees it.
	phoneRoom.send(map[string]any{"type": "take_still"})
	if m := phoneRoom.expect("error", 5*time.Second); errCode(m) != "forbidden" {
		t.Errorf("the phone commanding a still: got %v, want forbidden", m)
	}
	officer.send(map[string]any{"type": "take_still"})
	cmd := phoneRoom.expect("take_still", 5*time.Second)
	photo := filepath.Join(t.TempDir(), "still.jpg")
	testenv.FFmpeg(t, "-f", "lavfi", "-i", "testsrc=size=1280x720", "-frames:v", "1", photo)
	jpeg, err := os.ReadFile(photo)
	if err != nil {
		t.Fatal(err)
	}
	uid, stillID, _ := phoneUpload(t, p, ls, jpeg, map[string]string{"filename": "现场照片.jpg", "filetype": "image/jpeg",
		"captured_at": time.Now().UTC().Format(time.RFC3339), "location": "39.0852,117.2009"})
	phoneRoom.send(map[string]any{"type": "still", "upload": "nope"})
	if m := phoneRoom.expect("error", 5*time.Second); errCode(m) != domain.CodeStillNotFound {
		t.Errorf("a still naming no upload: got %v, want %s", m, domain.CodeStillNotFound)
	}
	phoneRoom.send(map[string]any{"type": "still", "upload": uid, "request": cmd["id"]})
	still := officer.expect("still", 5*time.Second)
	if ev := still["evidence"].(map[string]any); ev["id"] != stillID || ev["kind"] != "image" || still["request"] != cmd["id"] {
		t.Errorf("still: got %v, want evidence %s (image) answering %v", still, stillID, cmd["id"])
	}

	<-sent
	var ended struct {
		Evidence *domain.Evidence `json:"evidence"`
	}
	insp.MustJSON("POST", "/api/v1/live/"+ls.ID+"/end", nil, http.StatusOK, &ended)
	pub.PC.Close()
	if ended.Evidence == nil {
		t.Fatal("the session ended without a recording")
	}
	rec := insp.MustEvidenceDone(ended.Evidence.ID, 2*time.Minute)
	if rec.Status != domain.EvidenceReady {
		t.Fatalf("recording: %s (%s)", rec.Status, rec.StatusReason)
	}
	var notes []domain.Annotation
	insp.MustJSON("GET", "/api/v1/evidence/"+rec.ID+"/annotations", nil, http.StatusOK, &notes)
	want := map[string]int64{"fire-exits": firstMS, "cctv-entrances": secondMS}
	if len(notes) != 2 {
		t.Fatalf("annotations on the recording: got %d, want the 2 marks", len(notes))
	}
	for _, n := range notes {
		if at, ok := want[n.ChecklistItem]; !ok || n.StartMS == nil || *n.StartMS != at || n.StartFrame == nil || !strings.Contains(n.Body, "Shot:") {
			t.Errorf("annotation %+v: want a shot of %s at %d ms with a frame", n, n.ChecklistItem, want[n.ChecklistItem])
		}
	}

	// A continuous take uploaded with its marks (一镜到底).
	take := filepath.Join(t.TempDir(), "take.webm")
	testenv.FFmpeg(t, "-f", "lavfi", "-i", "testsrc=size=320x240:rate=30", "-t", "3", "-c:v", "libvpx", "-b:v", "300k", take)
	data, err := os.ReadFile(take)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, status := phoneUpload(t, p, ls, data, map[string]string{"filename": "take.webm", "filetype": "video/webm",
		"shots": `[{"item":"lobby","ms":10}]`}); status != http.StatusBadRequest {
		t.Errorf("a take with a mark of no checklist item: got %d, want 400", status)
	}
	_, takeID, _ := phoneUpload(t, p, ls, data, map[string]string{"filename": "take.webm", "filetype": "video/webm",
		"shots": `[{"item":"guest-registration","ms":1000},{"item":"valuables-storage","ms":2500}]`})
	if ev := app.MustEvidenceDone(takeID, 2*time.Minute); ev.Status != domain.EvidenceReady {
		t.Fatalf("take: %s (%s)", ev.Status, ev.StatusReason)
	}
	notes = nil
	insp.MustJSON("GET", "/api/v1/evidence/"+takeID+"/annotations", nil, http.StatusOK, &notes)
	if len(notes) != 2 || notes[0].ChecklistItem != "guest-registration" || *notes[0].StartMS != 1000 ||
		notes[1].ChecklistItem != "valuables-storage" || *notes[1].StartMS != 2500 {
		t.Errorf("annotations on the take: got %+v, want guest-registration at 1000 ms and valuables-storage at 2500 ms", notes)
	}

	// Coverage: every item now has footage; the track warns.
	var cov struct {
		Items []domain.ItemCoverage `json:"items"`
		Site  map[string]float64    `json:"site"`
		Track []struct {
			SessionID string              `json:"session_id"`
			Points    []domain.Position   `json:"points"`
			Summary   domain.TrackSummary `json:"summary"`
		} `json:"tracks"`
	}
	insp.MustJSON("GET", "/api/v1/cases/"+caseID+"/coverage", nil, http.StatusOK, &cov)
	for i, id := range []string{"fire-exits", "guest-registration", "cctv-entrances", "valuables-storage"} {
		if i >= len(cov.Items) || cov.Items[i].ID != id || len(cov.Items[i].Marks) != 1 || cov.Items[i].Marks[0].EvidenceID == nil {
			t.Errorf("coverage item %d: got %+v, want %s with one mark on evidence", i, cov.Items, id)
		}
	}
	if len(cov.Track) != 1 || len(cov.Track[0].Points) != 2 || !cov.Track[0].Summary.Warning || *cov.Track[0].Summary.MaxDistanceM != 2224 {
		t.Errorf("tracks: got %+v, want one of 2 points reaching 2224 m with a warning", cov.Track)
	}
	// The report carries the track and its distance.
	var rep struct {
		Tracks []struct {
			SessionID    string   `json:"session_id"`
			Points       []any    `json:"points"`
			MaxDistanceM *float64 `json:"max_distance_m"`
			Warning      bool     `json:"warning"`
		} `json:"tracks"`
	}
	insp.MustJSON("GET", "/api/v1/cases/"+caseID+"/report.json", nil, http.StatusOK, &rep)
	if len(rep.Tracks) != 1 || rep.Tracks[0].SessionID != ls.ID || len(rep.Tracks[0].Points) != 2 || rep.Tracks[0].MaxDistanceM == nil ||
		*rep.Tracks[0].MaxDistanceM != 2224 || !rep.Tracks[0].Warning {
		t.Errorf("report tracks: got %+v, want the session's 2 points, 2224 m, a warning", rep.Tracks)
	}
	resp := insp.Do("GET", "/api/v1/cases/"+caseID+"/report.pdf", nil, nil)
	pdf, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.HasPrefix(pdf, []byte("%PDF")) {
		t.Errorf("report.pdf with a track: got %d, %d bytes", resp.StatusCode, len(pdf))
	}
	other := harness.Login(t, p.URL, "applicant2", p.Demo["applicant2"])
	other.MustJSON("GET", "/api/v1/cases/"+caseID+"/coverage", nil, http.StatusNotFound, nil)

	var audit []domain.AuditEvent
	insp.MustJSON("GET", "/api/v1/cases/"+caseID+"/audit", nil, http.StatusOK, &audit)
	seen := map[string]int{}
	for _, e := range audit {
		seen[e.Action]++
	}
	for a, n := range map[string]int{"live.shot": 2, "live.location_shared": 1, "live.still_requested": 1, "live.shots_uploaded": 1} {
		if seen[a] != n {
			t.Errorf("audit has %d %s, want %d", seen[a], a, n)
		}
	}
}
