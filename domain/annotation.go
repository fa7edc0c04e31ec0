package domain

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"
)

// Shape is a drawing on a frame, page or photo, in coordinates from 0 to 1
// of its width and height, so it survives any display size.
type Shape struct {
	Type   string       `json:"type"`
	Points [][2]float64 `json:"points"`
	Color  string       `json:"color,omitempty"`
}

// UnmarshalJSON reads a shape, each of whose points must be exactly two
// numbers, [x, y]: a point of one number (or three) is refused, not
// filled with zeros (or cut) as a [2]float64 would be. Unknown fields are
// refused, as for the request around it.
func (s *Shape) UnmarshalJSON(b []byte) error {
	var raw struct {
		Type   string      `json:"type"`
		Points [][]float64 `json:"points"`
		Color  string      `json:"color,omitempty"`
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&raw); err != nil {
		return fmt.Errorf("shape: %w", err)
	}
	pts := make([][2]float64, len(raw.Points))
	for i, p := range raw.Points {
		if len(p) != 2 {
			return fmt.Errorf("shape: point %d has %d numbers; a point is [x, y]", i+1, len(p))
		}
		pts[i] = [2]float64{p[0], p[1]}
	}
	if raw.Points == nil {
		pts = nil
	}
	*s = Shape{Type: raw.Type, Points: pts, Color: raw.Color}
	return nil
}

// Severities of an annotation.
const (
	SeverityInfo      = "info"
	SeverityConcern   = "concern"
	SeverityViolation = "violation"
)

// Annotation is an officer's note on a piece of evidence: at a moment or
// over a range of a video (milliseconds and the frame the player showed),
// on a PDF page, or on a photo, optionally with a shape and tied to a
// checklist item.
type Annotation struct {
	ID            string     `json:"id"`
	CaseID        string     `json:"case_id"`
	EvidenceID    string     `json:"evidence_id"`
	Author        *UserRef   `json:"author"`
	Body          string     `json:"body"`
	StartMS       *int64     `json:"start_ms"`
	EndMS         *int64     `json:"end_ms"`
	StartFrame    *int64     `json:"start_frame"`
	EndFrame      *int64     `json:"end_frame"`
	Page          *int       `json:"page"`
	Shape         *Shape     `json:"shape"`
	ChecklistItem string     `json:"checklist_item"`
	Severity      string     `json:"severity"`
	Resolved      bool       `json:"resolved"`
	ResolvedAt    *time.Time `json:"resolved_at"`
	Deleted       bool       `json:"deleted,omitempty"`
	Version       int        `json:"version"`
	CreatedAt     time.Time  `json:"created_at"`
	UpdatedAt     time.Time  `json:"updated_at"`
	Replies       []Reply    `json:"replies"`

	// memo is set on the shared annotations of the listing cache
	// (annotation_cache.go), which must not be changed.
	memo *annMemo
}

// Reply is a message in an annotation's thread.
type Reply struct {
	ID        string    `json:"id"`
	Author    *UserRef  `json:"author"`
	Body      string    `json:"body"`
	CreatedAt time.Time `json:"created_at"`
}

// AnnotationInput is what a client sends to create or edit an annotation.
type AnnotationInput struct {
	Body          string `json:"body"`
	StartMS       *int64 `json:"start_ms"`
	EndMS         *int64 `json:"end_ms"`
	StartFrame    *int64 `json:"start_frame"`
	EndFrame      *int64 `json:"end_frame"`
	Page          *int   `json:"page"`
	Shape         *Shape `json:"shape"`
	ChecklistItem string `json:"checklist_item"`
	Severity      string `json:"severity"`
}

// Position orders annotations for reading: by time, or by page.
func (in *AnnotationInput) Position() int64 {
	switch {
	case in.StartMS != nil:
		return *in.StartMS
	case in.Page != nil:
		return int64(*in.Page)
	}
	return 0
}

var colorRE = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)

// FrameAt is the frame shown at ms in a stream of fps frames a second: the
// last one that started at or before it. Half a millisecond of slack
// absorbs a client that rounded the frame's start time to whole ms.
func FrameAt(ms int64, fps float64) int64 {
	return int64(math.Floor((float64(ms) + 0.5) * fps / 1000))
}

