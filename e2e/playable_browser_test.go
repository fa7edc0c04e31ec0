package e2e

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"siteinspect/domain"
	"siteinspect/internal/harness"
	"siteinspect/internal/testenv"
)

// TestBrowserPlaysWhileProcessing: an H.264 MP4 plays in the page as soon
// as the pipeline has found it playable, while its poster and filmstrip
// are still being made. The row says so, the viewer plays …/playback, and
// once the poster exists the row turns ready without a reload, with the
// poster as its picture.
//
// The server's ffmpeg is a wrapper around the real one that holds the
// poster's command until the test lets it go, so the window between
// playable and ready is the test's, not the machine's speed.
func TestBrowserPlaysWhileProcessing(t *testing.T) {
	ffmpeg, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Fatalf("ffmpeg: %v (make deps-test installs it)", err)
	}
	video := testenv.MakeMP4(t, t.TempDir(), 4, "320x240")
	bin := t.TempDir()
	held, release := filepath.Join(bin, "held"), filepath.Join(bin, "release")
	// At most 60 s held, so a failed test never leaves the job waiting.
	script := fmt.Sprintf(`#!/bin/sh
for a in "$@"; do
	case "$a" in
	*%s*)
		: > %q
		i=0
		while [ ! -e %q ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done
		;;
	esac
done
exec %q "$@"
`, domain.DerivedPoster, held, release, ffmpeg)
	if err := os.WriteFile(filepath.Join(bin, "ffmpeg"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	defer os.WriteFile(release, nil, 0o644)

	p := harness.StartServer(t, "--data", t.TempDir(), "--jobs", "1")
	app := harness.Login(t, p.URL, "applicant", p.Demo["applicant"])
	cs := app.NewCase()
	eid := app.MustUploadFile(cs.ID, video)

	// The pipeline marks it playable, then reaches the poster and waits.
	deadline := time.Now().Add(60 * time.Second)
	var ev domain.Evidence
	for {
		app.MustJSON("GET", "/api/v1/evidence/"+eid, nil, http.StatusOK, &ev)
		_, statErr := os.Stat(held)
		if statErr == nil && ev.Derived != nil && ev.Derived.Playable {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("evidence %s: status %s, derived %+v, poster command reached %v; want processing and playable with the poster held",
				eid, ev.Status, ev.Derived, statErr == nil)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if ev.Status != domain.EvidenceProcessing || ev.Derived.Poster {
		t.Fatalf("while the poster is held: got status %s, poster %v; want processing, no poster", ev.Status, ev.Derived.Poster)
	}

	b := mustBrowser(t)
	b.mustLogin(t, p.URL, "applicant", p.Demo["applicant"])
	row := `.evidence-row[data-evidence-id="` + eid + `"]`
	b.mustDo(t, "open the case", chromedp.Navigate(p.URL+"/#/cases/"+cs.ID), chromedp.WaitVisible(chromedp.CSS(row)))
	note := mustPoll[string](t, b, "the row's playable-while-processing note", `(sel) => {
		const r = document.querySelector(sel);
		const n = r && r.dataset.status === 'processing' && r.querySelector('.ev-processing');
		return n ? n.textContent : null;
	}`, row)
	if !strings.Contains(note, "已可播放") && !strings.Contains(note, "Playable now") {
		t.Fatalf("processing note: got %q, want the playable-now words", note)
	}
	b.mustDo(t, "open the viewer", chromedp.Click(chromedp.CSS(row+" .ev-toggle")))
	vs := mustPoll[videoState](t, b, "the video's metadata", waitVideoJS, eid)
	if vs.ReadyState < 1 || vs.Unplayable || !strings.HasSuffix(vs.Src, "/api/v1/evidence/"+eid+"/playback") {
		t.Fatalf("video while processing: got readyState %d, error %d, cannot-play note %t, src %s; want metadata from /api/v1/evidence/%s/playback",
			vs.ReadyState, vs.Error, vs.Unplayable, vs.Src, eid)
	}
	played := mustPoll[float64](t, b, "the video to play half a second", `(sel) => {
		const v = document.querySelector(sel + ' video');
		if (v.paused && !v.ended) v.play();
		return v.currentTime >= 0.5 ? v.currentTime : null;
	}`, row)
	if played < 0.5 {
		t.Fatalf("video currentTime: got %.3f s, want ≥ 0.5 s", played)
	}
	// Still processing: the poster's command is held all along.
	if got := b.readAttr(row, "data-status"); got != `"processing"` {
		t.Fatalf("row status while playing: got %s, want \"processing\"", got)
	}

	// The poster goes on; the page sees the item ready by itself.
	if err := os.WriteFile(release, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	mustPoll[bool](t, b, "the row to turn ready with its poster", `(sel) => {
		const r = document.querySelector(sel);
		const img = r && r.querySelector('.ev-thumb img');
		return r && r.dataset.status === 'ready' && img && img.complete && img.naturalWidth > 0 ? true : null;
	}`, row)
	app.MustJSON("GET", "/api/v1/evidence/"+eid, nil, http.StatusOK, &ev)
	if ev.Status != domain.EvidenceReady || ev.Derived == nil || !ev.Derived.Poster || !ev.Derived.Playable {
		t.Fatalf("after the release: got status %s, derived %+v; want ready with a poster", ev.Status, ev.Derived)
	}
}
