package e2e

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"siteinspect/domain"
	"siteinspect/internal/harness"
	"siteinspect/internal/testenv"
)

// retrying is a Signal that tries again while the answer is a status a
// client retries (409: nobody publishes yet; 503: the owner is going or
// gone), for up to within.
func retrying(t *testing.T, sig testenv.Signal, within time.Duration) testenv.Signal {
	return func(offer string) (string, string, error) {
		deadline := time.Now().Add(within)
		for {
			answer, res, err := sig(offer)
			var he *harness.HTTPStatusError
			if err == nil || !errors.As(err, &he) || he.Status != http.StatusConflict && he.Status != http.StatusServiceUnavailable || time.Now().After(deadline) {
				return answer, res, err
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
}

// waitVideo waits until v has received video and returns how long that took.
func waitVideo(t *testing.T, v *testenv.Viewer, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for v.VideoPackets.Load() == 0 {
		if time.Since(start) > within {
			t.Fatalf("viewer received no video within %s", within)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(start)
}

// TestLiveTwoReplicas runs a live inspection on two replicas A and B that
// share one PostgreSQL database and one MinIO bucket, without stickiness:
// the phone publishes through A (and reconnects there once, so a finished
// segment is stored); a viewer and the room reach it through B, which
// forwards them to A; A is SIGKILLed; the phone's next WHIP POST lands on
// B, which takes the session over; a viewer joining through B receives
// video again within 5 s. Then B is stopped (SIGTERM) while a third
// replica C runs: B hands the session over, and the phone continues
// through C. Segments rotate every second. The end makes one ready
// recording of the segments stored by A and B and recorded by C, covering
// what was published less the segment in flight when A died; or all of
// it when A, started again on its folder meanwhile, has stored that
// segment for the owner.
func TestLiveTwoReplicas(t *testing.T) {
	for _, aReturns := range []bool{false, true} {
		t.Run(map[bool]string{false: "A stays dead", true: "A comes back"}[aReturns], func(t *testing.T) { liveReplicas(t, aReturns) })
	}
}

func liveReplicas(t *testing.T, aReturns bool) {
	pg := testenv.PostgresURL(t)
	media := testenv.MustRTCMedia(t)
	// Segments of about a second: a replica that dies loses at most the
	// one it was writing.
	common := append([]string{"--db", pg, "--webrtc-loopback", "--live-segment", "1s"}, harness.S3Args(t)...)
	// A runs no media jobs: the recording is processed after A is gone.
	aArgs := append(common, "--data", t.TempDir(), "--replica-id", "replica-a", "--jobs", "0")
	a := harness.StartServer(t, aArgs...)
	b := harness.StartServer(t, append(common, "--replica-id", "replica-b", "--jobs", "1")...)
	// B started last: its --demo passwords are the ones that hold.
	_, insp, caseID := harness.LiveCase(t, &harness.Proc{URL: a.URL, Demo: b.Demo})
	inspB := harness.Login(t, b.URL, "inspector", b.Demo["inspector"])
	var ls harness.LiveSession
	insp.MustJSON("POST", "/api/v1/cases/"+caseID+"/live", nil, http.StatusCreated, &ls)

	// The phone publishes through A, then reconnects through A: the first
	// segment is finished and stored.
	pub1 := testenv.Publish(t, testenv.CodecVP8, harness.WHIP(t, a.URL, ls))
	sent1 := pub1.Send(t, media, 3*time.Second)
	pub2 := testenv.Publish(t, testenv.CodecVP8, harness.WHIP(t, a.URL, ls))
	pub1.PC.Close()
	defer pub2.PC.Close()
	sent2c := make(chan time.Duration, 1)
	go func() { sent2c <- pub2.Send(t, media, 4*time.Second) }()

	// A viewer and the room reach A through B.
	viewer1 := testenv.View(t, harness.WHEP(t, b.URL, ls.ID, inspB.Token))
	defer viewer1.PC.Close()
	if !strings.HasPrefix(viewer1.Resource, "/api/v1/live/"+ls.ID+"/whep/") {
		t.Errorf("forwarded WHEP Location: got %q", viewer1.Resource)
	}
	t.Logf("viewer through B (forwarded to A): first video after %s", waitVideo(t, viewer1, 5*time.Second))
	room := dialRoom(t, b.URL, ls.ID, "", inspB.Token)
	room.expect("hello", 5*time.Second)
	room.send(map[string]any{"type": "instruction", "text": "show the gate"})
	if m := room.expect("instruction", 5*time.Second); m["text"] != "show the gate" {
		t.Errorf("room through B: got %v", m)
	}
	phoneRoom := dialRoom(t, a.URL, ls.ID, "?token="+ls.PublishToken, "")
	phoneRoom.expect("hello", 5*time.Second)
	if m := room.expect("presence", 5*time.Second); len(m["members"].([]any)) != 2 {
		// Both connections are in A's one room.
		if m := room.expect("presence", 5*time.Second); len(m["members"].([]any)) != 2 {
			t.Errorf("room through B: got members %v, want the officer and the phone", m["members"])
		}
	}
	// A publish that claims to be forwarded runs no media on a replica
	// that does not own the session: the header proves nothing.
	req, _ := http.NewRequest("POST", b.URL+ls.PublishURL, strings.NewReader("v=0\r\n"))
	req.Header.Set("Authorization", "Bearer "+ls.PublishToken)
	req.Header.Set("Content-Type", "application/sdp")
	req.Header.Set("X-Siteinspect-Forwarded", "someone")
	if resp, err := http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	} else if resp.Body.Close(); resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Errorf("WHIP POST to B marked as forwarded while A owns the session: got %d, want 503 with Retry-After", resp.StatusCode)
	}
	// A trickle PATCH through B reaches A's publisher resource.
	if resp, body := harness.SDPPost(t, "PATCH", b.URL+pub2.Resource, ls.PublishToken, "application/trickle-ice-sdpfrag", "a=end-of-candidates\r\n"); resp.StatusCode != http.StatusNoContent {
		t.Errorf("WHIP PATCH through B: got %d %s, want 204", resp.StatusCode, body)
	}
	// What forwarding adds to a WHEP join: the POST's round trip straight
	// to A and through B (each viewer then leaves by a DELETE the same way).
	join := func(base string) time.Duration {
		var took time.Duration
		v := testenv.View(t, func(offer string) (string, string, error) {
			began := time.Now()
			answer, res, err := harness.WHEP(t, base, ls.ID, inspB.Token)(offer)
			took = time.Since(began)
			return answer, res, err
		})
		defer v.PC.Close()
		if resp, body := harness.SDPPost(t, "DELETE", base+v.Resource, inspB.Token, "", ""); resp.StatusCode != http.StatusOK {
			t.Errorf("WHEP DELETE through %s: got %d %s, want 200", base, resp.StatusCode, body)
		}
		return took
	}
	var direct, forwarded []time.Duration
	for range 5 {
		direct = append(direct, join(a.URL))
		forwarded = append(forwarded, join(b.URL))
	}
	slices.Sort(direct)
	slices.Sort(forwarded)
	t.Logf("WHEP join (POST round trip), median of 5: %s straight to the owner, %s forwarded through another replica", direct[2], forwarded[2])
	sent2 := <-sent2c

	// A dies with the second segment in flight.
	a.Kill()
	killed := time.Now()
	pub2.PC.Close()
	viewer1.PC.Close()

	// The phone reconnects: its POST lands on B, which takes over once
	// A's heartbeat has expired (503 until then).
	pub3 := testenv.Publish(t, testenv.CodecVP8, retrying(t, harness.WHIP(t, b.URL, ls), 20*time.Second))
	reconnected := time.Now()
	defer pub3.PC.Close()
	sent3c := make(chan time.Duration, 1)
	go func() { sent3c <- pub3.Send(t, media, 4*time.Second) }()
	viewer2 := testenv.View(t, retrying(t, harness.WHEP(t, b.URL, ls.ID, inspB.Token), 5*time.Second))
	defer viewer2.PC.Close()
	waitVideo(t, viewer2, 5*time.Second)
	again := time.Since(reconnected)
	if again > 5*time.Second {
		t.Errorf("viewer received video again %s after the reconnect, want within 5 s", again)
	}
	t.Logf("takeover: publisher back %s after the kill; viewer through B receives video %s after the reconnect", reconnected.Sub(killed), again)
	sent3 := <-sent3c

	// A comes back on its folder while B owns the session: it finalizes
	// the segment that was in flight when it died and stores it for B.
	if aReturns {
		a = harness.StartServer(t, aArgs...)
		inspB = harness.Login(t, b.URL, "inspector", a.Demo["inspector"]) // A's --demo renewed the passwords
	}

	// B leaves gracefully (SIGTERM) while C is up: it hands the session
	// over (its segment stored) instead of ending it, and the phone's
	// reconnect through C takes it at once.
	c := harness.StartServer(t, append(common, "--replica-id", "replica-c", "--jobs", "1")...)
	b.Stop(t)
	pub3.PC.Close()
	viewer2.PC.Close()
	// C's --demo gave the demo users new passwords.
	inspC := harness.Login(t, c.URL, "inspector", c.Demo["inspector"])
	var mid harness.LiveSession
	inspC.MustJSON("GET", "/api/v1/live/"+ls.ID, nil, http.StatusOK, &mid)
	if mid.Status != "open" {
		t.Fatalf("after B left: session %s (%s), want open", mid.Status, mid.EndReason)
	}
	left := time.Now()
	pub4 := testenv.Publish(t, testenv.CodecVP8, retrying(t, harness.WHIP(t, c.URL, ls), 10*time.Second))
	defer pub4.PC.Close()
	t.Logf("handover: publisher back %s after B stopped", time.Since(left))
	sent4c := make(chan time.Duration, 1)
	go func() { sent4c <- pub4.Send(t, media, 3*time.Second) }()
	viewer3 := testenv.View(t, retrying(t, harness.WHEP(t, c.URL, ls.ID, inspC.Token), 5*time.Second))
	defer viewer3.PC.Close()
	waitVideo(t, viewer3, 5*time.Second)
	sent4 := <-sent4c

	var ended struct {
		Session  harness.LiveSession `json:"session"`
		Evidence *domain.Evidence    `json:"evidence"`
	}
	inspB = inspC
	inspC.MustJSON("POST", "/api/v1/live/"+ls.ID+"/end", nil, http.StatusOK, &ended)
	if ended.Evidence == nil {
		t.Fatal("end: no recording")
	}
	rec := inspB.MustEvidenceDone(ended.Evidence.ID, 2*time.Minute)
	if rec.Status != domain.EvidenceReady {
		t.Fatalf("recording: got %s (%s), want ready", rec.Status, rec.StatusReason)
	}
	got := time.Duration(*rec.Media.DurationMS) * time.Millisecond
	published := sent1 + sent2 + sent3 + sent4
	t.Logf("published %s (%s and then %s through A, killed then, %s on B, %s on C); A came back: %v; recording lasts %s", published, sent1, sent2, sent3, sent4, aReturns, got)
	// All of it when A's segment in flight came back with A, less what its
	// buffers held when it was killed (about a second); else less that
	// segment too (at most about 2 s: from a keyframe past 1 s to the next).
	want := published - 1500*time.Millisecond
	if !aReturns {
		want = published - 3500*time.Millisecond
	}
	if got < want || got > published+published/20 {
		t.Errorf("recording lasts %s; want at least %s of the %s published, at most %s", got, want, published, published)
	}

	// One recording evidence item for the session, of two segments.
	var list []domain.Evidence
	inspB.MustJSON("GET", "/api/v1/cases/"+caseID+"/evidence", nil, http.StatusOK, &list)
	recordings := 0
	for _, ev := range list {
		if ev.Kind == domain.KindRecording {
			recordings++
		}
	}
	if recordings != 1 {
		t.Errorf("recording evidence items: got %d, want 1", recordings)
	}
	var audit []domain.AuditEvent
	inspB.MustJSON("GET", "/api/v1/cases/"+caseID+"/audit", nil, http.StatusOK, &audit)
	for _, e := range audit {
		if e.Action == "evidence.recorded" {
			var d struct {
				Segments float64 `json:"segments"`
			}
			json.Unmarshal(e.Data, &d)
			// About a segment a second from each of A, B and C.
			if d.Segments < 8 {
				t.Errorf("recorded segments: got %v, want at least 8 (1 s segments from A, B and C)", d.Segments)
			}
		}
	}
}

// TestLiveRestartAfterReconnect: a replica killed after a reconnect has
// one segment stored in the object store (and still on its disk) and one
// in flight; started again on the same folder it finalizes the one in
// flight and joins it with the stored one, each once: the recording lasts
// what was sent, not the first part twice.
func TestLiveRestartAfterReconnect(t *testing.T) {
	media := testenv.MustRTCMedia(t)
	data := t.TempDir()
	args := append([]string{"--data", data, "--jobs", "1", "--webrtc-loopback"}, harness.S3Args(t)...)
	p := harness.StartServer(t, args...)
	_, insp, caseID := harness.LiveCase(t, p)
	var ls harness.LiveSession
	insp.MustJSON("POST", "/api/v1/cases/"+caseID+"/live", nil, http.StatusCreated, &ls)
	pub1 := testenv.Publish(t, testenv.CodecVP8, harness.WHIP(t, p.URL, ls))
	sent := pub1.Send(t, media, 3*time.Second)
	pub2 := testenv.Publish(t, testenv.CodecVP8, harness.WHIP(t, p.URL, ls))
	pub1.PC.Close()
	sent += pub2.Send(t, media, 3*time.Second)
	p.Kill()
	pub2.PC.Close()
	p = harness.StartServer(t, args...)
	insp = harness.Login(t, p.URL, "inspector", p.Demo["inspector"])
	var after harness.LiveSession
	insp.MustJSON("GET", "/api/v1/live/"+ls.ID, nil, http.StatusOK, &after)
	if after.Status != "ended" || after.EndReason != "restart" || after.EvidenceID == nil {
		t.Fatalf("after the restart: got %+v, want ended (restart) with a recording", after)
	}
	rec := insp.MustEvidenceDone(*after.EvidenceID, 2*time.Minute)
	if rec.Status != domain.EvidenceReady {
		t.Fatalf("recording: %s (%s)", rec.Status, rec.StatusReason)
	}
	got := time.Duration(*rec.Media.DurationMS) * time.Millisecond
	t.Logf("sent %s in two connections; the recording lasts %s", sent, got)
	// What was still in the dead process's buffers (about a second) is lost.
	if got > sent+sent/20 || got < sent-1500*time.Millisecond {
		t.Errorf("recording lasts %s; %s was sent", got, sent)
	}
}

// TestLiveIdleSweepOwner: with two replicas, B's idle sweeper leaves alone
// a session A runs (its publisher connected, longer than --live-idle),
// and ends it once A is dead and the idle time has passed since A's last
// heartbeat, with a recording of the segments A stored.
func TestLiveIdleSweepOwner(t *testing.T) {
	pg := testenv.PostgresURL(t)
	media := testenv.MustRTCMedia(t)
	common := append([]string{"--db", pg, "--webrtc-loopback", "--live-segment", "1s", "--live-idle", "4s"}, harness.S3Args(t)...)
	a := harness.StartServer(t, append(common, "--replica-id", "replica-a", "--jobs", "0")...)
	b := harness.StartServer(t, append(common, "--replica-id", "replica-b", "--jobs", "1")...)
	_, insp, caseID := harness.LiveCase(t, &harness.Proc{URL: a.URL, Demo: b.Demo})
	inspB := harness.Login(t, b.URL, "inspector", b.Demo["inspector"])
	var ls harness.LiveSession
	insp.MustJSON("POST", "/api/v1/cases/"+caseID+"/live", nil, http.StatusCreated, &ls)
	pub := testenv.Publish(t, testenv.CodecVP8, harness.WHIP(t, a.URL, ls))
	defer pub.PC.Close()
	sent := pub.Send(t, media, 3*time.Second)
	time.Sleep(5 * time.Second) // connected, sending nothing: A's, not idle
	var got harness.LiveSession
	inspB.MustJSON("GET", "/api/v1/live/"+ls.ID, nil, http.StatusOK, &got)
	if got.Status != "open" || !got.Publishing {
		t.Fatalf("after 8 s with A's publisher connected: got %+v, want open and publishing (B must leave A's session alone)", got)
	}
	a.Kill()
	killed := time.Now()
	for got.Status == "open" {
		if time.Since(killed) > 30*time.Second {
			t.Fatalf("B did not end the dead replica's session within 30 s")
		}
		time.Sleep(500 * time.Millisecond)
		// 503 while B still forwards to A (its heartbeat not yet expired).
		code, body, err := harness.TryJSON(http.DefaultClient, b.URL, inspB.Token, "GET", "/api/v1/live/"+ls.ID, nil)
		switch {
		case err != nil:
			t.Fatal(err)
		case code == http.StatusOK:
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatal(err)
			}
		case code != http.StatusServiceUnavailable:
			t.Fatalf("GET the session through B: got %d %s, want 200 or 503", code, body)
		}
	}
	t.Logf("B ended the session %s after A was killed", time.Since(killed))
	if got.EndReason != "idle" || got.EvidenceID == nil {
		t.Fatalf("after A died: got %+v, want ended idle with a recording", got)
	}
	if d := time.Since(killed); d < 4*time.Second {
		t.Errorf("ended %s after A died, want no sooner than --live-idle (4 s)", d)
	}
	rec := inspB.MustEvidenceDone(*got.EvidenceID, 2*time.Minute)
	if rec.Status != domain.EvidenceReady {
		t.Fatalf("recording: %s (%s)", rec.Status, rec.StatusReason)
	}
	dur := time.Duration(*rec.Media.DurationMS) * time.Millisecond
	t.Logf("sent %s through A; the stored segments make %s", sent, dur)
	if dur < sent-2500*time.Millisecond || dur > sent+sent/20 {
		t.Errorf("recording lasts %s; %s was sent, less at most the segment in flight", dur, sent)
	}
}
