package media

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestInputsArePinned runs every ffmpeg/ffprobe call on evidence and checks
// that each names its demuxer and limits protocols to file and pipe, with
// the input as an explicit file: URL.
func TestInputsArePinned(t *testing.T) {
	mustTools(t, "ffmpeg", "ffprobe", "exiftool")
	dir := t.TempDir()
	h264 := []string{"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"}
	clips := map[string]string{
		"mov":      mustFFmpeg(t, filepath.Join(dir, "a.mp4"), join(redBlue, []string{"-t", "1"}, h264)...),
		"matroska": mustFFmpeg(t, filepath.Join(dir, "b.webm"), join(redBlue, []string{"-t", "1", "-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8"})...),
	}
	ctx := context.Background()
	for demuxer, clip := range clips {
		t.Run(demuxer, func(t *testing.T) {
			var calls [][]string
			r := Runner{Trace: func(name string, args []string) { calls = append(calls, append([]string{name}, args...)) }}
			info, err := r.ProbeVideo(ctx, clip)
			if err != nil {
				t.Fatal(err)
			}
			if err := r.Poster(ctx, clip, filepath.Join(dir, demuxer+"-poster.jpg"), info); err != nil {
				t.Fatal(err)
			}
			if _, err := r.Filmstrip(ctx, clip, filepath.Join(dir, demuxer+"-strip.jpg"), info); err != nil {
				t.Fatal(err)
			}
			if err := r.Proxy(ctx, clip, filepath.Join(dir, demuxer+"-proxy.mp4"), info); err != nil {
				t.Fatal(err)
			}
			if err := r.Frame(ctx, clip, filepath.Join(dir, demuxer+"-frame.png"), 3, 30); err != nil {
				t.Fatal(err)
			}
			if _, err := r.scanDuration(ctx, &input{demuxer: demuxer, url: "file:" + clip, protocols: "file,pipe"}); err != nil {
				t.Fatal(err)
			}
			// Frame asks ffprobe whether the video is HDR first.
			if len(calls) != 7 {
				t.Fatalf("got %d commands, want 7: %q", len(calls), calls)
			}
			for _, c := range calls {
				assertPinned(t, c, demuxer, clip)
			}
		})
	}
	t.Run("image", func(t *testing.T) {
		jpg := mustFFmpeg(t, filepath.Join(dir, "c.jpg"), "-f", "lavfi", "-i", "testsrc=size=64x48", "-frames:v", "1")
		var calls [][]string
		r := Runner{Trace: func(name string, args []string) { calls = append(calls, append([]string{name}, args...)) }}
		if err := r.ImagePreview(ctx, jpg, filepath.Join(dir, "p.jpg"), filepath.Join(dir, "t.jpg")); err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, c := range calls {
			if c[0] == "ffmpeg" {
				assertPinned(t, c, "image2", jpg)
				n++
			}
		}
		if n != 1 {
			t.Errorf("got %d ffmpeg commands, want 1: %q", n, calls)
		}
	})
}

// assertPinned checks one traced command line: the protocol whitelist and
// -f demuxer come before the input, which is file:path.
func assertPinned(t *testing.T, cmd []string, demuxer, path string) {
	t.Helper()
	in := slices.Index(cmd, "file:"+path)
	wl := slices.Index(cmd, "-protocol_whitelist")
	f := slices.Index(cmd[:max(in, 0)], "-f")
	if in < 0 || wl < 0 || wl > in || cmd[wl+1] != "file,pipe" || f < 0 || cmd[f+1] != demuxer {
		t.Errorf("got %q, want -protocol_whitelist file,pipe and -f %s before file:%s", cmd, demuxer, path)
	}
	if cmd[0] == "ffmpeg" && (in == 0 || cmd[in-1] != "-i") {
		t.Errorf("got %q, want -i before the input", cmd)
	}
	if slices.Contains(cmd, path) {
		t.Errorf("got %q, want the input only as a file: URL", cmd)
	}
}

