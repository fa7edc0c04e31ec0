package e2e

import (
	"bytes"
	"image"
	_ "image/jpeg" // the still is a JPEG
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"siteinspect/domain"
	"siteinspect/internal/harness"
	"siteinspect/internal/testenv"
)

// geolocation overrides the browser's position (Chromium's DevTools
// emulation), as if the phone stood there.
func geolocation(lat, lon, accuracy float64) chromedp.Action[chromedp.Void] {
	return call(emulation.SetGeolocationOverride, emulation.SetGeolocationOverrideParams{Latitude: &lat, Longitude: &lon, Accuracy: &accuracy})
}

// guidedBudget bounds each browser of TestLiveBrowserGuidedFilming: it
// walks more steps than TestLiveBrowserInspection (a still, a take's
// upload and processing, the case page) on the same two shared cores.
const guidedBudget = 180 * time.Second

// TestLiveBrowserGuidedFilming runs guided filming in two Chromiums: the
// phone (a 1280×720 fake camera, its position emulated) shares its
// location after the applicant's tap and marks the next shot; the
// inspector marks another remotely, sees the coverage and the trail, and
// presses 拍照: the phone takes a photo of the camera's full resolution,
// stamps it and uploads it, and the inspector's page shows it arriving.
// Moving the phone 2 km away makes the trail warn.
func TestLiveBrowserGuidedFilming(t *testing.T) {
	p := harness.StartServer(t, append([]string{"--jobs", "1", "--webrtc-loopback", "--location-warn-km", "1"}, harness.S3Args(t)...)...)
	_, insp, caseID := guidedCase(t, p)
	var ls harness.LiveSession
	insp.MustJSON("POST", "/api/v1/cases/"+caseID+"/live", nil, http.StatusCreated, &ls)

	y4m := filepath.Join(t.TempDir(), "camera.y4m")
	testenv.FFmpeg(t, "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30", "-t", "2", "-pix_fmt", "yuv420p", y4m)
	phone := mustNamedBrowser(t, "phone", phoneWidth, phoneHeight, guidedBudget,
		chromedp.Flag("allow-loopback-in-peer-connection", true),
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("use-file-for-fake-video-capture", y4m))
	phone.mustDo(t, "emulate a phone", chromedp.EmulateViewport(phoneWidth, phoneHeight, chromedp.EmulateMobile))
	phone.mustDo(t, "allow the location",
		call(cdpbrowser.SetPermission, cdpbrowser.SetPermissionParams{Permission: &cdpbrowser.PermissionDescriptor{Name: "geolocation"}, Setting: cdpbrowser.PermissionSettingGranted}),
		geolocation(guidedLat+0.0005, guidedLon, 10))
	phone.mustDo(t, "open the join link", chromedp.Navigate(p.URL+ls.JoinURL), chromedp.WaitVisible(chromedp.ID("join-start")))
	mustPoll[bool](t, phone, "the camera in the preview",
		`() => { const v = document.getElementById('join-preview'); return v.srcObject !== null && v.videoWidth > 0 && !document.getElementById('join-start').disabled; }`)
	phone.mustDo(t, "start publishing", chromedp.Click(chromedp.ID("join-start")))
	phone.mustWaitAttr(t, "#live-join", "data-state", "live")

	// The shot list is the hotel's checklist; nothing is shared before the tap.
	if got := mustRun(t, phone, "the shot list", chromedp.Evaluate[string](`document.getElementById('join-shot-mark').dataset.item`)); got != "fire-exits" {
		t.Errorf("next shot: got %q, want fire-exits (the checklist's first item)", got)
	}
	if got := mustRun(t, phone, "the shot's hint", chromedp.Evaluate[string](`document.getElementById('join-next-shot-hint')?.textContent || ''`)); !strings.Contains(got, "安全出口") {
		t.Errorf("next shot's hint: got %q, want the fire exits' hint in Chinese", got)
	}
	phone.mustWaitAttr(t, ".join-location", "data-state", "off")
	phone.mustDo(t, "share the location", chromedp.Click(chromedp.ID("join-location")))
	mustPoll[bool](t, phone, "a position sent", `() => Number(document.querySelector('.join-location').dataset.sent) >= 1`)

	ib := mustNamedBrowser(t, "inspector", deskWidth, deskHeight, guidedBudget,
		chromedp.Flag("allow-loopback-in-peer-connection", true),
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true))
	ib.mustDo(t, "use a desktop window", chromedp.EmulateViewport(deskWidth, deskHeight))
	ib.mustLogin(t, p.URL, "inspector", p.Demo["inspector"])
	ib.mustDo(t, "open the live page", chromedp.Navigate(p.URL+"/#/live/"+ls.ID), chromedp.WaitVisible(chromedp.ID("live-video")))
	mustPoll[bool](t, ib, "the trail with the phone's position",
		`() => { const el = document.getElementById('live-track'); return Number(el.dataset.points) >= 1 && el.dataset.warning === 'false' && !!el.querySelector('svg polyline'); }`)

	// The phone marks the next shot; the inspector marks another remotely.
	phone.mustDo(t, "mark the next shot", chromedp.Click(chromedp.ID("join-shot-mark")))
	mustPoll[bool](t, ib, "the phone's mark in the coverage",
		`() => document.querySelector('#live-coverage-items li[data-item="fire-exits"]')?.dataset.marks === '1'`)
	ib.mustDo(t, "mark CCTV remotely", chromedp.Click(chromedp.CSS(`#live-coverage-items li[data-item="cctv-entrances"] button`)))
	mustPoll[bool](t, phone, "the inspector's mark on the phone",
		`() => document.querySelector('#join-shots li[data-item="cctv-entrances"]')?.dataset.marks === '1' && document.getElementById('join-shot-mark').dataset.item === 'guest-registration'`)
	// The inspector's page counts its own mark when the room echoes it,
	// which may come after the phone has drawn it.
	mustPoll[bool](t, ib, "coverage 2/4 on the inspector's page",
		`() => { const el = document.getElementById('live-coverage'); return el.dataset.covered + '/' + el.dataset.total === '2/4'; }`)

	// 拍照: a photo of the camera's full resolution arrives.
	mustPoll[bool](t, ib, "拍照 enabled", `() => !document.getElementById('live-still').disabled`)
	ib.mustDo(t, "press 拍照", chromedp.Click(chromedp.ID("live-still")))
	arrived := mustPoll[map[string]string](t, ib, "the still on the inspector's page",
		`() => { const el = document.getElementById('live-page'); return el.dataset.stillSize ? { id: el.dataset.stillEvidence, size: el.dataset.stillSize } : null; }`)
	how := mustRun(t, phone, "how the phone took it", chromedp.Evaluate[string](`document.getElementById('live-join').dataset.stillHow + ' ' + document.getElementById('live-join').dataset.stillSize`))
	t.Logf("still: inspector saw %v; phone: %s", arrived, how)
	if arrived["size"] != "1280x720" {
		t.Errorf("still on the inspector's page: got %s, want 1280x720", arrived["size"])
	}
	resp := insp.Do("GET", "/api/v1/evidence/"+arrived["id"]+"/content", nil, nil)
	data, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("download the still: %d %v", resp.StatusCode, err)
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil || format != "jpeg" || cfg.Width != 1280 || cfg.Height != 720 {
		t.Errorf("the still decodes as %s %dx%d (%v), want a 1280x720 JPEG", format, cfg.Width, cfg.Height, err)
	}
	var ev domain.Evidence
	insp.MustJSON("GET", "/api/v1/evidence/"+arrived["id"], nil, http.StatusOK, &ev)
	if ev.Kind != domain.KindImage || ev.CaseID != caseID {
		t.Errorf("the still's evidence: got %+v, want an image of case %s", ev, caseID)
	}

	// The phone walks 2 km away: within a report or two the trail warns.
	phone.mustDo(t, "move the phone 2 km north", geolocation(guidedLat+0.018, guidedLon, 10))
	warned := mustPoll[string](t, ib, "the distance warning",
		`() => { const el = document.getElementById('live-track'); return el.dataset.warning === 'true' ? el.querySelector('.track-summary').textContent : ''; }`)
	t.Logf("trail warning: %q", warned)

	var cov struct {
		Items  []domain.ItemCoverage `json:"items"`
		Tracks []struct {
			Points  []domain.Position   `json:"points"`
			Summary domain.TrackSummary `json:"summary"`
		} `json:"tracks"`
	}
	insp.MustJSON("GET", "/api/v1/cases/"+caseID+"/coverage", nil, http.StatusOK, &cov)
	if len(cov.Tracks) != 1 || len(cov.Tracks[0].Points) < 2 || !cov.Tracks[0].Summary.Warning || cov.Tracks[0].Points[0].Accuracy == nil {
		t.Errorf("stored track: got %+v, want ≥ 2 points with accuracy and a warning", cov.Tracks)
	}
	if len(cov.Items) != 4 || len(cov.Items[0].Marks) != 1 || len(cov.Items[2].Marks) != 1 || len(cov.Items[1].Marks) != 0 {
		t.Errorf("stored coverage: got %+v, want fire-exits and cctv-entrances marked", cov.Items)
	}

	// The phone's own recording is the continuous take: it carries the
	// phone's mark (the inspector's remote one is not the phone's) and gets
	// it as an annotation at its offset.
	phone.mustDo(t, "stop publishing", chromedp.Click(chromedp.ID("join-stop")))
	phone.mustDo(t, "send the phone's recording", chromedp.WaitVisible(chromedp.ID("join-upload-recording")), chromedp.Click(chromedp.ID("join-upload-recording")))
	takeID := mustPoll[string](t, phone, "the take uploaded", `() => document.getElementById('live-join').dataset.uploadEvidence || ''`)
	take := insp.MustEvidenceDone(takeID, 2*time.Minute)
	var notes []domain.Annotation
	insp.MustJSON("GET", "/api/v1/evidence/"+take.ID+"/annotations", nil, http.StatusOK, &notes)
	if take.Media == nil || take.Media.DurationMS == nil || len(notes) != 1 || notes[0].ChecklistItem != "fire-exits" || notes[0].StartMS == nil ||
		*notes[0].StartMS < 1000 || *notes[0].StartMS > *take.Media.DurationMS {
		t.Errorf("the take's annotations: got %+v (media %+v), want one fire-exits mark inside it", notes, take.Media)
	}
	insp.MustJSON("POST", "/api/v1/live/"+ls.ID+"/end", nil, http.StatusOK, nil)

	// The case's page shows the same coverage and the trail with its warning.
	ib.mustDo(t, "open the case", chromedp.Navigate(p.URL+"/#/cases/"+caseID))
	got := mustPoll[string](t, ib, "coverage and trail on the case page",
		`() => { const c = document.getElementById('case-coverage'), tr = document.getElementById('case-track-0');
			return c && tr && c.closest('.live-guided') && !c.closest('.live-guided').hidden ? c.dataset.covered + '/' + c.dataset.total + ' ' + tr.dataset.warning : null; }`)
	if got != "2/4 true" {
		t.Errorf("case page: got coverage and warning %q, want \"2/4 true\"", got)
	}
}

