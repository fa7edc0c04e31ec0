package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"siteinspect/domain"
	"siteinspect/internal/harness"
	"siteinspect/internal/testenv"
)

func dialRoom(t *testing.T, base, lid, query, bearer string) *roomConn {
	t.Helper()
	url := "ws" + strings.TrimPrefix(base, "http") + "/api/v1/live/" + lid + "/ws" + query
	opts := &websocket.DialOptions{HTTPHeader: http.Header{}}
	if bearer != "" {
		opts.HTTPHeader.Set("Authorization", "Bearer "+bearer)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, url, opts)
	if err != nil {
		t.Fatalf("dial room: %v", err)
	}
	c.SetReadLimit(1 << 20)
	r := &roomConn{t: t, c: c, msgs: make(chan map[string]any, 256), err: make(chan error, 1)}
	go func() {
		for {
			_, b, err := c.Read(context.Background())
			if err != nil {
				r.err <- err
				close(r.msgs)
				return
			}
			var m map[string]any
			if err := json.Unmarshal(b, &m); err != nil {
				t.Errorf("room sent non-JSON %q", b)
				continue
			}
			r.msgs <- m
		}
	}()
	t.Cleanup(func() { c.CloseNow() })
	return r
}

// roomConn is a test client of the live room.
type roomConn struct {
	t    *testing.T
	c    *websocket.Conn
	msgs chan map[string]any
	err  chan error
}

func (r *roomConn) send(v any) {
	r.t.Helper()
	b, _ := json.Marshal(v)
	if err := r.c.Write(context.Background(), websocket.MessageText, b); err != nil {
		r.t.Fatalf("room write: %v", err)
	}
}

// expect waits for a message of type typ, skipping others (state, quality,
// presence arrive at any time).
func (r *roomConn) expect(typ string, within time.Duration) map[string]any {
	r.t.Helper()
	deadline := time.After(within)
	for {
		select {
		case m, ok := <-r.msgs:
			if !ok {
				r.t.Fatalf("room closed while waiting for %q: %v", typ, <-r.err)
			}
			if m["type"] == typ {
				return m
			}
		case <-deadline:
			r.t.Fatalf("no %q message within %s", typ, within)
		}
	}
}