// TestPlaylistNamedMP4 is the probe's finding: an HLS playlist named .mp4.
// Left to probe, ffprobe reads it as HLS and opens the segment it names;
// media refuses it before any tool runs, and even ffprobe pinned to mov
// (should the first bytes ever pass) fails without opening the segment.
// The segment is a FIFO so that an open is seen, not guessed from
// timestamps.
func TestPlaylistNamedMP4(t *testing.T) {
	mustTools(t, "ffprobe")
	dir := t.TempDir()
	seg := filepath.Join(dir, "seg.ts")
	if err := syscall.Mkfifo(seg, 0o600); err != nil {
		t.Fatal(err)
	}
	playlist := []byte("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.0,\nseg.ts\n#EXT-X-ENDLIST\n")
	pl := filepath.Join(dir, "x.mp4")
	if err := os.WriteFile(pl, playlist, 0o600); err != nil {
		t.Fatal(err)
	}
	// A forged ftyp box in front, so media's own sniff lets it through to ffprobe.
	forged := filepath.Join(dir, "y.mp4")
	if err := os.WriteFile(forged, append([]byte("\x00\x00\x00\x14ftypisom\x00\x00\x02\x00isom"), playlist...), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	t.Run("unpinned ffprobe opens the segment", func(t *testing.T) {
		// The control: without it the checks below could pass for a test
		// that never sees an open.
		opened := watchFIFO(t, seg)
		out, _ := exec.Command("ffprobe", "-v", "error", pl).CombinedOutput()
		if !opened() || !strings.Contains(string(out), "[hls @") {
			t.Fatalf("got opened=%v, output %q; want ffprobe to read x.mp4 as hls and open seg.ts", opened(), out)
		}
	})

	t.Run("media refuses it", func(t *testing.T) {
		opened := watchFIFO(t, seg)
		var calls int
		r := Runner{Timeout: 20 * time.Second, Trace: func(string, []string) { calls++ }}
		_, err := r.ProbeVideo(ctx, pl)
		var un *Unprocessable
		if !errors.As(err, &un) {
			t.Errorf("ProbeVideo: got %v, want *Unprocessable", err)
		}
		if err := r.Poster(ctx, pl, filepath.Join(dir, "p.jpg"), nil); !errors.As(err, &un) {
			t.Errorf("Poster: got %v, want *Unprocessable", err)
		}
		if err := r.Frame(ctx, pl, filepath.Join(dir, "f.png"), 1, 30); !errors.As(err, &un) {
			t.Errorf("Frame: got %v, want *Unprocessable", err)
		}
		if calls != 0 || opened() {
			t.Errorf("got %d commands run, segment opened=%v; want none, false", calls, opened())
		}
	})

	t.Run("ffprobe pinned to mov fails", func(t *testing.T) {
		opened := watchFIFO(t, seg)
		r := Runner{Timeout: 20 * time.Second}
		for _, path := range []string{pl, forged} {
			_, err := r.run(ctx, "ffprobe", append([]string{"-v", "error", "-show_format"}, (&input{demuxer: "mov", url: "file:" + path, protocols: "file,pipe"}).probeArgs()...)...)
			var ce *cmdError
			if !errors.As(err, &ce) || ce.Signaled || isTimeout(err) {
				t.Errorf("ffprobe -f mov %s: got %v, want a plain failure", filepath.Base(path), err)
			}
		}
		_, err := r.ProbeVideo(ctx, forged)
		var un *Unprocessable
		if !errors.As(err, &un) || strings.Contains(un.Reason, dir) {
			t.Errorf("ProbeVideo(forged ftyp): got %v, want *Unprocessable without our paths", err)
		}
		if opened() {
			t.Errorf("got the segment opened, want it untouched")
		}
	})
}

// watchFIFO reports whether anything opened the FIFO at path for reading
// while the test ran: an O_NONBLOCK open for writing succeeds only then.
// Each open found is closed at once, so the reader sees EOF and goes on.
func watchFIFO(t *testing.T, path string) (opened func() bool) {
	t.Helper()
	var seen atomic.Bool
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			if fd, err := syscall.Open(path, syscall.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
				seen.Store(true)
				syscall.Close(fd)
			}
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	t.Cleanup(func() { close(stop); <-done })
	return func() bool {
		time.Sleep(20 * time.Millisecond) // one more look after the command
		return seen.Load()
	}
}

// TestURLInput covers the report's path, which hands Frame a presigned
// object-store URL: the demuxer comes from the first bytes fetched with a
// Range request, and the whitelist allows HTTP but not the file protocol.
func TestURLInput(t *testing.T) {
	mustTools(t, "ffmpeg")
	dir := t.TempDir()
	mustFFmpeg(t, filepath.Join(dir, "a.mp4"), join(redBlue, []string{"-t", "1", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"})...)
	if err := os.WriteFile(filepath.Join(dir, "pl.mp4"), []byte("#EXTM3U\n#EXTINF:1,\nfile:///etc/passwd\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	defer srv.Close()
	var calls [][]string
	r := Runner{Trace: func(name string, args []string) { calls = append(calls, append([]string{name}, args...)) }}
	ctx := context.Background()
	if err := r.Frame(ctx, srv.URL+"/a.mp4", filepath.Join(dir, "f.png"), 3, 30); err != nil {
		t.Fatal(err)
	}
	// ffprobe (is it HDR?), then ffmpeg.
	if len(calls) != 2 {
		t.Fatalf("got %d commands, want 2: %q", len(calls), calls)
	}
	for i, c := range calls {
		in := slices.Index(c, srv.URL+"/a.mp4")
		wl := slices.Index(c, "-protocol_whitelist")
		f := slices.Index(c, "-f")
		if in < 1 || (i == 1 && c[in-1] != "-i") || wl < 0 || wl > in || c[wl+1] != "http,https,tcp,tls" || f < 0 || f > in || c[f+1] != "mov" {
			t.Errorf("got %q, want -protocol_whitelist http,https,tcp,tls -f mov (-i) URL", c)
		}
	}
	calls = nil
	var un *Unprocessable
	if err := r.Frame(ctx, srv.URL+"/pl.mp4", filepath.Join(dir, "g.png"), 1, 30); !errors.As(err, &un) || len(calls) != 0 {
		t.Errorf("Frame(playlist URL): got %v after %d commands, want *Unprocessable before any", err, len(calls))
	}
	if err := r.Frame(ctx, srv.URL+"/missing.mp4", filepath.Join(dir, "h.png"), 1, 30); err == nil || errors.As(err, &un) || strings.Contains(err.Error(), "X-Amz") {
		t.Errorf("Frame(404 URL): got %v, want a plain error", err)
	}
}
