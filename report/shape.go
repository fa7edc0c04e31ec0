package report

import (
	"image"
	"image/color"
	"math"
	"strconv"
	"strings"
)

// defaultColor is the colour of a shape that names none.
var defaultColor = color.RGBA{0xff, 0x00, 0x00, 0xff}

// parseColor reads #rrggbb or #rgb; anything else is the default red.
func parseColor(s string) color.RGBA {
	s = strings.TrimPrefix(strings.TrimSpace(s), "#")
	if len(s) == 3 {
		s = string([]byte{s[0], s[0], s[1], s[1], s[2], s[2]})
	}
	if len(s) != 6 {
		return defaultColor
	}
	v, err := strconv.ParseUint(s, 16, 32)
	if err != nil {
		return defaultColor
	}
	return color.RGBA{uint8(v >> 16), uint8(v >> 8), uint8(v), 0xff}
}

// strokeWidth is the pen width for an image: 3 px up to 1280 px wide, a little
// more on bigger pictures, so a mark reads the same when the page is printed.
func strokeWidth(img *image.RGBA) float64 {
	return math.Max(3, math.Min(8, math.Round(float64(img.Bounds().Dx())/320)))
}

// drawShape draws a shape with pts in pixels of img. An unknown type or too few
// points draws what it can: nothing is better than a mark in the wrong place.
func drawShape(img *image.RGBA, typ string, pts [][2]float64, c color.RGBA) {
	if len(pts) == 0 {
		return
	}
	p := pen{img: img, c: c, w: strokeWidth(img)}
	first, last := pts[0], pts[len(pts)-1]
	switch typ {
	case "rect":
		x0, y0, x1, y1 := first[0], first[1], last[0], last[1]
		p.polyline([][2]float64{{x0, y0}, {x1, y0}, {x1, y1}, {x0, y1}, {x0, y0}})
	case "ellipse":
		cx, cy := (first[0]+last[0])/2, (first[1]+last[1])/2
		rx, ry := math.Abs(last[0]-first[0])/2, math.Abs(last[1]-first[1])/2
		n := max(64, int((rx+ry)*math.Pi/3))
		ring := make([][2]float64, n+1)
		for i := range ring {
			a := 2 * math.Pi * float64(i) / float64(n)
			ring[i] = [2]float64{cx + rx*math.Cos(a), cy + ry*math.Sin(a)}
		}
		p.polyline(ring)
	case "arrow":
		p.arrow(first, last)
	case "line":
		p.polyline([][2]float64{first, last})
	case "freehand":
		p.polyline(pts)
	case "point":
		r := 5 * p.w
		ring := make([][2]float64, 65)
		for i := range ring {
			a := 2 * math.Pi * float64(i) / 64
			ring[i] = [2]float64{first[0] + r*math.Cos(a), first[1] + r*math.Sin(a)}
		}
		p.polyline(ring)
		p.disc(first[0], first[1], p.w)
	}
}

// pen draws solid strokes of width w by stamping discs along the path.
type pen struct {
	img *image.RGBA
	c   color.RGBA
	w   float64
}

func (p pen) polyline(pts [][2]float64) {
	for i := 1; i < len(pts); i++ {
		p.segment(pts[i-1], pts[i])
	}
	if len(pts) == 1 {
		p.disc(pts[0][0], pts[0][1], p.w/2)
	}
}

func (p pen) segment(a, b [2]float64) {
	dx, dy := b[0]-a[0], b[1]-a[1]
	steps := max(1, int(math.Hypot(dx, dy)*2)) // every half pixel
	for i := 0; i <= steps; i++ {
		t := float64(i) / float64(steps)
		p.disc(a[0]+t*dx, a[1]+t*dy, p.w/2)
	}
}

// arrow draws the shaft from tail to head and a filled head at head.
func (p pen) arrow(tail, head [2]float64) {
	dx, dy := head[0]-tail[0], head[1]-tail[1]
	l := math.Hypot(dx, dy)
	if l < 1 {
		p.disc(head[0], head[1], p.w)
		return
	}
	ux, uy := dx/l, dy/l
	hl := math.Min(l, math.Max(5*p.w, 0.2*l)) // head length
	hw := hl * 0.55                           // half the head's width
	base := [2]float64{head[0] - ux*hl, head[1] - uy*hl}
	p.segment(tail, [2]float64{base[0] + ux*p.w, base[1] + uy*p.w})
	p.triangle(head,
		[2]float64{base[0] - uy*hw, base[1] + ux*hw},
		[2]float64{base[0] + uy*hw, base[1] - ux*hw})
}

// disc fills a circle of radius r at x, y.
func (p pen) disc(x, y, r float64) {
	b := p.img.Bounds()
	for py := max(b.Min.Y, int(y-r)); py <= min(b.Max.Y-1, int(y+r)); py++ {
		for px := max(b.Min.X, int(x-r)); px <= min(b.Max.X-1, int(x+r)); px++ {
			if ddx, ddy := float64(px)+0.5-x, float64(py)+0.5-y; ddx*ddx+ddy*ddy <= r*r {
				p.img.SetRGBA(px, py, p.c)
			}
		}
	}
}

// triangle fills the triangle abc.
func (p pen) triangle(a, b, c [2]float64) {
	cross := func(o, u, v [2]float64) float64 {
		return (u[0]-o[0])*(v[1]-o[1]) - (u[1]-o[1])*(v[0]-o[0])
	}
	bounds := p.img.Bounds()
	x0 := max(bounds.Min.X, int(math.Min(a[0], math.Min(b[0], c[0]))))
	x1 := min(bounds.Max.X-1, int(math.Max(a[0], math.Max(b[0], c[0]))))
	y0 := max(bounds.Min.Y, int(math.Min(a[1], math.Min(b[1], c[1]))))
	y1 := min(bounds.Max.Y-1, int(math.Max(a[1], math.Max(b[1], c[1]))))
	for y := y0; y <= y1; y++ {
		for x := x0; x <= x1; x++ {
			q := [2]float64{float64(x) + 0.5, float64(y) + 0.5}
			d1, d2, d3 := cross(a, b, q), cross(b, c, q), cross(c, a, q)
			if (d1 >= 0 && d2 >= 0 && d3 >= 0) || (d1 <= 0 && d2 <= 0 && d3 <= 0) {
				p.img.SetRGBA(x, y, p.c)
			}
		}
	}
}