// TestLiveInspection runs a whole live inspection over HTTP with Go pion
// peers: who may start and publish, WHIP errors, a viewer receiving video,
// the room (instructions, live annotations, bad and oversized messages),
// a snapshot, and the end: the recording is ready evidence with its
// SHA-256, about as long as what was sent, decoding without errors, with
// the live annotation on it at its recording time.
func TestLiveInspection(t *testing.T) {
	media := testenv.MustRTCMedia(t)
	p := harness.StartServer(t, append([]string{"--jobs", "1", "--webrtc-loopback"}, harness.S3Args(t)...)...)
	app, insp, caseID := harness.LiveCase(t, p)
	rev := harness.Login(t, p.URL, "reviewer", p.Demo["reviewer"])
	other := harness.Login(t, p.URL, "applicant2", p.Demo["applicant2"])

	// Only the assigned inspector starts one; one at a time.
	app.MustJSON("POST", "/api/v1/cases/"+caseID+"/live", nil, http.StatusForbidden, nil)
	rev.MustJSON("POST", "/api/v1/cases/"+caseID+"/live", nil, http.StatusForbidden, nil)
	other.MustJSON("POST", "/api/v1/cases/"+caseID+"/live", nil, http.StatusNotFound, nil)
	var ls harness.LiveSession
	insp.MustJSON("POST", "/api/v1/cases/"+caseID+"/live", nil, http.StatusCreated, &ls)
	if ls.PublishToken == "" || !strings.Contains(ls.JoinURL, ls.ID) || ls.PublishURL != "/api/v1/live/"+ls.ID+"/whip" {
		t.Fatalf("create: got %+v", ls)
	}
	insp.MustJSON("POST", "/api/v1/cases/"+caseID+"/live", nil, http.StatusConflict, nil)
	other.MustJSON("GET", "/api/v1/live/"+ls.ID, nil, http.StatusNotFound, nil)
	phone := harness.WithToken(t, p.URL, ls.PublishToken)
	phone.MustJSON("GET", "/api/v1/live/"+ls.ID, nil, http.StatusOK, nil)

	// WHIP refuses a wrong token, a wrong type and malformed SDP.
	url := p.URL + ls.PublishURL
	for _, c := range []struct {
		name, token, ctype, body string
		want                     int
	}{
		{"no token", "", "application/sdp", "v=0\r\n", http.StatusUnauthorized},
		{"wrong token", "x" + ls.PublishToken, "application/sdp", "v=0\r\n", http.StatusUnauthorized},
		{"a login token", insp.Token, "application/sdp", "v=0\r\n", http.StatusUnauthorized},
		{"wrong type", ls.PublishToken, "text/plain", "v=0\r\n", http.StatusUnsupportedMediaType},
		{"malformed SDP", ls.PublishToken, "application/sdp", "this is not SDP", http.StatusBadRequest},
	} {
		resp, body := harness.SDPPost(t, "POST", url, c.token, c.ctype, c.body)
		if resp.StatusCode != c.want {
			t.Errorf("%s: got %d %s, want %d", c.name, resp.StatusCode, body, c.want)
		}
		if c.want == http.StatusUnauthorized && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%s: WWW-Authenticate %q", c.name, resp.Header.Get("WWW-Authenticate"))
		}
	}
	if _, _, err := harness.WHEP(t, p.URL, ls.ID, insp.Token)("v=0\r\n"); err == nil || err.(*harness.HTTPStatusError).Status != http.StatusConflict {
		t.Errorf("WHEP before anyone publishes: got %v, want 409", err)
	}

	officer := dialRoom(t, p.URL, ls.ID, "", insp.Token)
	officer.expect("hello", 5*time.Second)
	phoneRoom := dialRoom(t, p.URL, ls.ID, "?token="+ls.PublishToken, "")
	phoneRoom.expect("hello", 5*time.Second)

	pub := testenv.Publish(t, testenv.CodecVP8, harness.WHIP(t, p.URL, ls))
	if !strings.HasPrefix(pub.Resource, "/api/v1/live/"+ls.ID+"/whip/") {
		t.Errorf("Location %q", pub.Resource)
	}
	sent := make(chan time.Duration, 1)
	go func() { sent <- pub.Send(t, media, 6*time.Second) }()

	// Watchers: WHEP for the case's officers only.
	if _, _, err := harness.WHEP(t, p.URL, ls.ID, app.Token)("v=0\r\n"); err == nil || err.(*harness.HTTPStatusError).Status != http.StatusForbidden {
		t.Errorf("applicant WHEP: got %v, want 403", err)
	}
	viewer := testenv.View(t, harness.WHEP(t, p.URL, ls.ID, insp.Token))
	defer viewer.PC.Close()

	// The room: instructions both ways, a live annotation stamped with the
	// recording time, errors that leave the connection open.
	time.Sleep(1500 * time.Millisecond)
	officer.send(map[string]any{"type": "instruction", "text": "请把镜头对准安全出口 Show me the fire exit"})
	if m := phoneRoom.expect("instruction", 5*time.Second); !strings.Contains(m["text"].(string), "fire exit") {
		t.Errorf("phone got instruction %v", m)
	}
	officer.send(map[string]any{"type": "annotation", "body": "安全出口被纸箱堵塞", "checklist_item": "fire-exits", "severity": "violation",
		"shape": map[string]any{"type": "rect", "points": [][2]float64{{0.1, 0.1}, {0.5, 0.5}}}})
	ann := officer.expect("annotation", 5*time.Second)["annotation"].(map[string]any)
	annMS := int64(ann["recording_ms"].(float64))
	if annMS < 500 || annMS > 6000 {
		t.Errorf("live annotation at recording_ms %d, want about 1500", annMS)
	}
	phoneRoom.send(map[string]any{"type": "annotation", "body": "x"})
	if m := phoneRoom.expect("error", 5*time.Second); m["error"].(map[string]any)["code"] != "forbidden" {
		t.Errorf("phone annotating: got %v, want forbidden", m)
	}
	officer.send(map[string]any{"type": "nonsense"})
	officer.expect("error", 5*time.Second)
	if err := officer.c.Write(context.Background(), websocket.MessageText, []byte(`{"type":`)); err != nil {
		t.Fatal(err)
	}
	officer.expect("error", 5*time.Second)
	big := dialRoom(t, p.URL, ls.ID, "?token="+ls.PublishToken, "")
	big.expect("hello", 5*time.Second)
	big.send(map[string]any{"type": "instruction", "text": strings.Repeat("很", 8000)})
	select {
	case err := <-big.err:
		if st := websocket.CloseStatus(err); st != websocket.StatusMessageTooBig {
			t.Errorf("oversized message: connection closed with %v (%v), want 1009", st, err)
		}
	case <-time.After(5 * time.Second):
		t.Error("a 24 KB message did not close its connection")
	}
	officer.send(map[string]any{"type": "ping"})
	officer.expect("pong", 5*time.Second)
	// Connection quality for both sides, every 2 s.
	q := officer.expect("quality", 5*time.Second)
	if pq, _ := q["publisher"].(map[string]any); pq == nil || pq["bitrate_kbps"].(float64) <= 0 {
		t.Errorf("quality: publisher %v, want a bitrate", q["publisher"])
	}
	if vq, _ := q["viewers"].(map[string]any); len(vq) != 1 {
		t.Errorf("quality: viewers %v, want the one viewer", q["viewers"])
	}

	// A snapshot is image evidence.
	var snap domain.Evidence
	insp.MustJSON("POST", "/api/v1/live/"+ls.ID+"/snapshots", nil, http.StatusCreated, &snap)
	if snap.Kind != domain.KindImage || snap.ContentType != "image/jpeg" || snap.Size < 1000 {
		t.Errorf("snapshot: got %+v", snap)
	}
	if viewer.VideoPackets.Load() == 0 {
		t.Error("the viewer received no video")
	}

	mediaSent := <-sent
	app.MustJSON("POST", "/api/v1/live/"+ls.ID+"/end", nil, http.StatusForbidden, nil)
	var ended struct {
		Session  harness.LiveSession `json:"session"`
		Evidence *domain.Evidence    `json:"evidence"`
	}
	insp.MustJSON("POST", "/api/v1/live/"+ls.ID+"/end", nil, http.StatusOK, &ended)
	pub.PC.Close()
	if ended.Session.Status != "ended" || ended.Evidence == nil || ended.Evidence.Kind != domain.KindRecording {
		t.Fatalf("end: got %+v", ended)
	}
	m := officer.expect("ended", 5*time.Second)
	if m["evidence_id"] != ended.Evidence.ID {
		t.Errorf("ended message %v", m)
	}
	insp.MustJSON("POST", "/api/v1/live/"+ls.ID+"/end", nil, http.StatusUnprocessableEntity, nil)
	var after harness.LiveSession
	phone.MustJSON("GET", "/api/v1/live/"+ls.ID, nil, http.StatusOK, &after)
	if after.Status != "ended" {
		t.Errorf("the phone asking after the end: got %+v, want ended", after)
	}
	if resp, _ := harness.SDPPost(t, "POST", url, ls.PublishToken, "application/sdp", "v=0\r\n"); resp.StatusCode != http.StatusGone {
		t.Errorf("WHIP after the end: got %d, want 410", resp.StatusCode)
	}

	rec := insp.MustEvidenceDone(ended.Evidence.ID, 2*time.Minute)
	if rec.Status != domain.EvidenceReady || rec.ContentType != "video/webm" {
		t.Fatalf("recording: got %s %s (%s)", rec.Status, rec.ContentType, rec.StatusReason)
	}
	got := time.Duration(*rec.Media.DurationMS) * time.Millisecond
	if d := got - mediaSent; d < -mediaSent/20 || d > mediaSent/20 {
		t.Errorf("recording lasts %s; %s was sent (want within 5%%)", got, mediaSent)
	}
	file := filepath.Join(t.TempDir(), "rec.webm")
	resp := insp.Do("GET", "/api/v1/evidence/"+rec.ID+"/content", nil, nil)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	sum := sha256.Sum256(b)
	if hex.EncodeToString(sum[:]) != rec.SHA256 {
		t.Errorf("recording SHA-256 %x, evidence says %s", sum, rec.SHA256)
	}
	os.WriteFile(file, b, 0o644)
	testenv.MustDecodeClean(t, file)

	// The live annotation is now an ordinary annotation on the recording.
	var notes []domain.Annotation
	insp.MustJSON("GET", "/api/v1/evidence/"+rec.ID+"/annotations", nil, http.StatusOK, &notes)
	if len(notes) != 1 || notes[0].StartMS == nil || *notes[0].StartMS != annMS || notes[0].StartFrame == nil || notes[0].ChecklistItem != "fire-exits" {
		t.Errorf("annotations on the recording: got %+v, want one at %d ms with a frame", notes, annMS)
	}

	// Everything is in the case's audit trail.
	var audit []domain.AuditEvent
	insp.MustJSON("GET", "/api/v1/cases/"+caseID+"/audit", nil, http.StatusOK, &audit)
	seen := map[string]bool{}
	for _, e := range audit {
		seen[e.Action] = true
	}
	for _, a := range []string{"live.created", "live.published", "live.watched", "live.instruction", "live.annotation", "evidence.captured", "evidence.recorded", "live.ended"} {
		if !seen[a] {
			t.Errorf("audit lacks %s", a)
		}
	}
}

