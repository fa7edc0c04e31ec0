package report

import (
	"encoding/binary"
	"image"
	"math"
	"slices"
	"sync"
)

// Phone photos are often tagged Display P3 (iPhones, many Android
// phones): their values stand for redder reds and greener greens than the
// same values in sRGB. A browser honours the tag (the photo's preview
// keeps it); a PDF's DeviceRGB picture does not, so a P3 photo embedded
// as it is prints duller than it was taken. A picture whose JPEG carries
// a Display P3 profile is therefore converted to sRGB before it is
// embedded. Other profiles are rare on phones and are embedded as they are.

// jpegICC returns the ICC profile in a JPEG's APP2 segments (ICC.1 annex
// B: "ICC_PROFILE\0", the chunk's number from 1, the number of chunks),
// or nil when it has none or its chunks do not make a whole one.
func jpegICC(b []byte) []byte {
	if len(b) < 4 || b[0] != 0xFF || b[1] != 0xD8 {
		return nil
	}
	type chunk struct {
		seq  int
		data []byte
	}
	var chunks []chunk
	total := 0
	for i := 2; i+4 <= len(b); {
		if b[i] != 0xFF {
			return nil
		}
		m := b[i+1]
		switch {
		case m == 0xFF: // fill byte
			i++
			continue
		case m == 0x01 || m >= 0xD0 && m <= 0xD8: // markers without a length
			i += 2
			continue
		case m == 0xDA || m == 0xD9: // the scan begins: no more headers
			i = len(b)
			continue
		}
		n := int(binary.BigEndian.Uint16(b[i+2:]))
		if n < 2 || i+2+n > len(b) {
			return nil
		}
		if seg := b[i+4 : i+2+n]; m == 0xE2 && len(seg) > 14 && string(seg[:12]) == "ICC_PROFILE\x00" {
			chunks = append(chunks, chunk{int(seg[12]), seg[14:]})
			total = int(seg[13])
		}
		i += 2 + n
	}
	if len(chunks) == 0 || len(chunks) != total {
		return nil
	}
	slices.SortFunc(chunks, func(x, y chunk) int { return x.seq - y.seq })
	var icc []byte
	for k, c := range chunks {
		if c.seq != k+1 {
			return nil
		}
		icc = append(icc, c.data...)
	}
	return icc
}

// displayP3Colorants are Display P3's red, green and blue in XYZ, adapted
// to D50 as an ICC profile stores them (Apple's own profile, rounded).
var displayP3Colorants = map[string][3]float64{
	"rXYZ": {0.5151, 0.2412, -0.0011},
	"gXYZ": {0.2920, 0.6922, 0.0419},
	"bXYZ": {0.1571, 0.0666, 0.7841},
}

// isDisplayP3 reports whether icc is an RGB profile whose colorants are
// Display P3's, within the rounding of profiles in use. Display P3 has
// sRGB's transfer curve, which the conversion assumes.
func isDisplayP3(icc []byte) bool {
	if len(icc) < 132 || string(icc[16:20]) != "RGB " {
		return false
	}
	n := int(binary.BigEndian.Uint32(icc[128:]))
	found := 0
	for k := 0; k < n && 132+12*(k+1) <= len(icc); k++ {
		e := icc[132+12*k:]
		want, ok := displayP3Colorants[string(e[:4])]
		if !ok {
			continue
		}
		off := int(binary.BigEndian.Uint32(e[4:]))
		if off+20 > len(icc) || string(icc[off:off+4]) != "XYZ " {
			return false
		}
		for j, w := range want {
			v := float64(int32(binary.BigEndian.Uint32(icc[off+8+4*j:]))) / 65536
			if math.Abs(v-w) > 0.002 {
				return false
			}
		}
		found++
	}
	return found == len(displayP3Colorants)
}

// p3ToSRGBMatrix takes linear Display P3 to linear sRGB (both D65).
var p3ToSRGBMatrix = [9]float32{
	1.2249401, -0.2249404, 0,
	-0.0420569, 1.0420571, 0,
	-0.0196376, -0.0786361, 1.0982735,
}

// linearSteps is the resolution of the table back from linear light: fine
// enough that the darkest 8-bit steps (1/255 is 0.0003 linear) stay apart.
const linearSteps = 1 << 14

// srgbTables are sRGB's transfer curve both ways, made once.
var srgbTables = sync.OnceValues(func() (*[256]float32, *[linearSteps + 1]uint8) {
	var toLinear [256]float32
	for i := range toLinear {
		c := float64(i) / 255
		if c <= 0.04045 {
			toLinear[i] = float32(c / 12.92)
		} else {
			toLinear[i] = float32(math.Pow((c+0.055)/1.055, 2.4))
		}
	}
	var fromLinear [linearSteps + 1]uint8
	for i := range fromLinear {
		v := float64(i) / linearSteps
		if v <= 0.0031308 {
			v *= 12.92
		} else {
			v = 1.055*math.Pow(v, 1/2.4) - 0.055
		}
		fromLinear[i] = uint8(math.Round(255 * v))
	}
	return &toLinear, &fromLinear
})

// p3ToSRGB converts img, whose values are Display P3's, to sRGB in place.
// Colours outside sRGB are clipped to its edge.
func p3ToSRGB(img *image.RGBA) {
	toLinear, fromLinear := srgbTables()
	m := &p3ToSRGBMatrix
	encode := func(v float32) uint8 {
		switch {
		case v <= 0:
			return 0
		case v >= 1:
			return 255
		}
		return fromLinear[int(v*linearSteps+0.5)]
	}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		row := img.Pix[img.PixOffset(b.Min.X, y):img.PixOffset(b.Max.X, y)]
		for i := 0; i+3 < len(row); i += 4 {
			r, g, bl := toLinear[row[i]], toLinear[row[i+1]], toLinear[row[i+2]]
			row[i] = encode(m[0]*r + m[1]*g + m[2]*bl)
			row[i+1] = encode(m[3]*r + m[4]*g + m[5]*bl)
			row[i+2] = encode(m[6]*r + m[7]*g + m[8]*bl)
		}
	}
}
