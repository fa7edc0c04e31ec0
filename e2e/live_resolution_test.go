package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"siteinspect/domain"
	"siteinspect/internal/harness"
	"siteinspect/internal/testenv"
)

// trackPeerConnectionsJS runs before the page's own scripts and keeps every
// RTCPeerConnection the page makes in window.__pcs, so the test can read
// the phone's sender statistics without a hook in the product.
const trackPeerConnectionsJS = `(() => {
	const Native = window.RTCPeerConnection;
	window.__pcs = [];
	window.RTCPeerConnection = class extends Native {
		constructor(...args) { super(...args); window.__pcs.push(this); }
	};
})()`

// outboundVideoJS reports the phone's video outbound-rtp statistics from
// its newest connection.
const outboundVideoJS = `(async () => {
	const pc = (window.__pcs || []).at(-1);
	if (!pc) return null;
	for (const s of (await pc.getStats()).values()) {
		if (s.type === 'outbound-rtp' && s.kind === 'video') {
			return { width: s.frameWidth || 0, height: s.frameHeight || 0, target: s.targetBitrate || 0,
				limitation: s.qualityLimitationReason || '', bytes: s.bytesSent || 0 };
		}
	}
	return null;
})()`

// outboundVideo is what outboundVideoJS reports.
type outboundVideo struct {
	Width      int     `json:"width"`
	Height     int     `json:"height"`
	Target     float64 `json:"target"`
	Limitation string  `json:"limitation"`
	Bytes      int64   `json:"bytes"`
}