// TestLiveReconnectH264 publishes H.264 as OBS would, drops, and publishes
// again with the same token: one Matroska/H.264 recording of two segments
// that ffprobe accepts, as long as what was sent (the outage is not kept).
func TestLiveReconnectH264(t *testing.T) {
	media := testenv.MustRTCMedia(t)
	p := harness.StartServer(t, append([]string{"--jobs", "1", "--webrtc-loopback"}, harness.S3Args(t)...)...)
	_, insp, caseID := harness.LiveCase(t, p)
	var ls harness.LiveSession
	insp.MustJSON("POST", "/api/v1/cases/"+caseID+"/live", nil, http.StatusCreated, &ls)
	var total time.Duration
	for i := 0; i < 2; i++ {
		pub := testenv.Publish(t, testenv.CodecH264, harness.WHIP(t, p.URL, ls))
		total += pub.Send(t, media, 3*time.Second)
		// The first leaves with a WHIP DELETE; the second is replaced by
		// nothing and ended by the inspector.
		if i == 0 {
			if resp, body := harness.SDPPost(t, "DELETE", p.URL+pub.Resource, ls.PublishToken, "", ""); resp.StatusCode != http.StatusOK {
				t.Fatalf("WHIP DELETE: %d %s", resp.StatusCode, body)
			}
			if resp, _ := harness.SDPPost(t, "DELETE", p.URL+pub.Resource, ls.PublishToken, "", ""); resp.StatusCode != http.StatusNotFound {
				t.Errorf("second DELETE: got %d, want 404", resp.StatusCode)
			}
			time.Sleep(time.Second)
		}
		defer pub.PC.Close()
	}
	var ended struct {
		Evidence *domain.Evidence `json:"evidence"`
	}
	insp.MustJSON("POST", "/api/v1/live/"+ls.ID+"/end", nil, http.StatusOK, &ended)
	rec := insp.MustEvidenceDone(ended.Evidence.ID, 2*time.Minute)
	if rec.Status != domain.EvidenceReady || rec.ContentType != "video/x-matroska" || rec.Media.VideoCodec != "h264" {
		t.Fatalf("recording: got %s %s %s (%s)", rec.Status, rec.ContentType, rec.Media.VideoCodec, rec.StatusReason)
	}
	got := time.Duration(*rec.Media.DurationMS) * time.Millisecond
	if d := got - total; d < -total/20 || d > total/20 {
		t.Errorf("recording lasts %s; %s was sent in two parts (want within 5%%, no gap for the outage)", got, total)
	}
	var audit []domain.AuditEvent
	insp.MustJSON("GET", "/api/v1/cases/"+caseID+"/audit", nil, http.StatusOK, &audit)
	var segments, publishes float64
	for _, e := range audit {
		if e.Action == "evidence.recorded" {
			var d struct {
				Segments float64 `json:"segments"`
			}
			json.Unmarshal(e.Data, &d)
			segments = d.Segments
		}
		if e.Action == "live.published" {
			publishes++
		}
	}
	if segments != 2 || publishes != 2 {
		t.Errorf("audit: %v segments, %v publishes; want 2 and 2", segments, publishes)
	}
}

