package domain

import (
	"encoding/json"
	"math"
	"time"
)

// Codes of the guided-filming and location refusals.
const (
	// CodeShotItemUnknown: a shot mark names no item of the case's checklist.
	CodeShotItemUnknown = "shot_item_unknown"
	// CodeShotMarksInvalid: the marks sent with an upload are not a list of
	// {item, ms} with known items and offsets ≥ 0.
	CodeShotMarksInvalid = "shot_marks_invalid"
	// CodePositionInvalid: a position outside the Earth's coordinates.
	CodePositionInvalid = "position_invalid"
	// CodeStillNotFound: the photo the phone names is not its upload to this case.
	CodeStillNotFound = "still_not_found"
)

// MetaShots is the tus Upload-Metadata key of the shot marks the phone made
// while it recorded a continuous take (一镜到底): JSON [{"item","ms"}], ms
// from the start of that file.
const MetaShots = "shots"

// MaxShotMarks bounds the marks one upload may carry.
const MaxShotMarks = 500

// ShotMark is one "this is <item>" mark made while filming, at a position
// in the recording (ms) of a live session or of an uploaded take.
type ShotMark struct {
	Item string `json:"item"`
	MS   int64  `json:"ms"`
}

// ChecklistText returns the item's text and whether checklist has it.
func ChecklistText(checklist []ChecklistItem, item string) (Text, bool) {
	for _, it := range checklist {
		if it.ID == item {
			return it.Text, true
		}
	}
	return Text{}, false
}

// ShotBody is the annotation body of a shot mark: the item's name in both
// languages, so the note reads right whoever opens it.
func ShotBody(t Text) string {
	return "镜头：" + t.ZH + " / Shot: " + t.EN
}

// ParseShotMarks reads the MetaShots value of an upload against the case's
// checklist. An empty value is no marks.
func ParseShotMarks(raw string, checklist []ChecklistItem) ([]ShotMark, error) {
	if raw == "" {
		return nil, nil
	}
	var marks []ShotMark
	if err := json.Unmarshal([]byte(raw), &marks); err != nil || len(marks) > MaxShotMarks {
		return nil, Coded(ErrInvalid, CodeShotMarksInvalid, "the shot marks are not a list of at most 500 {item, ms}")
	}
	for _, m := range marks {
		if _, ok := ChecklistText(checklist, m.Item); !ok || m.MS < 0 {
			return nil, Coded(ErrInvalid, CodeShotMarksInvalid, "a shot mark names an unknown checklist item or a negative time")
		}
	}
	return marks, nil
}

// Position is where the phone was at a moment of a live session.
type Position struct {
	At       time.Time `json:"at"`
	Lat      float64   `json:"lat"`
	Lon      float64   `json:"lon"`
	Accuracy *float64  `json:"accuracy"`
}

// CheckPosition refuses coordinates off the Earth and a negative or absurd
// accuracy (NaN included).
func CheckPosition(p Position) error {
	ok := p.Lat >= -90 && p.Lat <= 90 && p.Lon >= -180 && p.Lon <= 180
	if p.Accuracy != nil && !(*p.Accuracy >= 0 && *p.Accuracy < 1e7) {
		ok = false
	}
	if !ok {
		return Coded(ErrInvalid, CodePositionInvalid, "a position needs lat in [-90, 90], lon in [-180, 180] and an accuracy ≥ 0 metres")
	}
	return nil
}

// DistanceM is the great-circle (haversine) distance between two points in
// metres, on a sphere of the Earth's mean radius (IUGG: 6,371,008.8 m);
// the error against the ellipsoid stays under 0.5 %.
func DistanceM(lat1, lon1, lat2, lon2 float64) float64 {
	const r = 6371008.8
	rad := math.Pi / 180
	dlat, dlon := (lat2-lat1)*rad, (lon2-lon1)*rad
	a := math.Sin(dlat/2)*math.Sin(dlat/2) + math.Cos(lat1*rad)*math.Cos(lat2*rad)*math.Sin(dlon/2)*math.Sin(dlon/2)
	return 2 * r * math.Asin(math.Sqrt(math.Min(1, a)))
}

// TrackSummary is how a track stands to the case's site.
type TrackSummary struct {
	Points int `json:"points"`
	// MaxDistanceM and LastDistanceM are from the site (nil when the case
	// has no site coordinates or the track no point).
	MaxDistanceM  *float64 `json:"max_distance_m"`
	LastDistanceM *float64 `json:"last_distance_m"`
	// Warning is true when a point lies farther than the warning distance.
	Warning bool    `json:"warning"`
	WarnM   float64 `json:"warn_m"`
}

// SummarizeTrack measures track against the site (siteLat/siteLon nil when
// unknown) with the warning distance warnM.
func SummarizeTrack(track []Position, siteLat, siteLon *float64, warnM float64) TrackSummary {
	s := TrackSummary{Points: len(track), WarnM: warnM}
	if siteLat == nil || siteLon == nil || len(track) == 0 {
		return s
	}
	maxD := 0.0
	for _, p := range track {
		maxD = math.Max(maxD, DistanceM(p.Lat, p.Lon, *siteLat, *siteLon))
	}
	last := track[len(track)-1]
	lastD := math.Round(DistanceM(last.Lat, last.Lon, *siteLat, *siteLon))
	maxD = math.Round(maxD)
	s.MaxDistanceM, s.LastDistanceM, s.Warning = &maxD, &lastD, maxD > warnM
	return s
}

// ItemCoverage is one checklist item with the footage marked as showing it.
type ItemCoverage struct {
	ID    string      `json:"id"`
	Text  Text        `json:"text"`
	Hint  *Text       `json:"hint,omitempty"`
	Marks []ShotPlace `json:"marks"`
}

// ShotPlace is where a shot mark points: a live session's recording (its
// evidence once stored) or an uploaded take, at MS.
type ShotPlace struct {
	SessionID    string    `json:"session_id"`
	EvidenceID   *string   `json:"evidence_id"`
	AnnotationID *string   `json:"annotation_id"`
	MS           int64     `json:"ms"`
	By           *UserRef  `json:"by"`
	At           time.Time `json:"at"`
	Item         string    `json:"-"`
}

// Coverage lists the checklist in order, each item with its marks (an
// empty list: no footage of it yet).
func Coverage(checklist []ChecklistItem, marks []ShotPlace) []ItemCoverage {
	out := make([]ItemCoverage, 0, len(checklist))
	for _, it := range checklist {
		c := ItemCoverage{ID: it.ID, Text: it.Text, Hint: it.Hint, Marks: []ShotPlace{}}
		for _, m := range marks {
			if m.Item == it.ID {
				c.Marks = append(c.Marks, m)
			}
		}
		out = append(out, c)
	}
	return out
}
