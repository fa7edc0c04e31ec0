package e2e

import (
	"fmt"
	"math"
	"net/http"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"

	"siteinspect/domain"
	"siteinspect/internal/harness"
	"siteinspect/internal/testenv"
)

// The review workspace is desktop-first: officers review on office screens.
const (
	deskWidth  = 1280
	deskHeight = 900
)

// rectBox is a rectangle in CSS pixels, or in fractions of a picture.
type rectBox struct {
	X float64 `json:"x"`
	Y float64 `json:"y"`
	W float64 `json:"w"`
	H float64 `json:"h"`
}

// shownNote is where the player rests and the note's rectangle on the overlay.
type shownNote struct {
	Time float64 `json:"time"`
	Rect rectBox `json:"rect"`
}

// seekJS pauses the review player, sets currentTime and resolves on seeked.
const seekJS = `new Promise((resolve) => {
	const v = document.querySelector('video#review-player');
	v.pause();
	v.addEventListener('seeked', () => resolve(v.currentTime), { once: true });
	v.currentTime = %v;
})`

// overlayJS scrolls the stage into view and reports the drawing layer's box.
const overlayJS = `(() => {
	document.getElementById('review-stage').scrollIntoView({ block: 'start' });
	const r = document.getElementById('draw-overlay').getBoundingClientRect();
	return r.width > 0 && r.height > 0 ? { x: r.x, y: r.y, w: r.width, h: r.height } : null;
})()`

// shownRectJS waits for the player to rest on the frame of the note and the
// overlay to draw its rectangle, and reports the rectangle in fractions of
// the overlay (the video's picture).
const shownRectJS = `(id) => {
	const v = document.querySelector('video#review-player');
	const g = document.querySelector('#draw-overlay .shape[data-annotation-id="' + id + '"] rect');
	if (!v || v.seeking || !v.paused || !g) return null;
	const o = document.getElementById('draw-overlay').getBoundingClientRect();
	const r = g.getBoundingClientRect();
	return { time: v.currentTime, rect: { x: (r.x - o.x) / o.width, y: (r.y - o.y) / o.height, w: r.width / o.width, h: r.height / o.height } };
}`

// rowJS returns the id of the annotation row whose text contains body.
const rowJS = `(body) => {
	const row = [...document.querySelectorAll('.annotation-row')].find((r) => r.textContent.includes(body));
	return row ? row.dataset.annotationId : null;
}`

// mustDrag presses the left button at (x1, y1), moves to (x2, y2) in steps
// and releases it there: a real drag, as a mouse makes it.
func (b *browser) mustDrag(tb testing.TB, x1, y1, x2, y2 float64) {
	tb.Helper()
	held := func(p *input.DispatchMouseEventParams) {
		p.Button, p.Buttons, p.ClickCount = input.MouseButtonLeft, 1, 1
	}
	steps := []chromedp.Action[chromedp.Void]{chromedp.MouseEvent(chromedp.MousePressed, x1, y1, held)}
	for i := 1; i <= 8; i++ {
		f := float64(i) / 8
		steps = append(steps, chromedp.MouseEvent(chromedp.MouseMoved, x1+(x2-x1)*f, y1+(y2-y1)*f, held))
	}
	steps = append(steps, chromedp.MouseEvent(chromedp.MouseReleased, x2, y2, held))
	b.mustDo(tb, "drag on the overlay", steps...)
}

// mustOpenCase opens a case from the queue and waits for the workspace.
func (b *browser) mustOpenCase(tb testing.TB, caseID string) {
	tb.Helper()
	row := fmt.Sprintf(`.case-row[data-case-id="%s"]`, caseID)
	b.mustDo(tb, "open the case from the queue",
		chromedp.WaitVisible(chromedp.CSS(row)), chromedp.Click(chromedp.CSS(row)),
		chromedp.WaitVisible(chromedp.ID("review-workspace")))
}