// TestLiveBrowserResolution publishes Chromium's fake camera, fed a
// 1280×720 clip, from the phone page to the server over loopback for about
// 10 s, and checks that the stored recording holds 1280×720 from 5 s on:
// the phone asks for 720p and keeps the resolution, and the server's
// congestion-control feedback lets the browser's bitrate climb. The
// inspector's page shows the incoming resolution without a warning, and
// warns once the phone's picture has been a quarter of that for 3 s.
func TestLiveBrowserResolution(t *testing.T) {
	// The session ends by its length limit, 30 s after the first publish:
	// well after the steps below (about 15 s), and both pages say so.
	const maxDur = 30 * time.Second
	p := harness.StartServer(t, append([]string{"--jobs", "1", "--webrtc-loopback", "--live-max-duration", maxDur.String()}, harness.S3Args(t)...)...)
	_, insp, caseID := harness.LiveCase(t, p)
	var ls harness.LiveSession
	insp.MustJSON("POST", "/api/v1/cases/"+caseID+"/live", nil, http.StatusCreated, &ls)

	dir := t.TempDir()
	y4m := filepath.Join(dir, "camera.y4m")
	testenv.FFmpeg(t, "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30", "-t", "2", "-pix_fmt", "yuv420p", y4m)

	phone := mustInspectionBrowser(t, "phone", phoneWidth, phoneHeight,
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("use-file-for-fake-video-capture", y4m))
	phone.mustDo(t, "emulate a phone", chromedp.EmulateViewport(phoneWidth, phoneHeight, chromedp.EmulateMobile))
	phone.mustDo(t, "track peer connections",
		call(page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: trackPeerConnectionsJS}))
	phone.mustDo(t, "open the join link", chromedp.Navigate(p.URL+ls.JoinURL), chromedp.WaitVisible(chromedp.ID("join-start")))
	phone.mustWaitAttr(t, "#live-join", "data-state", "idle")
	mustPoll[bool](t, phone, "the camera in the preview",
		`() => { const v = document.getElementById('join-preview'); return v.srcObject !== null && v.videoWidth > 0 && !document.getElementById('join-start').disabled; }`)
	phone.mustDo(t, "start publishing", chromedp.Click(chromedp.ID("join-start")))
	phone.mustWaitAttr(t, "#live-join", "data-state", "live")
	live := time.Now()

	// The inspector watches: its page reads the incoming resolution.
	ib := mustInspectionBrowser(t, "inspector", deskWidth, deskHeight,
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true))
	ib.mustDo(t, "use a desktop window", chromedp.EmulateViewport(deskWidth, deskHeight))
	ib.mustLogin(t, p.URL, "inspector", p.Demo["inspector"])
	ib.mustDo(t, "open the live page", chromedp.Navigate(p.URL+"/#/live/"+ls.ID), chromedp.WaitVisible(chromedp.ID("live-video")))

	sample := func(at time.Duration) outboundVideo {
		time.Sleep(time.Until(live.Add(at)))
		v := mustRun(t, phone, "the phone's outbound-rtp", chromedp.Evaluate[*outboundVideo](outboundVideoJS, chromedp.EvalAwaitPromise))
		if v == nil {
			t.Fatalf("the phone's outbound-rtp at %s: none", at)
		}
		t.Logf("phone outbound video at %s: %dx%d, target %.0f kbps, limited by %q, %d bytes sent",
			at, v.Width, v.Height, v.Target/1000, v.Limitation, v.Bytes)
		return *v
	}
	sample(2 * time.Second)
	// What the server's answer agreed for congestion control.
	fb := mustRun(t, phone, "the answer's feedback lines", chromedp.Evaluate[string](
		`(window.__pcs.at(-1).remoteDescription?.sdp || '').split('\r\n').filter((l) => /transport-cc|transport-wide|remb|abs-send-time/.test(l)).join('; ')`))
	t.Logf("the answer's congestion control: %s", fb)
	at6 := sample(6 * time.Second)
	if at6.Width < 1280 || at6.Height < 720 {
		t.Errorf("the phone sends %dx%d at 6 s, want ≥ 1280x720", at6.Width, at6.Height)
	}

	// By 8 s the page has had the 720p picture for a few seconds.
	time.Sleep(time.Until(live.Add(8 * time.Second)))
	shown := mustRun(t, ib, "the resolution on the inspector's page", chromedp.Evaluate[map[string]string](
		`(() => { const el = document.getElementById('live-resolution'); return el ? { width: el.dataset.width || '', height: el.dataset.height || '', low: el.dataset.low || '', text: el.textContent } : {}; })()`))
	t.Logf("the inspector's page shows %q (data-width %q, data-height %q, data-low %q)", shown["text"], shown["width"], shown["height"], shown["low"])
	if w, _ := strconv.Atoi(shown["width"]); w < 1280 || shown["low"] != "false" || !strings.Contains(shown["text"], shown["width"]+"×"+shown["height"]) {
		t.Errorf("inspector's resolution: got %v, want ≥ 1280 wide, data-low false, the text naming it", shown)
	}

	// The phone's picture drops to a quarter: within a few seconds more
	// than the 3 s allowed, the inspector's page warns.
	mustRun(t, phone, "scale the phone's video down", chromedp.Evaluate[bool](`(async () => {
		const s = window.__pcs.at(-1).getSenders().find((x) => x.track && x.track.kind === 'video');
		const p = s.getParameters();
		p.encodings[0].scaleResolutionDownBy = 4;
		await s.setParameters(p);
		return true;
	})()`, chromedp.EvalAwaitPromise))
	dropped := time.Now()
	warned := mustPoll[map[string]string](t, ib, "the low-resolution warning",
		`() => { const el = document.getElementById('live-resolution'), w = document.getElementById('live-resolution-low');
			return el.dataset.low === 'true' && !w.hidden ? { size: el.textContent, warning: w.textContent } : null; }`)
	t.Logf("the inspector's page warned %s after the drop: %q, %q", time.Since(dropped).Round(100*time.Millisecond), warned["size"], warned["warning"])
	if since := time.Since(dropped); since < 3*time.Second || !strings.Contains(warned["warning"], "1280×720") || !strings.Contains(warned["warning"], warned["size"]) {
		t.Errorf("low-resolution warning: got %v after %s, want it after more than 3 s, naming %s and 1280×720", warned, since, warned["size"])
	}
	sharpUntil := dropped.Sub(live).Seconds() - 0.5

	if since := time.Since(live); since > maxDur-5*time.Second {
		t.Fatalf("the steps took %s of the session's %s: too close to its end to check it", since.Round(time.Millisecond), maxDur)
	}
	// The length limit ends it (the server looks every 2 s); both pages
	// say why, in the office's words.
	time.Sleep(time.Until(live.Add(maxDur)))
	const why = "本次直播达到时长上限，由系统自动结束。"
	phone.mustWaitAttr(t, "#join-end-reason", "text", why)
	ib.mustWaitAttr(t, "#live-end-reason", "text", why)
	t.Logf("both pages showed the end by the length limit %s after the first publish", time.Since(live).Round(100*time.Millisecond))
	var sess harness.LiveSession
	insp.MustJSON("GET", "/api/v1/live/"+ls.ID, nil, http.StatusOK, &sess)
	if sess.EvidenceID == nil || sess.EndReason != "time_limit" || sess.StartedAt == nil || sess.EndedAt == nil {
		t.Fatalf("session after the end: got %+v, want ended by time_limit with a recording", sess)
	}
	// The case's list of sessions says it too, with how long it was live.
	ib.mustDo(t, "open the case", chromedp.Navigate(p.URL+"/#/cases/"+caseID))
	lasted := sess.EndedAt.Sub(*sess.StartedAt)
	want := fmt.Sprintf("直播时长 %02d:%02d · 达到时长上限", int(lasted.Minutes()), int(lasted.Seconds())%60)
	ib.mustWaitAttr(t, `.live-session[data-status="ended"] .live-session-end`, "text", want)
	if lasted < maxDur || lasted > maxDur+10*time.Second {
		t.Errorf("the session was live for %s, want the length limit, %s, and the server's next look", lasted, maxDur)
	}
	rec := insp.MustEvidenceDone(*sess.EvidenceID, time.Minute)
	if rec.Status != domain.EvidenceReady {
		t.Fatalf("recording: got %s (%s), want ready", rec.Status, rec.StatusReason)
	}
	resp := insp.Do("GET", "/api/v1/evidence/"+rec.ID+"/content", nil, nil)
	data, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("download the recording: got %d (%v), want 200", resp.StatusCode, err)
	}
	file := filepath.Join(dir, "recording"+filepath.Ext(rec.Filename))
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}

	// Every decoded frame's size and time; from 5 s on all must be 720p.
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v:0",
		"-show_entries", "frame=pts_time,width,height", "-of", "json", file).Output()
	if err != nil {
		t.Fatalf("ffprobe the recording: %v", err)
	}
	var probe struct {
		Frames []struct {
			PTS    string `json:"pts_time"`
			Width  int    `json:"width"`
			Height int    `json:"height"`
		} `json:"frames"`
	}
	if err := json.Unmarshal(out, &probe); err != nil {
		t.Fatalf("ffprobe's frames: %v", err)
	}
	var late, small int
	sizes := map[string]int{}
	var at6s string
	for _, f := range probe.Frames {
		pts, err := strconv.ParseFloat(f.PTS, 64)
		if err != nil {
			continue
		}
		size := strconv.Itoa(f.Width) + "x" + strconv.Itoa(f.Height)
		sizes[size]++
		if pts >= 6 && at6s == "" {
			at6s = size
		}
		if pts >= 5 && pts < sharpUntil {
			late++
			if f.Width < 1280 || f.Height < 720 {
				small++
			}
		}
	}
	t.Logf("recording: %d frames, sizes %v, at 6 s %s", len(probe.Frames), sizes, at6s)
	if late == 0 || small > 0 {
		t.Errorf("recording from 5 s to the drop at %.1f s: got %d of %d frames below 1280x720 (sizes %v), want none and some frames", sharpUntil, small, late, sizes)
	}
}