// TestLiveBrowserGuidedTake records a take without streaming (一镜到底):
// from the join link the phone presses 只录制, marks the next shot twice a
// couple of seconds apart and presses 停止并上传; nothing is published, and
// the uploaded take carries the two marks as annotations tied to their
// checklist items at the moments they were made (within 1.5 s).
func TestLiveBrowserGuidedTake(t *testing.T) {
	p := harness.StartServer(t, append([]string{"--jobs", "1", "--webrtc-loopback"}, harness.S3Args(t)...)...)
	_, insp, caseID := guidedCase(t, p)
	var ls harness.LiveSession
	insp.MustJSON("POST", "/api/v1/cases/"+caseID+"/live", nil, http.StatusCreated, &ls)

	phone := mustNamedBrowser(t, "phone", phoneWidth, phoneHeight, guidedBudget,
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true))
	phone.mustDo(t, "emulate a phone", chromedp.EmulateViewport(phoneWidth, phoneHeight, chromedp.EmulateMobile))
	phone.mustDo(t, "open the join link", chromedp.Navigate(p.URL+ls.JoinURL), chromedp.WaitVisible(chromedp.ID("join-take")))
	mustPoll[bool](t, phone, "the camera and the shot list",
		`() => { const v = document.getElementById('join-preview'), b = document.getElementById('join-take');
			return v.srcObject !== null && v.videoWidth > 0 && !b.disabled && !!document.getElementById('join-shot-mark'); }`)
	if got := mustRun(t, phone, "the take button's label", chromedp.Evaluate[string](`document.getElementById('join-take').textContent`)); !strings.Contains(got, "一镜到底") {
		t.Errorf("take button: got %q, want the Chinese label with 一镜到底", got)
	}
	mustRun(t, phone, "press 只录制", chromedp.Evaluate[bool](`window.takeT0 = Date.now(); document.getElementById('join-take').click(); true`))
	phone.mustWaitAttr(t, "#live-join", "data-state", "taking")
	phone.mustWaitAttr(t, "#live-join", "data-local-recording", "recording")

	// mark waits until the take is atMS old, then marks the next shot and
	// returns its item and the moment (ms since 只录制).
	mark := func(atMS int) (string, int) {
		mustPoll[bool](t, phone, "the take running", `(at) => Date.now() - window.takeT0 >= at`, atMS)
		got := mustRun(t, phone, "mark the next shot", chromedp.Evaluate[map[string]any](
			`(() => { const b = document.getElementById('join-shot-mark'); const item = b.dataset.item; const ms = Date.now() - window.takeT0; b.click(); return { item, ms }; })()`))
		item, _ := got["item"].(string)
		ms, _ := got["ms"].(float64)
		return item, int(ms)
	}
	item1, ms1 := mark(1500)
	mustPoll[bool](t, phone, "the first mark kept on the phone", `(item) => document.querySelector('#join-shots li[data-item="' + item + '"]')?.dataset.marks === '1'`, item1)
	item2, ms2 := mark(3500)
	if item1 != "fire-exits" || item2 == "" || item2 == item1 {
		t.Fatalf("marked items: got %q then %q, want fire-exits then the next item", item1, item2)
	}
	mustPoll[bool](t, phone, "the take running", `() => Date.now() - window.takeT0 >= 5000`)
	phone.mustDo(t, "press 停止并上传", chromedp.Click(chromedp.ID("join-take-stop")))
	takeID := mustPoll[string](t, phone, "the take uploaded", `() => document.getElementById('live-join').dataset.uploadEvidence || ''`)

	var s harness.LiveSession
	insp.MustJSON("GET", "/api/v1/live/"+ls.ID, nil, http.StatusOK, &s)
	if s.Publishing || s.Status == "live" {
		t.Errorf("session after a take without streaming: got status %q publishing %v, want never published", s.Status, s.Publishing)
	}
	take := insp.MustEvidenceDone(takeID, 2*time.Minute)
	var notes []domain.Annotation
	insp.MustJSON("GET", "/api/v1/evidence/"+take.ID+"/annotations", nil, http.StatusOK, &notes)
	for _, n := range notes {
		if n.StartMS != nil {
			t.Logf("annotation %s at %d ms (marks made at %d ms for %s, %d ms for %s)", n.ChecklistItem, *n.StartMS, ms1, item1, ms2, item2)
		}
	}
	if take.Media == nil || take.Media.DurationMS == nil || *take.Media.DurationMS < 4000 {
		t.Fatalf("the take's media: got %+v, want a video of about 5 s", take.Media)
	}
	want := map[string]int{item1: ms1, item2: ms2}
	if len(notes) != 2 {
		t.Fatalf("the take's annotations: got %d (%+v), want 2", len(notes), notes)
	}
	for _, n := range notes {
		at, ok := want[n.ChecklistItem]
		if !ok || n.StartMS == nil {
			t.Errorf("annotation %+v: want one tied to %s or %s with a start", n, item1, item2)
			continue
		}
		if d := *n.StartMS - int64(at); d < -1500 || d > 1500 {
			t.Errorf("annotation for %s: got start %d ms, want %d ms ± 1500", n.ChecklistItem, *n.StartMS, at)
		}
		delete(want, n.ChecklistItem)
	}
}
