package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// watermarkState is what the page shows of the watermark over a video.
type watermarkState struct {
	Text      string  `json:"text"`
	Shown     string  `json:"shown"`
	Width     float64 `json:"width"`
	Inside    bool    `json:"inside"`
	Opacity   float64 `json:"opacity"`
	HitsLayer bool    `json:"hitsLayer"`
	NoPiP     bool    `json:"noPiP"`
}

// watermarkJS reports the watermark over the video matching sel: its text,
// the middle copy's box against the video's, and what a click at the
// middle copy's centre would reach.
const watermarkJS = `(sel) => {
	const v = document.querySelector(sel);
	const layer = v && v.parentElement.querySelector(':scope > .watermark');
	const mark = layer && layer.querySelector('.watermark-1');
	if (!mark || !layer.dataset.text) return null;
	const r = mark.getBoundingClientRect();
	const vr = v.getBoundingClientRect();
	const hit = document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2);
	return { text: layer.dataset.text, shown: mark.textContent, width: r.width,
		inside: r.left >= vr.left - 1 && r.right <= vr.right + 1 && r.top >= vr.top - 1 && r.bottom <= vr.bottom + 1,
		opacity: Number(getComputedStyle(mark).opacity) * Number(getComputedStyle(layer).opacity),
		hitsLayer: layer.contains(hit), noPiP: v.disablePictureInPicture === true };
}`

// mustWatermark checks the watermark over the video matching sel: it names
// viewer and shows the office's time (Asia/Shanghai, the test server's) to
// the second, lies over the picture, lets clicks through to what is under
// it, ticks, and comes back when a script removes it.
func mustWatermark(t *testing.T, b *browser, sel, viewer string) {
	t.Helper()
	w := mustPoll[watermarkState](t, b, "the watermark over "+sel, watermarkJS, sel)
	shanghai, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	stamp, ok := strings.CutPrefix(w.Text, viewer+" ")
	at, perr := time.ParseInLocation(time.DateTime, stamp, shanghai)
	if !ok || perr != nil {
		t.Fatalf("watermark: got %q, want %q then the office time as %s", w.Text, viewer, time.DateTime)
	}
	if d := time.Since(at); d < -3*time.Second || d > 3*time.Second {
		t.Errorf("watermark time %s is %v from now, want within 3 s", stamp, d.Round(time.Millisecond))
	}
	if w.Shown != w.Text || w.Width < 50 || !w.Inside || w.Opacity < 0.3 {
		t.Errorf("watermark: got shown %q, %.0f px wide, inside the video %t, opacity %.2f; want its text, visible over the picture", w.Shown, w.Width, w.Inside, w.Opacity)
	}
	if w.HitsLayer {
		t.Errorf("a click on the watermark lands on it, want it to reach the player under it")
	}
	if !w.NoPiP {
		t.Errorf("picture-in-picture is allowed, which would show the video without the watermark")
	}
	mustPoll[string](t, b, "the watermark's clock to tick", `(sel, before) => {
		const l = document.querySelector(sel).parentElement.querySelector(':scope > .watermark');
		return l && l.dataset.text !== before ? l.dataset.text : null;
	}`, sel, w.Text)
	b.mustDo(t, "remove the watermark by script", chromedp.Evaluate[chromedp.Void](
		`document.querySelector(`+"`"+sel+"`"+`).parentElement.querySelector(':scope > .watermark').remove()`))
	mustPoll[watermarkState](t, b, "the watermark back after its removal", watermarkJS, sel)
}
