package signaling

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

var segmentName = regexp.MustCompile(`^seg-(\d+)\.(webm|mkv)$`)

// Recover finalizes what a killed process left of a session's recording:
// each segment file, written up to the kill but without its cues and
// duration, is remuxed by ffmpeg (which writes them), and the segments are
// joined as End joins them. A recording already joined but not yet
// collected is returned as it is. It returns nil when nothing was
// recorded. Segments marked with MarkStored are left out: the caller
// keeps them elsewhere. It refuses a session this Manager is running:
// that one's recording belongs to End.
func (m *Manager) Recover(ctx context.Context, sessionID string) (*Recording, error) {
	if !sessionIDPattern.MatchString(sessionID) {
		return nil, ErrInvalidID
	}
	m.mu.Lock()
	_, running := m.sess[sessionID]
	m.mu.Unlock()
	if running {
		return nil, fmt.Errorf("signaling: session %s is running; End it instead", sessionID)
	}
	dir := filepath.Join(m.cfg.RecordDir, sessionID)
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("signaling: %w", err)
	}
	type found struct {
		n    int
		path string
		ext  string
	}
	var segs []found
	for _, e := range entries {
		name := e.Name()
		if sm := segmentName.FindStringSubmatch(name); sm != nil {
			if _, err := os.Stat(filepath.Join(dir, name+storedSuffix)); err == nil {
				continue // the caller has it elsewhere (MarkStored)
			}
			n, _ := strconv.Atoi(sm[1])
			segs = append(segs, found{n, filepath.Join(dir, name), sm[2]})
		}
	}
	if len(segs) == 0 {
		for _, ext := range []string{"webm", "mkv"} {
			p := filepath.Join(dir, "recording."+ext)
			if _, err := os.Stat(p); err == nil {
				d, err := probeDuration(ctx, p)
				if err != nil {
					return nil, err
				}
				return &Recording{Path: p, ContentType: contentTypes[ext], Segments: 1, Duration: d}, nil
			}
		}
		return nil, nil
	}
	sort.Slice(segs, func(i, j int) bool { return segs[i].n < segs[j].n })
	var list []*segment
	// The files' own times: the last write, less the duration, is about
	// when each segment began; i keeps them in their numbered order.
	base := time.Time{}
	for i, f := range segs {
		var written time.Time
		if fi, err := os.Stat(f.path); err == nil {
			written = fi.ModTime()
		}
		fixed := filepath.Join(dir, fmt.Sprintf("fixed-%d.%s", f.n, f.ext))
		out, err := exec.CommandContext(ctx, "ffmpeg", "-nostdin", "-v", "error", "-i", f.path, "-c", "copy", "-y", fixed).CombinedOutput()
		if err != nil {
			// Nothing readable (killed before the first cluster): skip it.
			m.log.Warn("recover segment", "path", f.path, "err", err, "ffmpeg", string(out))
			os.Remove(fixed)
			continue
		}
		d, err := probeDuration(ctx, fixed)
		if err != nil || d <= 0 {
			os.Remove(fixed)
			continue
		}
		if err := os.Rename(fixed, f.path); err != nil {
			return nil, fmt.Errorf("signaling: %w", err)
		}
		start := base.Add(time.Duration(i) * time.Millisecond)
		if written.Add(-d).After(start) {
			start = written.Add(-d)
		}
		base = start
		list = append(list, &segment{path: f.path, contentType: contentTypes[f.ext], duration: d, start: start})
	}
	if len(list) == 0 {
		return nil, nil
	}
	return joinSegments(dir, list)
}

// storedSuffix names the marker beside a segment file that MarkStored
// leaves.
const storedSuffix = ".stored"

// MarkStored notes beside a finished segment's file that the caller has
// stored it elsewhere (an object store), so that Recover leaves it out
// after a crash. End still joins it: the file stays until then.
func (m *Manager) MarkStored(seg Segment) error {
	if err := os.WriteFile(seg.Path+storedSuffix, nil, 0o640); err != nil {
		return fmt.Errorf("signaling: mark stored: %w", err)
	}
	return nil
}

var contentTypes = map[string]string{"webm": "video/webm", "mkv": "video/x-matroska"}

// probeDuration asks ffprobe for a file's duration.
func probeDuration(ctx context.Context, path string) (time.Duration, error) {
	out, err := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", path).Output()
	if err != nil {
		return 0, fmt.Errorf("signaling: probe %s: %w", path, err)
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
	if err != nil {
		return 0, fmt.Errorf("signaling: probe %s: duration %q", path, out)
	}
	return time.Duration(f * float64(time.Second)), nil
}