// TestBrowserReviewAnnotation: the inspector draws a rectangle on the frame
// at 00:03.200 of a 30 fps video and saves a note; the API has it on frame
// 96 with the same rectangle; after a reload, clicking the note lands on that
// frame and shows the rectangle in the same place; a reviewer with the case
// open sees the inspector's next note appear without reloading.
func TestBrowserReviewAnnotation(t *testing.T) {
	started := time.Now()
	p := harness.StartServer(t, append([]string{"--jobs", "1"}, harness.S3Args(t)...)...)
	app := harness.Login(t, p.URL, "applicant", p.Demo["applicant"])
	cs := app.NewCase()
	eid := app.MustUploadFile(cs.ID, testenv.MakeMP4(t, t.TempDir(), 10, "320x240"))
	app.MustJSON("POST", "/api/v1/cases/"+cs.ID+"/submit", nil, http.StatusOK, &cs)
	ins := harness.Login(t, p.URL, "inspector", p.Demo["inspector"])
	ins.MustJSON("POST", "/api/v1/cases/"+cs.ID+"/assign", map[string]any{}, http.StatusOK, &cs)
	ev := ins.MustEvidenceDone(eid, 60*time.Second)
	if ev.Status != domain.EvidenceReady || ev.Media == nil || ev.Media.FPS == nil || math.Abs(*ev.Media.FPS-30) > 0.01 {
		t.Fatalf("evidence: got status %s, media %+v; want ready at 30 fps", ev.Status, ev.Media)
	}
	t.Logf("setup took %s", time.Since(started).Round(time.Millisecond))

	b := mustBrowser(t)
	b.mustDo(t, "use a 1440 × 900 desk", chromedp.EmulateViewport(1440, deskHeight))
	b.mustLogin(t, p.URL, "inspector", p.Demo["inspector"])
	b.mustOpenCase(t, cs.ID)
	b.mustDo(t, "open the video in the workspace",
		chromedp.Click(chromedp.CSS(`.evidence-row[data-evidence-id="`+eid+`"] .ev-toggle`)),
		chromedp.WaitVisible(chromedp.CSS("video#review-player")))
	// Two columns: the evidence list beside the player, both on the first screen.
	layout := mustRun(t, b, "the workspace's columns", chromedp.Evaluate[string](`(() => {
		const ev = document.querySelector('.case-ws-evidence .evidence-row').getBoundingClientRect();
		const st = document.getElementById('review-stage').getBoundingClientRect();
		return [ev.right <= st.left, ev.top < innerHeight, st.top < innerHeight].join(',');
	})()`))
	if layout != "true,true,true" {
		t.Fatalf("evidence left of the stage, evidence and stage on the first screen: got %s, want true,true,true", layout)
	}
	mustPoll[bool](t, b, "the player's metadata", `() => { const v = document.querySelector('video#review-player'); return v && v.readyState >= 1 ? true : null; }`)
	mustWatermark(t, b, "video#review-player", "张伟 Zhang Wei")
	at := mustRun(t, b, "seek to 3.200 s", chromedp.Evaluate[float64](fmt.Sprintf(seekJS, 3.2), chromedp.EvalAwaitPromise))
	if math.Abs(at-3.2) > 0.001 {
		t.Fatalf("currentTime after seeking: got %.4f, want 3.2", at)
	}

	// Draw a rectangle from 25 %/30 % to 60 %/70 % of the picture.
	b.mustDo(t, "choose the rectangle", chromedp.Click(chromedp.CSS(`[data-draw-tool="rect"]`)))
	b.mustWaitAttr(t, "#draw-overlay", "data-tool", "rect")
	box := mustRun(t, b, "find the overlay", chromedp.Evaluate[rectBox](overlayJS))
	want := rectBox{X: 0.25, Y: 0.30, W: 0.35, H: 0.40}
	b.mustDrag(t, box.X+want.X*box.W, box.Y+want.Y*box.H, box.X+(want.X+want.W)*box.W, box.Y+(want.Y+want.H)*box.H)
	const body = "安全出口被杂物堵塞 exit blocked"
	b.mustDo(t, "write and save the note",
		chromedp.SendKeys(chromedp.ID("annotation-body"), body),
		chromedp.SetValue(chromedp.ID("annotation-severity"), "violation"),
		chromedp.SetValue(chromedp.ID("annotation-checklist"), "fire-exits"),
		chromedp.Click(chromedp.ID("annotation-save")))
	aid := mustPoll[string](t, b, "the new note in the list", rowJS, body)
	// The form starts the next note afresh: no item, the first severity.
	if got := mustRun(t, b, "the form after saving", chromedp.Evaluate[string](
		`document.getElementById('annotation-severity').value + '|' + document.getElementById('annotation-checklist').value`)); got != "info|" {
		t.Fatalf("severity|checklist item after saving: got %q, want %q", got, "info|")
	}

	// The server has it on frame 96, with the rectangle that was dragged.
	var list []domain.Annotation
	ins.MustJSON("GET", "/api/v1/evidence/"+eid+"/annotations", nil, http.StatusOK, &list)
	if len(list) != 1 || list[0].ID != aid {
		t.Fatalf("annotations: got %d (first %+v), want 1 with id %s", len(list), list, aid)
	}
	a := list[0]
	if a.StartMS == nil || math.Abs(float64(*a.StartMS)-3200) > 1000.0/30 || a.StartFrame == nil || *a.StartFrame != 96 {
		t.Fatalf("annotation time: got start_ms %v, start_frame %v; want 3200 ± one frame, frame 96", deref(a.StartMS), deref(a.StartFrame))
	}
	if a.Body != body || a.Severity != "violation" || a.ChecklistItem != "fire-exits" || a.EndMS != nil {
		t.Fatalf("annotation: got body %q, severity %q, item %q, end_ms %v; want %q, violation, fire-exits, none", a.Body, a.Severity, a.ChecklistItem, deref(a.EndMS), body)
	}
	if a.Shape == nil || a.Shape.Type != "rect" || len(a.Shape.Points) != 2 {
		t.Fatalf("annotation shape: got %+v, want a rect of two points", a.Shape)
	}
	got := rectBox{X: a.Shape.Points[0][0], Y: a.Shape.Points[0][1], W: a.Shape.Points[1][0] - a.Shape.Points[0][0], H: a.Shape.Points[1][1] - a.Shape.Points[0][1]}
	if !near(got, want, 0.02) {
		t.Fatalf("annotation rect: got %+v, want %+v ± 0.02", got, want)
	}

	// After a reload, the note takes the player back to its frame and shows the rectangle.
	b.mustDo(t, "reload the page", chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("review-workspace")))
	row := fmt.Sprintf(`.annotation-row[data-annotation-id="%s"]`, aid)
	b.mustDo(t, "click the note", chromedp.WaitVisible(chromedp.CSS(row)), chromedp.Click(chromedp.CSS(row+" .ann-main")))
	b.mustWaitAttr(t, row, "data-start-frame", "96")
	shown := mustPoll[shownNote](t, b, "the player on the note's frame with its rectangle", shownRectJS, aid)
	if math.Abs(shown.Time-3.2) >= 1.0/30 {
		t.Fatalf("currentTime after clicking the note: got %.4f, want within a frame of 3.2", shown.Time)
	}
	if !near(shown.Rect, want, 0.02) {
		t.Fatalf("rectangle on the overlay: got %+v, want %+v ± 0.02", shown.Rect, want)
	}
	b.mustScreenshot(t, "review-workspace.png")

	// A reviewer with the case open sees the inspector's next note arrive.
	rb := &browser{}
	rctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext(), chromedp.WithListener(rb.record))
	defer cancel()
	if err := chromedp.Do(rctx); err != nil {
		t.Fatalf("open the reviewer's tab: %v", err)
	}
	rb.ctx, rb.end = rctx, b.end
	rb.mustDo(t, "use a desktop window", chromedp.EmulateViewport(deskWidth, deskHeight))
	rb.mustLogin(t, p.URL, "reviewer", p.Demo["reviewer"])
	rb.mustOpenCase(t, cs.ID)
	rb.mustDo(t, "see the first note", chromedp.WaitVisible(chromedp.CSS(row)))
	const second = "登记终端未联网 terminal offline"
	b.mustDo(t, "save a second note",
		chromedp.SendKeys(chromedp.ID("annotation-body"), second),
		chromedp.Click(chromedp.ID("annotation-save")))
	mustPoll[string](t, b, "the second note in the inspector's list", rowJS, second)
	saved := time.Now()
	mustPoll[string](t, rb, "the second note in the reviewer's list", rowJS, second)
	if d := time.Since(saved); d > 2*time.Second {
		t.Fatalf("the reviewer saw the note after %s, want within 2 s", d.Round(time.Millisecond))
	}
	t.Logf("the reviewer saw the note %s after the inspector's list had it", time.Since(saved).Round(time.Millisecond))
	rb.mustScreenshot(t, "review-reviewer.png")
	rb.mu.Lock()
	for _, e := range rb.exceptions {
		t.Errorf("uncaught exception in the reviewer's page: %s", e)
	}
	rb.mu.Unlock()
	t.Logf("whole test took %s", time.Since(started).Round(time.Millisecond))
}

func near(a, b rectBox, tol float64) bool {
	return math.Abs(a.X-b.X) <= tol && math.Abs(a.Y-b.Y) <= tol && math.Abs(a.W-b.W) <= tol && math.Abs(a.H-b.H) <= tol
}

func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}