// TestLiveIdleAndExpiry: a join link stops working after --live-token-ttl
// if nobody published, and a session without a publisher for --live-idle
// ends by itself, keeping what was recorded.
func TestLiveIdleAndExpiry(t *testing.T) {
	media := testenv.MustRTCMedia(t)
	p := harness.StartServer(t, "--jobs", "0", "--webrtc-loopback", "--live-idle", "3s", "--live-token-ttl", "1s")
	_, insp, caseID := harness.LiveCase(t, p)
	var a harness.LiveSession
	insp.MustJSON("POST", "/api/v1/cases/"+caseID+"/live", nil, http.StatusCreated, &a)
	time.Sleep(1200 * time.Millisecond)
	if resp, _ := harness.SDPPost(t, "POST", p.URL+a.PublishURL, a.PublishToken, "application/sdp", "v=0\r\n"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("expired token: got %d, want 401", resp.StatusCode)
	}
	waitLive := func(id string) harness.LiveSession {
		t.Helper()
		var ls harness.LiveSession
		for end := time.Now().Add(20 * time.Second); time.Now().Before(end); time.Sleep(250 * time.Millisecond) {
			insp.MustJSON("GET", "/api/v1/live/"+id, nil, http.StatusOK, &ls)
			if ls.Status == "ended" {
				return ls
			}
		}
		t.Fatalf("live session %s did not end when idle", id)
		return ls
	}
	if ls := waitLive(a.ID); ls.EndReason != "idle" || ls.EvidenceID != nil {
		t.Errorf("idle session: got %+v, want ended idle without a recording", ls)
	}

	var b harness.LiveSession
	insp.MustJSON("POST", "/api/v1/cases/"+caseID+"/live", nil, http.StatusCreated, &b)
	pub := testenv.Publish(t, testenv.CodecVP8, harness.WHIP(t, p.URL, b))
	pub.Send(t, media, 2*time.Second)
	pub.PC.Close() // no DELETE: the connection just goes (a closed tab)
	if ls := waitLive(b.ID); ls.EndReason != "idle" || ls.EvidenceID == nil {
		t.Errorf("session left by its publisher: got %+v, want ended idle with a recording", ls)
	}
}

