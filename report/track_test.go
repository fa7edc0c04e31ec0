package report

import (
	"bytes"
	"image/color"
	"image/jpeg"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testTrack is a walk from the site 0.02° north (2.2 km) in Binhai.
func testTrack() Track {
	lat, lon := 39.0842, 117.2009
	maxD := 2224.0
	at := time.Date(2026, 3, 2, 10, 0, 0, 0, time.FixedZone("CST", 8*3600))
	return Track{SessionID: "lv_test", SiteLat: &lat, SiteLon: &lon, MaxDistanceM: &maxD, WarnM: 1000, Warning: true,
		Points: []TrackPoint{{At: at, Lat: lat + 0.0005, Lon: lon}, {At: at.Add(5 * time.Second), Lat: lat + 0.01, Lon: lon}, {At: at.Add(10 * time.Second), Lat: lat + 0.02, Lon: lon}}}
}

// nearColour reports whether two colours differ by at most 60 per channel (JPEG blurs a thin line's colour).
func nearColour(a, b color.RGBA) bool {
	d := func(x, y uint8) bool { return x-y <= 60 || y-x <= 60 }
	return d(a.R, b.R) && d(a.G, b.G) && d(a.B, b.B)
}

// TestTrackPicture draws the site at the centre in red and the trail in
// blue up to its last point, north up.
func TestTrackPicture(t *testing.T) {
	tr := testTrack()
	p := trackPicture(&tr)
	if p.err != nil || p.w != trackSize || p.h != trackSize {
		t.Fatalf("got %v %dx%d, want a %dx%d picture", p.err, p.w, p.h, trackSize, trackSize)
	}
	img, err := jpeg.Decode(bytes.NewReader(p.jpeg))
	if err != nil {
		t.Fatal(err)
	}
	rgba := func(x, y int) color.RGBA {
		r, g, b, _ := img.At(x, y).RGBA()
		return color.RGBA{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8), 0xff}
	}
	// The view spans 2 × 1.1 × 2224 m; the last point lies 2224 m north of the centre.
	k := trackSize / (2 * 1.1 * 2224.0)
	lastY := int(trackSize/2 - 2224*k)
	red, blue, bg := color.RGBA{0xd9, 0x30, 0x25, 0xff}, color.RGBA{0x1f, 0x5f, 0xbf, 0xff}, color.RGBA{0xf4, 0xf6, 0xf9, 0xff}
	for _, c := range []struct {
		name string
		x, y int
		want color.RGBA
	}{
		{"the site", trackSize / 2, trackSize / 2, red},
		{"the trail halfway", trackSize / 2, (trackSize/2 + lastY) / 2, blue},
		{"the last point", trackSize / 2, lastY, blue},
		{"south of the site, nothing", trackSize / 2, trackSize - 20, bg},
	} {
		if got := rgba(c.x, c.y); !nearColour(got, c.want) {
			t.Errorf("%s at (%d, %d): got %v, want about %v", c.name, c.x, c.y, got, c.want)
		}
	}
	if p := trackPicture(&Track{}); p.err == nil {
		t.Error("a track without points: got a picture, want an error in its place")
	}
}

// TestWritePDFTrack: the report states the track's farthest distance
// against the warning distance and embeds its drawing.
func TestWritePDFTrack(t *testing.T) {
	mustTools(t, "ffmpeg", "pdftotext", "pdfimages")
	dir := t.TempDir()
	d := testData(t, dir)
	d.Tracks = []Track{testTrack()}
	var buf bytes.Buffer
	if err := WritePDF(&buf, d); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "report.pdf")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	text := strings.Join(strings.Fields(mustRun(t, "pdftotext", "-layout", path, "-")), "")
	for _, w := range []string{"拍摄位置轨迹", "lv_test", "2224m>1000m", "3个位置点"} {
		if !strings.Contains(text, w) {
			t.Errorf("pdftotext lacks %q", w)
		}
	}
	found := false
	for _, im := range pdfImages(t, path) {
		if im.w == trackSize && im.h == trackSize {
			found = true
		}
	}
	if !found {
		t.Errorf("pdfimages: got %v, want a %dx%d track drawing", pdfImages(t, path), trackSize, trackSize)
	}
}
