package signaling

import (
	"os"
	"sync"
	"testing"
	"time"

	"siteinspect/internal/testenv"
)

// TestRotation: with MaxSegment, one publisher connection is recorded in
// segments from keyframe to keyframe of at least that length, each handed to OnSegment as it finishes
// (before End) with its file in place, and End joins them back to back
// into a recording as long as what was sent, decoding cleanly; the
// recording time counts the rotated segments.
func TestRotation(t *testing.T) {
	m := mustManagerWith(t, Config{MaxSegment: 900 * time.Millisecond})
	mustMedia(t)
	var mu sync.Mutex
	var got []Segment
	m.OnSegment(func(id string, seg Segment) {
		if _, err := os.Stat(seg.Path); err != nil {
			t.Errorf("OnSegment %s: %v, want the file in place", seg.Path, err)
		}
		mu.Lock()
		got = append(got, seg)
		mu.Unlock()
	})
	pub := mustPublish(t, m, "rot", codecVP8)
	defer pub.pc.Close()
	published := publishFiles(t, pub, codecVP8, 3*time.Second)
	mu.Lock()
	before := len(got)
	mu.Unlock()
	st, err := m.Status("rot")
	if err != nil {
		t.Fatal(err)
	}
	if !within(st.RecordingTime, published, 0.1) {
		t.Errorf("recording time before the end: got %v, want %v ± 10%%", st.RecordingTime, published)
	}
	rec, err := m.End("rot")
	if err != nil {
		t.Fatalf("End: %v", err)
	}
	// 3 s in segments of 0.9 s or more (each ends at the first keyframe
	// after 0.9 s; the media has one a second): 2 finished while
	// publishing, the third at the end.
	if before != 2 || len(got) != 3 || rec.Segments != 3 {
		t.Errorf("segments: %d handed over while publishing, %d in all, %d joined; want 2, 3 and 3", before, len(got), rec.Segments)
	}
	var sum time.Duration
	for i, s := range got {
		sum += s.Duration
		if i > 0 && !s.Start.After(got[i-1].Start) {
			t.Errorf("segment %d starts %v, not after the one before (%v)", i, s.Start, got[i-1].Start)
		}
		if i < len(got)-1 && (s.Duration < 900*time.Millisecond || s.Duration > 1100*time.Millisecond) {
			t.Errorf("segment %d lasts %v, want about 1 s (keyframe to keyframe)", i, s.Duration)
		}
	}
	p := mustProbe(t, rec.Path)
	t.Logf("published %v in %d segments (sum %v); recording %v (ffprobe %v)", published, len(got), sum, rec.Duration, p.duration())
	if !within(p.duration(), published, 0.05) {
		t.Errorf("got duration %v, want %v ± 5%%", p.duration(), published)
	}
	testenv.MustDecodeClean(t, rec.Path)
}