// TestLiveMaxDuration: a session ends by itself --live-max-duration after
// its first publish, publisher connected or not (end_reason time_limit),
// and keeps its recording: a recording is evidence that no company quota
// counts, so its length is bounded, as its bitrate is (--live-max-kbps,
// signaling's TestIngestBound).
func TestLiveMaxDuration(t *testing.T) {
	media := testenv.MustRTCMedia(t)
	p := harness.StartServer(t, "--jobs", "0", "--webrtc-loopback", "--live-max-duration", "3s")
	_, insp, caseID := harness.LiveCase(t, p)
	var a harness.LiveSession
	insp.MustJSON("POST", "/api/v1/cases/"+caseID+"/live", nil, http.StatusCreated, &a)
	start := time.Now() // before the publish, so the session started after it
	pub := testenv.Publish(t, testenv.CodecVP8, harness.WHIP(t, p.URL, a))
	defer pub.PC.Close()
	sending := make(chan struct{})
	go func() {
		defer close(sending)
		pub.Send(t, media, 12*time.Second)
	}()
	var ls harness.LiveSession
	for end := time.Now().Add(15 * time.Second); time.Now().Before(end); time.Sleep(250 * time.Millisecond) {
		insp.MustJSON("GET", "/api/v1/live/"+a.ID, nil, http.StatusOK, &ls)
		if ls.Status == "ended" {
			break
		}
	}
	took := time.Since(start)
	if ls.Status != "ended" || ls.EndReason != "time_limit" || ls.EvidenceID == nil {
		t.Fatalf("session publishing past --live-max-duration 3s: after %v got %+v, want ended (time_limit) with a recording", took.Round(time.Millisecond), ls)
	}
	// The sweep runs every 2 s: it ends the session 3–5 s after the first
	// publish, while the publisher still sends (its clip lasts 10 s), and
	// storing the recording takes a moment more on a busy machine.
	if took < 3*time.Second || took > 12*time.Second {
		t.Errorf("ended %v after the publish began, want 3–12 s", took.Round(time.Millisecond))
	}
	<-sending
}