// CheckAnnotation validates in against the evidence it is on and fills in
// frame numbers: a video note needs start_ms, a PDF note a page, a photo
// neither.
func CheckAnnotation(in *AnnotationInput, ev *Evidence, checklist []ChecklistItem) error {
	in.Body = strings.TrimSpace(in.Body)
	if in.Body == "" || utf8.RuneCountInString(in.Body) > 5000 {
		return Coded(ErrInvalid, "annotation_body_length", "body must have 1 to 5000 characters")
	}
	if in.Severity == "" {
		in.Severity = SeverityInfo
	}
	if in.Severity != SeverityInfo && in.Severity != SeverityConcern && in.Severity != SeverityViolation {
		return Coded(ErrInvalid, "annotation_severity_invalid", "severity must be info, concern or violation")
	}
	if in.ChecklistItem != "" {
		found := false
		for _, c := range checklist {
			found = found || c.ID == in.ChecklistItem
		}
		if !found {
			return Coded(ErrInvalid, "unknown_checklist_item", fmt.Sprintf("checklist item %q is not on this permit type's checklist", in.ChecklistItem))
		}
	}
	switch ev.Kind {
	case KindVideo, KindRecording:
		if in.Page != nil {
			return Coded(ErrInvalid, "annotation_anchor_invalid", "a video annotation has start_ms, not page")
		}
		if in.StartMS == nil || *in.StartMS < 0 {
			return Coded(ErrInvalid, "annotation_anchor_invalid", "a video annotation needs start_ms ≥ 0")
		}
		if in.EndMS != nil && *in.EndMS <= *in.StartMS {
			return Coded(ErrInvalid, "annotation_anchor_invalid", "end_ms must be after start_ms")
		}
		if m := ev.Media; m != nil && m.DurationMS != nil && (*in.StartMS > *m.DurationMS || in.EndMS != nil && *in.EndMS > *m.DurationMS) {
			return Coded(ErrInvalid, "annotation_anchor_invalid", fmt.Sprintf("the video lasts %d ms", *m.DurationMS))
		}
		in.StartFrame, in.EndFrame = nil, nil
		if m := ev.Media; m != nil && m.FPS != nil && *m.FPS > 0 {
			f := FrameAt(*in.StartMS, *m.FPS)
			in.StartFrame = &f
			if in.EndMS != nil {
				e := FrameAt(*in.EndMS, *m.FPS)
				in.EndFrame = &e
			}
		}
	case KindPDF:
		if in.StartMS != nil || in.EndMS != nil {
			return Coded(ErrInvalid, "annotation_anchor_invalid", "a PDF annotation has page, not start_ms")
		}
		if in.Page == nil || *in.Page < 1 || ev.Media != nil && ev.Media.Pages != nil && *in.Page > *ev.Media.Pages {
			return Coded(ErrInvalid, "annotation_anchor_invalid", "a PDF annotation needs a page that the PDF has")
		}
		in.StartFrame, in.EndFrame = nil, nil
	default:
		if in.StartMS != nil || in.EndMS != nil || in.Page != nil {
			return Coded(ErrInvalid, "annotation_anchor_invalid", "a photo annotation has neither start_ms nor page")
		}
		in.StartFrame, in.EndFrame = nil, nil
	}
	if s := in.Shape; s != nil {
		want := map[string][2]int{"rect": {2, 2}, "ellipse": {2, 2}, "arrow": {2, 2}, "line": {2, 2}, "point": {1, 1}, "freehand": {2, 2000}}[s.Type]
		if want[0] == 0 {
			return Coded(ErrInvalid, "annotation_shape_invalid", "shape type must be rect, ellipse, arrow, line, freehand or point")
		}
		if len(s.Points) < want[0] || len(s.Points) > want[1] {
			return Coded(ErrInvalid, "annotation_shape_invalid", fmt.Sprintf("a %s has %d to %d points", s.Type, want[0], want[1]))
		}
		for _, p := range s.Points {
			if p[0] < 0 || p[0] > 1 || p[1] < 0 || p[1] > 1 || math.IsNaN(p[0]) || math.IsNaN(p[1]) {
				return Coded(ErrInvalid, "annotation_shape_invalid", "shape points must lie within 0..1 of the width and height")
			}
		}
		if s.Color != "" && !colorRE.MatchString(s.Color) {
			return Coded(ErrInvalid, "annotation_shape_invalid", "shape color must look like #rrggbb")
		}
	}
	return nil
}

// CloneAnnotation copies a new annotation deeply enough that changing
// either copy leaves the other as it was; its shape goes through JSON as it
// does through the database.
func CloneAnnotation(a *Annotation) *Annotation {
	c := *a
	c.memo = nil
	ref := *a.Author
	c.Author = &ref
	i64 := func(v *int64) *int64 {
		if v == nil {
			return nil
		}
		x := *v
		return &x
	}
	c.StartMS, c.EndMS, c.StartFrame, c.EndFrame = i64(a.StartMS), i64(a.EndMS), i64(a.StartFrame), i64(a.EndFrame)
	if a.Page != nil {
		p := *a.Page
		c.Page = &p
	}
	if a.Shape != nil {
		b, _ := json.Marshal(a.Shape)
		c.Shape = new(Shape)
		json.Unmarshal(b, c.Shape)
	}
	c.Replies = append([]Reply{}, a.Replies...)
	return &c
}

// AnnotationFilter narrows a listing; zero fields do not filter.
type AnnotationFilter struct {
	CaseID, EvidenceID, ChecklistItem, Severity string
	// Resolved filters by state when not nil.
	Resolved *bool
	// FromPosition keeps annotations at or after this position (ms of a
	// video, page of a PDF): the ones around a playhead.
	FromPosition *int64
	// Limit and Offset page through a long list; Limit 0 means all.
	Limit, Offset int
}
