package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"siteinspect/domain"
	"siteinspect/internal/harness"
	"siteinspect/media"
)

// BenchmarkMediaReady60sHEVC measures how long a 60 s 1080p HEVC clip (an
// iPhone's kind) takes from the end of its upload to `ready` — probe,
// poster, filmstrip and H.264 proxy — against the very same ffmpeg
// commands replayed by hand, and the server's peak RSS meanwhile.
func BenchmarkMediaReady60sHEVC(b *testing.B) {
	if testing.Short() {
		b.Skip("transcodes a minute of 1080p; not in -short")
	}
	clip := benchHEVCClip(b)

	// The commands our media code runs for this clip, recorded on a first
	// pass that also warms the page cache for both contenders.
	var cmds [][]string
	work := b.TempDir()
	run := media.Runner{Trace: func(name string, args []string) { cmds = append(cmds, append([]string{name}, args...)) }}
	ctx := context.Background()
	info, err := run.ProbeVideo(ctx, clip)
	if err != nil {
		b.Fatal(err)
	}
	if err := run.Poster(ctx, clip, filepath.Join(work, "poster.jpg"), info); err != nil {
		b.Fatal(err)
	}
	if _, err := run.Filmstrip(ctx, clip, filepath.Join(work, "filmstrip.jpg"), info); err != nil {
		b.Fatal(err)
	}
	if media.Playable(info) {
		b.Fatal("an HEVC clip should need a proxy")
	}
	if err := run.Proxy(ctx, clip, filepath.Join(work, "proxy.mp4"), info); err != nil {
		b.Fatal(err)
	}

	// By hand: the same commands, one after another, with no limits, no
	// nice, no object store and no database.
	settleCPU(b)
	handStart := time.Now()
	for _, c := range cmds {
		if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			b.Fatalf("%s: %v\n%s", strings.Join(c, " "), err, out)
		}
	}
	byHand := time.Since(handStart)

	// Ours: upload into a server on MinIO and wait for ready.
	srv := harness.StartServer(b, append([]string{"--jobs", "1"}, harness.S3Args(b)...)...)
	app := harness.Login(b, srv.URL, "applicant", srv.Demo["applicant"])
	cs := app.NewCase()
	idle := procStatusKiB(b, srv.Cmd.Process.Pid, "VmHWM")
	b.ResetTimer()
	var ours time.Duration
	for range b.N {
		id := app.MustUploadFile(cs.ID, clip)
		start := time.Now()
		ev := app.MustEvidenceDone(id, 20*time.Minute)
		ours = time.Since(start)
		if ev.Status != domain.EvidenceReady || ev.Derived == nil || !ev.Derived.Proxy {
			b.Fatalf("got %q (%s), want ready with a proxy", ev.Status, ev.StatusReason)
		}
	}
	b.StopTimer()
	peak := procStatusKiB(b, srv.Cmd.Process.Pid, "VmHWM")
	ratio := ours.Seconds() / byHand.Seconds()
	b.ReportMetric(byHand.Seconds(), "by-hand-s")
	b.ReportMetric(ours.Seconds(), "ours-s")
	b.ReportMetric(ratio, "overhead-ratio")
	b.ReportMetric(float64(peak)/1024, "peak-RSS-MiB")
	fmt.Printf("\nmedia: 60 s 1080p HEVC (%d commands) — by hand %.1f s, upload→ready %.1f s, ratio %.3f (target ≤ 1.15: %s); server peak RSS %.1f MiB (%.1f MiB before)\n",
		len(cmds), byHand.Seconds(), ours.Seconds(), ratio, verdict(ratio <= 1.15), float64(peak)/1024, float64(idle)/1024)
}

// benchHEVCClip makes (once, cached in the temp folder) a 60 s 1080p30
// HEVC clip with AAC sound, as an iPhone records.
func benchHEVCClip(tb testing.TB) string {
	dir := filepath.Join(os.TempDir(), "siteinspect-bench")
	p := filepath.Join(dir, "hevc-1080p-60s.mp4")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	os.MkdirAll(dir, 0o755)
	tmp := p + ".part.mp4"
	out, err := exec.Command("ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=30", "-f", "lavfi", "-i", "sine=frequency=440",
		"-t", "60", "-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "log-level=error", "-tag:v", "hvc1", "-c:a", "aac", tmp).CombinedOutput()
	if err != nil {
		tb.Fatalf("make clip: %v\n%s", err, out)
	}
	if err := os.Rename(tmp, p); err != nil {
		tb.Fatal(err)
	}
	return p
}