// TestLiveServerRestart: a server shutdown (SIGTERM) finalizes an open
// session's recording and stores it as evidence; after a crash (SIGKILL)
// the next start finalizes what the dead process had written and stores
// that.
func TestLiveServerRestart(t *testing.T) {
	media := testenv.MustRTCMedia(t)
	data := t.TempDir()
	args := append([]string{"--data", data, "--jobs", "1", "--webrtc-loopback"}, harness.S3Args(t)...)
	p := harness.StartServer(t, args...)
	_, insp, caseID := harness.LiveCase(t, p)

	check := func(p *harness.Proc, lid, reason string, sent time.Duration, slack time.Duration) {
		t.Helper()
		insp := harness.Login(t, p.URL, "inspector", p.Demo["inspector"])
		var ls harness.LiveSession
		insp.MustJSON("GET", "/api/v1/live/"+lid, nil, http.StatusOK, &ls)
		if ls.Status != "ended" || ls.EndReason != reason || ls.EvidenceID == nil {
			t.Fatalf("after the restart: got %+v, want ended (%s) with a recording", ls, reason)
		}
		rec := insp.MustEvidenceDone(*ls.EvidenceID, 2*time.Minute)
		if rec.Status != domain.EvidenceReady {
			t.Fatalf("recording: %s (%s)", rec.Status, rec.StatusReason)
		}
		got := time.Duration(*rec.Media.DurationMS) * time.Millisecond
		if got > sent+sent/20 || got < sent-slack {
			t.Errorf("%s: recording lasts %s; %s was sent", reason, got, sent)
		}
	}

	var a harness.LiveSession
	insp.MustJSON("POST", "/api/v1/cases/"+caseID+"/live", nil, http.StatusCreated, &a)
	pub := testenv.Publish(t, testenv.CodecVP8, harness.WHIP(t, p.URL, a))
	sent := pub.Send(t, media, 3*time.Second)
	p.Stop(t)
	pub.PC.Close()
	p = harness.StartServer(t, args...)
	check(p, a.ID, "shutdown", sent, sent/20)

	insp = harness.Login(t, p.URL, "inspector", p.Demo["inspector"])
	var b harness.LiveSession
	insp.MustJSON("POST", "/api/v1/cases/"+caseID+"/live", nil, http.StatusCreated, &b)
	pub = testenv.Publish(t, testenv.CodecVP8, harness.WHIP(t, p.URL, b))
	sent = pub.Send(t, media, 4*time.Second)
	p.Kill()
	pub.PC.Close()
	p = harness.StartServer(t, args...)
	// What was still in the dead process's buffers (the frames being
	// sorted, at most a cluster of about a second) is lost.
	check(p, b.ID, "restart", sent, 1500*time.Millisecond)
}

