package report

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/jpeg"
	"math"
	"time"
)

// Track is where the applicant's phone was during one live inspection (with
// their consent), drawn against the case's site; no map service is used.
type Track struct {
	SessionID string       `json:"session_id"`
	Points    []TrackPoint `json:"points"`
	// SiteLat and SiteLon are the case's site, nil when the applicant gave
	// none (then there is no distance).
	SiteLat *float64 `json:"site_lat,omitempty"`
	SiteLon *float64 `json:"site_lon,omitempty"`
	// MaxDistanceM is the farthest point's distance from the site; Warning
	// says it is beyond WarnM (--location-warn-km).
	MaxDistanceM *float64 `json:"max_distance_m,omitempty"`
	WarnM        float64  `json:"warn_m"`
	Warning      bool     `json:"warning"`
}

// TrackPoint is one position of a track.
type TrackPoint struct {
	At       time.Time `json:"at"`
	Lat      float64   `json:"lat"`
	Lon      float64   `json:"lon"`
	Accuracy *float64  `json:"accuracy,omitempty"`
}

// trackSize is the side of a track's drawing in pixels.
const trackSize = 600

// trackPicture draws t: the trail in blue, the site as a red dot inside a
// dashed-looking red ring at the warning distance (when it fits the view),
// the last point larger. Coordinates are projected equirectangularly in
// metres around the site (or the first point), exact enough over the few
// kilometres of a site visit.
func trackPicture(t *Track) *picture {
	if len(t.Points) == 0 {
		return &picture{err: fmt.Errorf("no positions")}
	}
	clat, clon := t.Points[0].Lat, t.Points[0].Lon
	site := t.SiteLat != nil && t.SiteLon != nil
	if site {
		clat, clon = *t.SiteLat, *t.SiteLon
	}
	const r = 6371008.8
	rad := math.Pi / 180
	xy := make([][2]float64, len(t.Points))
	half := 50.0
	for i, p := range t.Points {
		x, y := (p.Lon-clon)*rad*r*math.Cos(clat*rad), (p.Lat-clat)*rad*r
		xy[i] = [2]float64{x, y}
		half = math.Max(half, math.Max(math.Abs(x), math.Abs(y)))
	}
	if site && t.WarnM > 0 && t.WarnM <= half*2 {
		half = math.Max(half, t.WarnM)
	}
	half *= 1.1
	k := trackSize / (2 * half)
	px := func(p [2]float64) [2]float64 { return [2]float64{trackSize/2 + p[0]*k, trackSize/2 - p[1]*k} }
	img := image.NewRGBA(image.Rect(0, 0, trackSize, trackSize))
	draw.Draw(img, img.Bounds(), &image.Uniform{color.RGBA{0xf4, 0xf6, 0xf9, 0xff}}, image.Point{}, draw.Src)
	red := pen{img: img, c: color.RGBA{0xd9, 0x30, 0x25, 0xff}, w: 2}
	if site {
		if t.WarnM > 0 {
			rr := t.WarnM * k
			for i := 0; i < 96; i += 2 { // a dashed ring
				a0, a1 := 2*math.Pi*float64(i)/96, 2*math.Pi*float64(i+1)/96
				red.segment([2]float64{trackSize/2 + rr*math.Cos(a0), trackSize/2 + rr*math.Sin(a0)},
					[2]float64{trackSize/2 + rr*math.Cos(a1), trackSize/2 + rr*math.Sin(a1)})
			}
		}
		red.disc(trackSize/2, trackSize/2, 7)
	}
	blue := pen{img: img, c: color.RGBA{0x1f, 0x5f, 0xbf, 0xff}, w: 4}
	pts := make([][2]float64, len(xy))
	for i, p := range xy {
		pts[i] = px(p)
	}
	blue.polyline(pts)
	last := pts[len(pts)-1]
	blue.disc(last[0], last[1], 6)
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}); err != nil {
		return &picture{err: err}
	}
	return &picture{jpeg: buf.Bytes(), w: trackSize, h: trackSize}
}

// tracks shows each live inspection's track: its points, the farthest
// distance from the site against the warning distance, and the drawing.
func (l *layout) tracks() {
	if len(l.d.Tracks) == 0 {
		return
	}
	lang := l.lang
	l.heading("拍摄位置轨迹", "Where the live footage was filmed")
	for i := range l.d.Tracks {
		t := &l.d.Tracks[i]
		first, last := t.Points[0].At, t.Points[len(t.Points)-1].At
		text := fmt.Sprintf("%s · %d %s · %s – %s", t.SessionID, len(t.Points), lang.l("个位置点", "positions"), stamp(first), stamp(last))
		l.para(marginL, contentW, 9, colText, text)
		switch {
		case t.MaxDistanceM == nil:
			l.para(marginL, contentW, 9, colMuted, lang.l("案件未填写现场坐标，无法计算距离。", "The case has no site coordinates to measure against."))
		case t.Warning:
			l.para(marginL, contentW, 9, colAlert, fmt.Sprintf("%s %.0f m > %.0f m", lang.l("注意：拍摄位置距现场最远", "Warning: the filming went this far from the site:"), *t.MaxDistanceM, t.WarnM))
		default:
			l.para(marginL, contentW, 9, colText, fmt.Sprintf("%s %.0f m ≤ %.0f m", lang.l("距现场最远", "At most this far from the site:"), *t.MaxDistanceM, t.WarnM))
		}
		l.image(marginL, 220, 220, trackPicture(t))
	}
}
