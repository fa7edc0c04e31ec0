package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"siteinspect/domain"
	"siteinspect/internal/harness"
	"siteinspect/internal/testenv"
)

// inspectionBudget bounds each browser of TestLiveBrowserInspection, from
// its start to its last step: two Chromiums, one of them encoding a camera,
// share two cores with the server here, so it is longer than browserBudget.
const inspectionBudget = 75 * time.Second

// mustInspectionBrowser starts a headless Chromium with the flags of
// mustBrowser, loopback ICE candidates (without them ICE never completes in
// a sandbox with only loopback) and extra, sized w×h, checked as
// mustBrowser's is.
func mustInspectionBrowser(t *testing.T, name string, w, h int, extra ...chromedp.ExecAllocatorOption) *browser {
	t.Helper()
	return mustNamedBrowser(t, name, w, h, inspectionBudget,
		append([]chromedp.ExecAllocatorOption{chromedp.Flag("allow-loopback-in-peer-connection", true)}, extra...)...)
}

// publishingWatch polls GET /api/v1/live/{lid} every 100 ms from a
// goroutine and notes when the server first reports publishing, and when
// it first reports a recording position (with the position it gave).
type publishingWatch struct {
	stop chan struct{}
	done chan struct{}

	mu          sync.Mutex
	publishing  time.Time
	recording   time.Time
	recordingMS int64
	err         error
}

