package domain

import (
	"errors"
	"math"
	"testing"
)

// TestDistanceM checks the haversine against distances known on a sphere of
// the Earth's mean radius: a degree of a meridian is 2πR/360, half the
// circumference separates antipodes, and Beijing (Tiananmen) to Shanghai
// (People's Square) is about 1,067 km.
func TestDistanceM(t *testing.T) {
	const r = 6371008.8
	for _, c := range []struct {
		name                   string
		lat1, lon1, lat2, lon2 float64
		want, tol              float64
	}{
		{"one degree of latitude", 0, 0, 1, 0, 2 * math.Pi * r / 360, 0.01},
		{"one degree of longitude at the equator", 0, 0, 0, 1, 2 * math.Pi * r / 360, 0.01},
		{"a hundredth of a degree north in Binhai", 39.0842, 117.2009, 39.0942, 117.2009, 2 * math.Pi * r / 36000, 0.01},
		{"antipodes", 10, 20, -10, -160, math.Pi * r, 0.01},
		{"the same point", 39.0842, 117.2009, 39.0842, 117.2009, 0, 0},
		{"Beijing to Shanghai", 39.9087, 116.3975, 31.2304, 121.4737, 1067e3, 3e3},
	} {
		if got := DistanceM(c.lat1, c.lon1, c.lat2, c.lon2); math.Abs(got-c.want) > c.tol {
			t.Errorf("%s: got %.2f m, want %.2f ± %.2f", c.name, got, c.want, c.tol)
		}
	}
}

// TestSummarizeTrack: the farthest point decides the warning; no site, no
// distance.
func TestSummarizeTrack(t *testing.T) {
	lat, lon := 39.0842, 117.2009
	track := []Position{{Lat: lat, Lon: lon}, {Lat: lat + 0.005, Lon: lon}, {Lat: lat + 0.0001, Lon: lon}}
	s := SummarizeTrack(track, &lat, &lon, 1000)
	if s.Points != 3 || s.MaxDistanceM == nil || *s.MaxDistanceM != 556 || *s.LastDistanceM != 11 || s.Warning {
		t.Errorf("within 1 km: got %+v (max %v), want 3 points, max 556 m, last 11 m, no warning", s, s.MaxDistanceM)
	}
	track = append(track, Position{Lat: lat + 0.01, Lon: lon + 0.01})
	if s := SummarizeTrack(track, &lat, &lon, 1000); !s.Warning || *s.MaxDistanceM != 1408 {
		t.Errorf("one point 1.41 km away: got warning %v, max %v, want a warning at 1408 m (0.01° of longitude is 864 m at 39°N)", s.Warning, *s.MaxDistanceM)
	}
	if s := SummarizeTrack(track, nil, nil, 1000); s.MaxDistanceM != nil || s.Warning || s.Points != 4 {
		t.Errorf("no site: got %+v, want 4 points and no distance", s)
	}
}

// TestParseShotMarks: marks name checklist items at offsets ≥ 0.
func TestParseShotMarks(t *testing.T) {
	checklist := []ChecklistItem{{ID: "fire-exits", Text: Text{"安全出口", "Fire exits"}}, {ID: "cctv", Text: Text{"监控", "CCTV"}}}
	marks, err := ParseShotMarks(`[{"item":"cctv","ms":1200},{"item":"fire-exits","ms":0}]`, checklist)
	if err != nil || len(marks) != 2 || marks[0] != (ShotMark{"cctv", 1200}) || marks[1] != (ShotMark{"fire-exits", 0}) {
		t.Errorf("got %v %v, want cctv@1200 and fire-exits@0", marks, err)
	}
	for _, bad := range []string{`{}`, `[{"item":"lobby","ms":1}]`, `[{"item":"cctv","ms":-1}]`, `not json`} {
		var de *Error
		if _, err := ParseShotMarks(bad, checklist); !errors.As(err, &de) || de.Code != CodeShotMarksInvalid {
			t.Errorf("%s: got %v, want %s", bad, err, CodeShotMarksInvalid)
		}
	}
	if marks, err := ParseShotMarks("", checklist); marks != nil || err != nil {
		t.Errorf("no marks: got %v %v", marks, err)
	}
}

// TestCheckPosition refuses coordinates off the Earth and bad accuracies.
func TestCheckPosition(t *testing.T) {
	neg, nan, ok := -1.0, math.NaN(), 12.5
	for _, c := range []struct {
		p    Position
		want bool
	}{
		{Position{Lat: 39, Lon: 117, Accuracy: &ok}, true},
		{Position{Lat: 90, Lon: -180}, true},
		{Position{Lat: 91, Lon: 0}, false},
		{Position{Lat: 0, Lon: 180.5}, false},
		{Position{Lat: 0, Lon: 0, Accuracy: &neg}, false},
		{Position{Lat: 0, Lon: 0, Accuracy: &nan}, false},
		{Position{Lat: math.NaN(), Lon: 0}, false},
	} {
		if got := CheckPosition(c.p) == nil; got != c.want {
			t.Errorf("%+v: accepted %v, want %v", c.p, got, c.want)
		}
	}
}

// TestCoverage keeps the checklist's order and gives each item its marks.
func TestCoverage(t *testing.T) {
	checklist := []ChecklistItem{{ID: "a"}, {ID: "b"}, {ID: "c"}}
	cov := Coverage(checklist, []ShotPlace{{Item: "c", MS: 5}, {Item: "a", MS: 1}, {Item: "c", MS: 9}, {Item: "zzz"}})
	var got []int
	for _, it := range cov {
		got = append(got, len(it.Marks))
	}
	if len(cov) != 3 || cov[0].ID != "a" || cov[2].ID != "c" || got[0] != 1 || got[1] != 0 || got[2] != 2 || cov[2].Marks[1].MS != 9 {
		t.Errorf("got %+v, want a:1 b:0 c:2 in order", cov)
	}
}

// TestChecklistHintValidation: a shot hint is optional, trimmed, and when
// given it is in both languages.
func TestChecklistHintValidation(t *testing.T) {
	mk := func(h *Text) PermitType {
		return PermitType{Code: "x", Name: Text{"许可", "Permit"}, Checklist: []ChecklistItem{{ID: "door", Text: Text{"门", "Door"}, Hint: h}}}
	}
	p := mk(&Text{"  拍门  ", " Film the door "})
	if err := p.Validate(); err != nil || p.Checklist[0].Hint == nil || *p.Checklist[0].Hint != (Text{"拍门", "Film the door"}) {
		t.Errorf("a hint in both languages: got %v %+v, want it kept, trimmed", err, p.Checklist[0].Hint)
	}
	p = mk(&Text{" ", ""})
	if err := p.Validate(); err != nil || p.Checklist[0].Hint != nil {
		t.Errorf("a blank hint: got %v %+v, want no hint", err, p.Checklist[0].Hint)
	}
	p = mk(&Text{"拍门", ""})
	var de *Error
	if err := p.Validate(); !errors.As(err, &de) || de.Code != CodeChecklistItemInvalid {
		t.Errorf("a hint in Chinese only: got %v, want %s", err, CodeChecklistItemInvalid)
	}
	for _, pt := range Catalogue {
		if pt.Code == "hotel" {
			for _, it := range pt.Checklist {
				if it.Hint == nil || it.Hint.ZH == "" || it.Hint.EN == "" {
					t.Errorf("hotel item %s: got hint %+v, want one in both languages", it.ID, it.Hint)
				}
			}
		}
	}
}
