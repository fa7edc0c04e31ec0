package signaling

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Recording is a finished live-session recording on local disk.
type Recording struct {
	// Path is the recording: the single segment, or the segments joined
	// back to back (the outages between them are not kept as gaps).
	Path string
	// ContentType is video/webm (VP8+Opus) or video/x-matroska (H.264+Opus).
	ContentType string
	// Segments is how many publisher connections contributed media.
	Segments int
	// Duration is the sum of the segments' durations.
	Duration time.Duration
	// Start is the wall time of the first segment's first frame (for a
	// recovered recording, as near as its files tell).
	Start time.Time
}

// Segment is one finished segment of a recording: one publisher
// connection's media, in a file of its own.
type Segment struct {
	Path        string
	ContentType string
	// Start is the wall time of its first frame, which orders segments.
	Start    time.Time
	Duration time.Duration
}

// JoinSegments joins segment files, in the order of their Start, into one
// recording in dir, as End does with a session's own segments; the
// segment files are removed (one is renamed). It returns nil for none.
func JoinSegments(dir string, segs []Segment) (*Recording, error) {
	list := make([]*segment, len(segs))
	for i, s := range segs {
		list[i] = &segment{path: s.Path, contentType: s.ContentType, start: s.Start, duration: s.Duration}
	}
	return joinSegments(dir, list)
}

// joinSegments turns a session's segments into one recording. One segment
// is renamed; several are joined back to back with ffmpeg's concat demuxer
// without re-encoding (`-c copy`), which also writes fresh cues and
// duration, and the segment files are then removed. Segments of different
// codecs (a reconnect that switched VP8 ↔ H.264) cannot be joined: the
// error names them and they are left in place.
func joinSegments(dir string, segs []*segment) (*Recording, error) {
	if len(segs) == 0 {
		return nil, nil
	}
	sort.Slice(segs, func(i, j int) bool { return segs[i].start.Before(segs[j].start) })
	rec := &Recording{ContentType: segs[0].contentType, Segments: len(segs), Start: segs[0].start}
	for _, s := range segs {
		rec.Duration += s.duration
		if s.contentType != rec.ContentType {
			return nil, fmt.Errorf("signaling: segments of different types cannot be joined: %s", strings.Join(segPaths(segs), ", "))
		}
	}
	rec.Path = filepath.Join(dir, "recording"+filepath.Ext(segs[0].path))
	if len(segs) == 1 {
		if err := os.Rename(segs[0].path, rec.Path); err != nil {
			return nil, fmt.Errorf("signaling: %w", err)
		}
		return rec, nil
	}
	// Each segment's duration runs to the end of its last frame: the file
	// headers stop at the last frame's start, which would make the next
	// segment's first frame collide with it.
	var list strings.Builder
	list.WriteString("ffconcat version 1.0\n")
	for _, s := range segs {
		fmt.Fprintf(&list, "file '%s'\nduration %.3f\n", strings.ReplaceAll(s.path, "'", `'\''`), s.duration.Seconds())
	}
	listPath := filepath.Join(dir, "segments.txt")
	if err := os.WriteFile(listPath, []byte(list.String()), 0o640); err != nil {
		return nil, fmt.Errorf("signaling: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ffmpeg", "-nostdin", "-v", "error", "-f", "concat", "-safe", "0",
		"-i", listPath, "-c", "copy", "-y", rec.Path).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("signaling: join segments: %w: %s", err, out)
	}
	for _, p := range append(segPaths(segs), listPath) {
		_ = os.Remove(p)
	}
	return rec, nil
}

func segPaths(segs []*segment) []string {
	paths := make([]string, len(segs))
	for i, s := range segs {
		paths[i] = s.path
	}
	return paths
}