func watchPublishing(base, lid, token string) *publishingWatch {
	w := &publishingWatch{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			var st struct {
				Publishing  bool  `json:"publishing"`
				RecordingMS int64 `json:"recording_ms"`
			}
			err := getJSON(base+"/api/v1/live/"+lid, token, &st)
			now := time.Now()
			w.mu.Lock()
			if err != nil && w.err == nil {
				w.err = err
			}
			if st.Publishing && w.publishing.IsZero() {
				w.publishing = now
			}
			if st.RecordingMS > 0 && w.recording.IsZero() {
				w.recording, w.recordingMS = now, st.RecordingMS
			}
			finished := !w.publishing.IsZero() && !w.recording.IsZero()
			w.mu.Unlock()
			if finished {
				return
			}
			select {
			case <-w.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return w
}

// mustPublishing waits up to within for the server to report publishing
// and returns when it first did.
func (w *publishingWatch) mustPublishing(t *testing.T, within time.Duration) time.Time {
	t.Helper()
	for end := time.Now().Add(within); ; time.Sleep(20 * time.Millisecond) {
		w.mu.Lock()
		at, err := w.publishing, w.err
		w.mu.Unlock()
		if err != nil {
			t.Fatalf("poll the session: %v", err)
		}
		if !at.IsZero() {
			return at
		}
		if time.Now().After(end) {
			t.Fatalf("the server did not report publishing within %s", within)
		}
	}
}

func (w *publishingWatch) close() {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	<-w.done
}

// getJSON is a GET with a bearer token for goroutines, which must not
// call t.Fatal.
func getJSON(url, token string, out any) error {
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	return json.Unmarshal(b, out)
}

// playingJS waits for the live player to have a picture and to have played
// half a second since it first had one.
const playingJS = `() => {
	const v = document.getElementById('live-video');
	if (!v || v.videoWidth === 0) return null;
	if (window.__firstTime === undefined) { window.__firstTime = v.currentTime; return null; }
	if (v.currentTime < window.__firstTime + 0.5) return null;
	return { width: v.videoWidth, height: v.videoHeight, from: window.__firstTime, to: v.currentTime };
}`

// playing is what playingJS reports.
type playing struct {
	Width  int     `json:"width"`
	Height int     `json:"height"`
	From   float64 `json:"from"`
	To     float64 `json:"to"`
}

// liveNoteJS waits for the confirmed live annotation with the body and
// reports its id and the recording position the server stamped it with.
const liveNoteJS = `(body) => {
	const li = [...document.querySelectorAll('.live-annotation')].find((el) => el.textContent.includes(body));
	return li && li.dataset.annotationId && li.dataset.recordingMs !== '' ? { id: li.dataset.annotationId, ms: li.dataset.recordingMs } : null;
}`

// TestLiveBrowserInspection is a live inspection between two browsers: a
// phone, not signed in, that opens the join link and publishes a fake
// camera and microphone from Chromium, and the inspector's Chromium, signed
// in, watching the live page. A Go WHEP viewer receives the video too; the
// inspector's instruction reaches the phone; a snapshot becomes image
// evidence; a live note is stamped with the recording position. Ending
// from the page gives a ready recording that lasts as long as the phone
// published, decodes cleanly and carries the note at that position.
func TestLiveBrowserInspection(t *testing.T) {
	started := time.Now()
	// A length limit short enough that both pages say when it ends the
	// session (they do in its last ten minutes), long enough that it does
	// not end it during the test.
	const maxDur = 9 * time.Minute
	p := harness.StartServer(t, append([]string{"--jobs", "1", "--webrtc-loopback", "--live-max-duration", maxDur.String()}, harness.S3Args(t)...)...)
	_, insp, caseID := harness.LiveCase(t, p)
	var ls harness.LiveSession
	insp.MustJSON("POST", "/api/v1/cases/"+caseID+"/live", nil, http.StatusCreated, &ls)
	if want := "/#/join/" + ls.ID + "?token="; !strings.HasPrefix(ls.JoinURL, want) {
		t.Fatalf("join_url: got %q, want %s…", ls.JoinURL, want)
	}

	// The phone's camera and microphone: Chromium loops these files.
	dir := t.TempDir()
	y4m, wav := filepath.Join(dir, "camera.y4m"), filepath.Join(dir, "mic.wav")
	testenv.FFmpeg(t, "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30", "-t", "6", "-pix_fmt", "yuv420p", y4m)
	testenv.FFmpeg(t, "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", "6", wav)
	t.Logf("setup took %s", time.Since(started).Round(time.Millisecond))

	// The phone opens the link (no sign-in) and starts.
	phone := mustInspectionBrowser(t, "phone", phoneWidth, phoneHeight,
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("use-file-for-fake-video-capture", y4m),
		chromedp.Flag("use-file-for-fake-audio-capture", wav))
	phone.mustDo(t, "emulate a phone", chromedp.EmulateViewport(phoneWidth, phoneHeight, chromedp.EmulateMobile))
	phone.mustDo(t, "open the join link", chromedp.Navigate(p.URL+ls.JoinURL), chromedp.WaitVisible(chromedp.ID("join-start")))
	phone.mustWaitAttr(t, "#live-join", "data-state", "idle")
	mustPoll[bool](t, phone, "the camera in the preview",
		`() => { const v = document.getElementById('join-preview'); return v.srcObject !== null && v.videoWidth > 0 && !document.getElementById('join-start').disabled; }`)
	watch := watchPublishing(p.URL, ls.ID, insp.Token)
	defer watch.close()
	clicked := time.Now()
	phone.mustDo(t, "start publishing", chromedp.Click(chromedp.ID("join-start")))
	phone.mustWaitAttr(t, "#live-join", "data-state", "live")
	phoneLive := time.Now()
	// The publishing time runs from the moment the server reports a
	// publisher (the WHIP answer, seen by polling every 100 ms) to the
	// inspector's end. The recording itself starts later, at the first
	// keyframe, once ICE and DTLS are done and RTP flows; on loopback that
	// is well under the 5 % allowed, and the poll also notes when the
	// server first gave a recording position, to show the gap.
	published := watch.mustPublishing(t, 10*time.Second)
	t.Logf("publishing %s after the click; the phone said live %s after it",
		published.Sub(clicked).Round(time.Millisecond), phoneLive.Sub(clicked).Round(time.Millisecond))

	// A Go WHEP viewer, as the inspector, receives the video.
	viewer := testenv.View(t, harness.WHEP(t, p.URL, ls.ID, insp.Token))
	defer viewer.PC.Close()

	// The inspector's browser, signed in like the other browser tests.
	ib := mustInspectionBrowser(t, "inspector", deskWidth, deskHeight,
		// An officer's microphone (silent until they talk): without it
		// headless Chromium would be asked for a permission nobody gives.
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true))
	ib.mustDo(t, "use a desktop window", chromedp.EmulateViewport(deskWidth, deskHeight))
	ib.mustLogin(t, p.URL, "inspector", p.Demo["inspector"])
	ib.mustDo(t, "open the live page", chromedp.Navigate(p.URL+"/#/live/"+ls.ID), chromedp.WaitVisible(chromedp.ID("live-video")))
	ib.mustWaitAttr(t, "#live-page", "data-state", "live")
	play := mustPoll[playing](t, ib, "the live video to play", playingJS)
	t.Logf("the inspector's player: %dx%d, currentTime %.2f → %.2f s", play.Width, play.Height, play.From, play.To)

	// Both pages say when the length limit ends the session: the office's
	// clock time (Asia/Shanghai, whatever the browser's zone) of the first
	// publish plus --live-max-duration, and the minutes left.
	var cur harness.LiveSession
	insp.MustJSON("GET", "/api/v1/live/"+ls.ID, nil, http.StatusOK, &cur)
	if cur.StartedAt == nil {
		t.Fatalf("live session while publishing: got %+v, want started_at", cur)
	}
	office, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	endsAt := cur.StartedAt.Add(maxDur).In(office).Format("15:04")
	for _, c := range []struct {
		b  *browser
		id string
	}{{phone, "join-limit"}, {ib, "live-limit"}} {
		got := mustPoll[string](t, c.b, "the length limit's notice on #"+c.id,
			`(id) => { const el = document.getElementById(id); return el && !el.hidden && el.textContent ? el.textContent : null; }`, c.id)
		t.Logf("#%s: %s", c.id, got)
		if want := regexp.MustCompile(`^本次直播将于 ` + endsAt + ` 达到时长上限并自动结束，还剩约 [89] 分钟$`); !want.MatchString(got) {
			t.Errorf("#%s: got %q, want %s", c.id, got, want)
		}
	}

	for end := time.Now().Add(10 * time.Second); viewer.VideoPackets.Load() == 0 && time.Now().Before(end); {
		time.Sleep(50 * time.Millisecond)
	}
	if n := viewer.VideoPackets.Load(); n == 0 {
		t.Errorf("the Go viewer received %d video packets, want some", n)
	}

	// An instruction reaches the phone.
	const instruction = "请把镜头对准安全出口 Show me the fire exit"
	ib.mustDo(t, "send an instruction",
		chromedp.SendKeys(chromedp.ID("live-instruction-input"), instruction),
		chromedp.Click(chromedp.ID("live-instruction-send")))
	mustPoll[bool](t, phone, "the instruction on the phone",
		`(text) => [...document.querySelectorAll('.live-instruction')].some((el) => el.textContent.includes(text))`, instruction)

	// A snapshot: listed on the page and a new image evidence of the case.
	var before []domain.Evidence
	insp.MustJSON("GET", "/api/v1/cases/"+caseID+"/evidence", nil, http.StatusOK, &before)
	mustPoll[bool](t, ib, "the snapshot button", `() => !document.getElementById('live-snapshot').disabled`)
	ib.mustDo(t, "take a snapshot", chromedp.Click(chromedp.ID("live-snapshot")))
	snapID := mustPoll[string](t, ib, "the snapshot in the strip",
		`() => { const el = document.querySelector('.live-snapshot'); return el && el.dataset.evidenceId ? el.dataset.evidenceId : null; }`)
	var after []domain.Evidence
	insp.MustJSON("GET", "/api/v1/cases/"+caseID+"/evidence", nil, http.StatusOK, &after)
	var snap *domain.Evidence
	for i, ev := range after {
		if ev.ID == snapID {
			snap = &after[i]
		}
	}
	if len(after) != len(before)+1 || snap == nil || snap.Kind != domain.KindImage || snap.ContentType != "image/jpeg" || snap.Size < 1000 {
		t.Errorf("case evidence after the snapshot: got %d items (before %d), snapshot %+v; want one more, an image/jpeg of ≥ 1000 bytes with id %s",
			len(after), len(before), snap, snapID)
	}

	// A live note, watched also from a Go room connection as the inspector.
	room := dialRoom(t, p.URL, ls.ID, "", insp.Token)
	room.expect("hello", 5*time.Second)
	const note = "安全出口被纸箱堵塞 exit blocked"
	ib.mustDo(t, "write a live note",
		chromedp.SendKeys(chromedp.ID("live-annotation-body"), note),
		chromedp.SetValue(chromedp.ID("live-annotation-severity"), "violation"),
		chromedp.SetValue(chromedp.ID("live-annotation-checklist"), "fire-exits"))
	noted := time.Now()
	ib.mustDo(t, "send the live note", chromedp.Click(chromedp.ID("live-annotation-send")))
	shown := mustPoll[struct {
		ID string `json:"id"`
		MS string `json:"ms"`
	}](t, ib, "the live note, confirmed", liveNoteJS, note)
	annMS, err := strconv.ParseInt(shown.MS, 10, 64)
	if err != nil {
		t.Fatalf("the note's data-recording-ms %q: %v", shown.MS, err)
	}
	bc := room.expect("annotation", 5*time.Second)["annotation"].(map[string]any)
	if bc["id"] != shown.ID || int64(bc["recording_ms"].(float64)) != annMS {
		t.Errorf("annotation broadcast: got id %v at %v ms, want %s at %d ms as on the page", bc["id"], bc["recording_ms"], shown.ID, annMS)
	}
	// The recording began between the server reporting publishing and
	// the note being sent; the stamp is that far in, give or take a second.
	want := noted.Sub(published).Milliseconds()
	t.Logf("live note at recording_ms %d, sent %d ms after publishing began", annMS, want)
	if annMS < want-1000 || annMS > want+300 {
		t.Errorf("live note at recording_ms %d, want about %d (sent %s after publishing began)", annMS, want, noted.Sub(published).Round(time.Millisecond))
	}

	// Publish for at least 10 s in all, so the start and end timing is a
	// small part of what is measured.
	time.Sleep(time.Until(published.Add(10 * time.Second)))

	// The inspector ends the session from the page.
	ib.mustDo(t, "ask to end", chromedp.Click(chromedp.ID("live-end")), chromedp.WaitVisible(chromedp.ID("live-end-confirm")))
	ending := time.Now()
	ib.mustDo(t, "confirm the end", chromedp.Click(chromedp.ID("live-end-confirm")), chromedp.WaitVisible(chromedp.ID("live-ended")))
	ended := time.Now()
	publishedFor := ending.Sub(published)
	watch.close()
	watch.mu.Lock()
	recStart := watch.recording.Add(-time.Duration(watch.recordingMS) * time.Millisecond)
	watch.mu.Unlock()
	t.Logf("published for %s (to the end click; the page showed the end %s later); the server's first recording position puts the recording's start %s after publishing began",
		publishedFor.Round(time.Millisecond), ended.Sub(ending).Round(time.Millisecond), recStart.Sub(published).Round(time.Millisecond))
	ib.mustWaitAttr(t, "#live-page", "data-state", "ended")
	phone.mustWaitAttr(t, "#live-join", "data-state", "stopped")
	// Both end screens say who ended it.
	ib.mustWaitAttr(t, "#live-end-reason", "text", "检查人员结束了本次检查。")
	phone.mustWaitAttr(t, "#join-end-reason", "text", "检查人员结束了本次检查。")

	// The phone's own recording, the fallback for a call that broke up
	// (this one did not, so it is sent on request): over tus with the
	// publish token, it becomes video evidence of the case.
	phone.mustWaitAttr(t, "#live-join", "data-local-recording", "ready")
	// One statement on the end screen: the recording still on the phone,
	// not "saved with the case" beside "not sent" (issue #15).
	phone.mustWaitAttr(t, "#live-join", "data-end", "local")
	phone.mustWaitAttr(t, "#join-end", "text", "本次视频踏勘已结束，感谢配合。本机录像还需上传到案件，进度见下方；上传完成前请不要关闭此页面。")
	phone.mustDo(t, "upload the phone's recording", chromedp.Click(chromedp.ID("join-upload-recording")))
	phone.mustWaitAttr(t, "#live-join", "data-local-recording", "uploaded")
	phone.mustWaitAttr(t, "#live-join", "data-end", "saved")
	phone.mustWaitAttr(t, "#join-end", "text", "本次视频踏勘已结束，感谢配合。录像已保存到案件中。")
	localID := mustPoll[string](t, phone, "the uploaded recording's evidence id",
		`() => (document.getElementById('live-join').dataset.uploadEvidence || '').split(',')[0] || null`)

	var sess harness.LiveSession
	insp.MustJSON("GET", "/api/v1/live/"+ls.ID, nil, http.StatusOK, &sess)
	if sess.Status != "ended" || sess.EvidenceID == nil {
		t.Fatalf("session after the end: got %+v, want ended with a recording", sess)
	}
	rec := insp.MustEvidenceDone(*sess.EvidenceID, time.Minute)
	if rec.Status != domain.EvidenceReady || rec.Kind != domain.KindRecording || rec.Media == nil || rec.Media.DurationMS == nil {
		t.Fatalf("recording: got %s %s %+v (%s), want a ready recording with a duration", rec.Status, rec.Kind, rec.Media, rec.StatusReason)
	}
	got := time.Duration(*rec.Media.DurationMS) * time.Millisecond
	t.Logf("recording: %s, %s, %d bytes, lasts %s", rec.ContentType, rec.Media.VideoCodec, rec.Size, got)
	if d := got - publishedFor; d < -publishedFor/20 || d > publishedFor/20 {
		t.Errorf("recording lasts %s; the phone published for %s (want within 5%%)", got, publishedFor)
	}
	resp := insp.Do("GET", "/api/v1/evidence/"+rec.ID+"/content", nil, nil)
	data, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || int64(len(data)) != rec.Size {
		t.Fatalf("download the recording: got %d, %d bytes (%v); want 200, %d bytes", resp.StatusCode, len(data), err, rec.Size)
	}
	file := filepath.Join(dir, "recording"+filepath.Ext(rec.Filename))
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	// Every frame decodes without an error (a browser's capture timing
	// under load puts some frames 15-25 ms apart at 30 fps).
	testenv.MustDecodeClean(t, file)

	// The live note is an annotation on the recording at its position.
	var notes []domain.Annotation
	insp.MustJSON("GET", "/api/v1/evidence/"+rec.ID+"/annotations", nil, http.StatusOK, &notes)
	if len(notes) != 1 || notes[0].Body != note || notes[0].StartMS == nil || *notes[0].StartMS != annMS ||
		notes[0].Severity != "violation" || notes[0].ChecklistItem != "fire-exits" {
		t.Errorf("annotations on the recording: got %+v, want one %q at start_ms %d, violation, fire-exits", notes, note, annMS)
	}
	local := insp.MustEvidenceDone(localID, 2*time.Minute)
	if local.Status != domain.EvidenceReady || local.Kind != domain.KindVideo || local.Media == nil || local.Media.DurationMS == nil ||
		local.Derived == nil || !local.Derived.Proxy {
		t.Fatalf("the phone's recording: got %s %s %+v %+v (%s), want a ready video with a proxy", local.Status, local.Kind, local.Media, local.Derived, local.StatusReason)
	}
	// It runs from the click on start (camera already open) to the end.
	if d := time.Duration(*local.Media.DurationMS)*time.Millisecond - publishedFor; d < -1500*time.Millisecond || d > 1500*time.Millisecond {
		t.Errorf("the phone's recording lasts %d ms; the phone published for %s (want within 1.5 s)", *local.Media.DurationMS, publishedFor)
	}
	t.Logf("the phone's own recording: %s, %d bytes, %d ms", local.ContentType, local.Size, *local.Media.DurationMS)
	t.Logf("whole test took %s", time.Since(started).Round(time.Millisecond))
}