// TestLivePhoneRecordingUpload: the phone's own recording of a session that
// broke up reaches the case over tus with the publish token, after the
// session ended and while the case is in review (no ordinary upload would
// be taken then); the token opens no other case's uploads.
func TestLivePhoneRecordingUpload(t *testing.T) {
	p := harness.StartServer(t, append([]string{"--jobs", "1", "--webrtc-loopback"}, harness.S3Args(t)...)...)
	app, insp, caseID := harness.LiveCase(t, p)
	var ls harness.LiveSession
	insp.MustJSON("POST", "/api/v1/cases/"+caseID+"/live", nil, http.StatusCreated, &ls)
	insp.MustJSON("POST", "/api/v1/live/"+ls.ID+"/end", nil, http.StatusOK, nil)

	file := filepath.Join(t.TempDir(), "phone.webm")
	// Written as a browser's MediaRecorder writes it: a live WebM with no
	// duration or index.
	testenv.FFmpeg(t, "-f", "lavfi", "-i", "testsrc=size=320x240:rate=30", "-f", "lavfi", "-i", "sine=frequency=440",
		"-t", "3", "-c:v", "libvpx", "-b:v", "300k", "-c:a", "libopus", "-live", "1", file)
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	meta := "filename " + base64.StdEncoding.EncodeToString([]byte("现场录像 phone.webm")) + ",filetype " + base64.StdEncoding.EncodeToString([]byte("video/webm"))
	create := func(token string) *http.Response {
		phone := harness.WithToken(t, p.URL, token)
		resp := phone.Do("POST", "/api/v1/live/"+ls.ID+"/uploads", nil, map[string]string{"Tus-Resumable": "1.0.0",
			"Upload-Length": strconv.Itoa(len(data)), "Upload-Metadata": meta})
		resp.Body.Close()
		return resp
	}
	for _, bad := range []string{"", "nope", app.Token} {
		if resp := create(bad); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("create with token %q: got %d, want 401", bad, resp.StatusCode)
		}
	}
	resp := create(ls.PublishToken)
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusCreated || !strings.HasPrefix(loc, "/api/v1/live/"+ls.ID+"/uploads/") {
		t.Fatalf("create: %d, Location %q", resp.StatusCode, loc)
	}

	// Another session's token (another case of the same company) does not
	// open this upload.
	_, insp2, case2 := harness.LiveCase(t, p)
	var other harness.LiveSession
	insp2.MustJSON("POST", "/api/v1/cases/"+case2+"/live", nil, http.StatusCreated, &other)
	stranger := harness.WithToken(t, p.URL, other.PublishToken)
	uid := loc[strings.LastIndex(loc, "/")+1:]
	if resp := stranger.Do("HEAD", "/api/v1/live/"+other.ID+"/uploads/"+uid, nil, map[string]string{"Tus-Resumable": "1.0.0"}); resp.StatusCode != http.StatusNotFound {
		t.Errorf("HEAD through another session: got %d, want 404", resp.StatusCode)
	}

	phone := harness.WithToken(t, p.URL, ls.PublishToken)
	resp = phone.Patch(loc, 0, bytes.NewReader(data), int64(len(data)))
	resp.Body.Close()
	evID := resp.Header.Get("Evidence-Id")
	if resp.StatusCode != http.StatusNoContent || evID == "" {
		t.Fatalf("PATCH: %d, Evidence-Id %q", resp.StatusCode, evID)
	}
	ev := app.MustEvidenceDone(evID, 2*time.Minute)
	var me domain.User
	app.MustJSON("GET", "/api/v1/me", nil, http.StatusOK, &me)
	sum := sha256.Sum256(data)
	if ev.Status != domain.EvidenceReady || ev.Kind != domain.KindVideo || ev.ContentType != "video/webm" || ev.UploadedBy != me.ID ||
		ev.SHA256 != hex.EncodeToString(sum[:]) || ev.Filename != "现场录像 phone.webm" {
		t.Errorf("the phone's recording: got %+v", ev)
	}
	// Its length is read through the file, and it plays from a seekable proxy.
	if ev.Media == nil || ev.Media.DurationMS == nil || *ev.Media.DurationMS < 2900 || *ev.Media.DurationMS > 3100 || ev.Derived == nil || !ev.Derived.Proxy {
		t.Errorf("the phone's recording: media %+v, derived %+v; want about 3000 ms and a proxy", ev.Media, ev.Derived)
	}
}
