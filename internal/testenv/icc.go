package testenv

import (
	"encoding/binary"
	"math"
)

// DisplayP3Profile returns an ICC v2 display profile with Display P3's
// primaries (D50-adapted) and sRGB's transfer: what iPhones and many
// Android phones tag their photos with. Its bytes are made here, tag by
// tag (ICC.1:2001-04, with ICC.1:2004-10's parametric curve).
func DisplayP3Profile() []byte {
	s15 := func(v float64) []byte {
		return binary.BigEndian.AppendUint32(nil, uint32(int32(math.Round(v*65536))))
	}
	xyz := func(x, y, z float64) []byte {
		b := append([]byte("XYZ "), 0, 0, 0, 0)
		return append(append(append(b, s15(x)...), s15(y)...), s15(z)...)
	}
	desc := func(text string) []byte {
		b := append([]byte("desc"), 0, 0, 0, 0)
		b = binary.BigEndian.AppendUint32(b, uint32(len(text)+1))
		b = append(append(b, text...), 0)
		b = append(b, make([]byte, 4+4+2+1+67)...) // no Unicode, no ScriptCode
		return b
	}
	// sRGB's transfer, as Display P3 has it: a parametricCurveType of
	// function 3 (Y = (aX+b)^g for X ≥ d, else cX).
	curve := append([]byte("para"), 0, 0, 0, 0, 0, 3, 0, 0)
	for _, v := range []float64{2.4, 1 / 1.055, 0.055 / 1.055, 1 / 12.92, 0.04045} {
		curve = append(curve, s15(v)...)
	}
	tags := []struct {
		sig  string
		data []byte
	}{
		{"desc", desc("Display P3 (siteinspect test)")},
		{"wtpt", xyz(0.9642, 1, 0.8249)},
		{"rXYZ", xyz(0.5151, 0.2412, -0.0011)},
		{"gXYZ", xyz(0.2920, 0.6922, 0.0419)},
		{"bXYZ", xyz(0.1571, 0.0666, 0.7841)},
		{"rTRC", curve}, {"gTRC", curve}, {"bTRC", curve},
	}
	table := binary.BigEndian.AppendUint32(nil, uint32(len(tags)))
	var body []byte
	at := 128 + 4 + 12*len(tags)
	for _, tg := range tags {
		for len(body)%4 != 0 {
			body = append(body, 0)
		}
		table = append(table, tg.sig...)
		table = binary.BigEndian.AppendUint32(table, uint32(at+len(body)))
		table = binary.BigEndian.AppendUint32(table, uint32(len(tg.data)))
		body = append(body, tg.data...)
	}
	h := make([]byte, 128)
	binary.BigEndian.PutUint32(h[0:], uint32(128+len(table)+len(body)))
	binary.BigEndian.PutUint32(h[8:], 0x02100000)
	copy(h[12:], "mntrRGB XYZ ")
	for i, v := range []uint16{2026, 12, 7, 0, 0, 0} {
		binary.BigEndian.PutUint16(h[24+2*i:], v)
	}
	copy(h[36:], "acsp")
	copy(h[68:], xyz(0.9642, 1, 0.8249)[8:])
	return append(append(h, table...), body...)
}
