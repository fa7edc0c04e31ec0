package media

import (
	"bufio"
	"compress/zlib"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"strconv"
)

// ppmToPNG converts one binary PPM read from br (pdftoppm's output) into review, a PNG of the same
// size, and thumb, a PNG scaled down by area averaging to a long side of at most side
// px, in one streaming pass. It exists because libpng in pdftoppm and Go's image/png
// both spend ~100 ms on a 2000 px page, where fast zlib on unfiltered rows takes ~25 ms.
// The PPM is our renderer's output with bounded dimensions, not user data.
func ppmToPNG(br *bufio.Reader, review, thumb string, side int) error {
	w, h, err := ppmHeader(br)
	if err != nil {
		return err
	}
	tw, th := w, h
	if long := max(w, h); long > side {
		tw, th = max(1, w*side/long), max(1, h*side/long)
	}
	sums := make([]uint32, 3*tw)
	counts := make([]uint32, tw)
	col := make([]int, w) // output column of each input column
	for x := range col {
		col[x] = x * tw / w
		counts[col[x]]++
	}
	thumbRows := make([]byte, 0, th*3*tw)
	row := make([]byte, 3*w)
	err = writePNG(review, w, h, func(emit func([]byte) error) error {
		outY, rowsIn := 0, uint32(0)
		for y := 0; y < h; y++ {
			if _, err := io.ReadFull(br, row); err != nil {
				return err
			}
			if err := emit(row); err != nil {
				return err
			}
			for x, c := range col {
				px, acc := row[3*x:3*x+3:3*x+3], sums[3*c:3*c+3:3*c+3]
				acc[0] += uint32(px[0])
				acc[1] += uint32(px[1])
				acc[2] += uint32(px[2])
			}
			rowsIn++
			if y == h-1 || (y+1)*th/h != outY {
				for c := range counts {
					n := counts[c] * rowsIn
					for k := 0; k < 3; k++ {
						thumbRows = append(thumbRows, byte(sums[3*c+k]/n))
						sums[3*c+k] = 0
					}
				}
				outY, rowsIn = (y+1)*th/h, 0
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return writePNG(thumb, tw, len(thumbRows)/(3*tw), func(emit func([]byte) error) error {
		for y := 0; y < len(thumbRows); y += 3 * tw {
			if err := emit(thumbRows[y : y+3*tw]); err != nil {
				return err
			}
		}
		return nil
	})
}

// ppmHeader reads "P6 width height 255" and the single whitespace byte after it.
func ppmHeader(br *bufio.Reader) (w, h int, err error) {
	magic := make([]byte, 2)
	if _, err := io.ReadFull(br, magic); err != nil || string(magic) != "P6" {
		return 0, 0, fmt.Errorf("not a binary PPM")
	}
	var v [3]int
	for i := range v {
		if v[i], err = ppmInt(br); err != nil {
			return 0, 0, err
		}
	}
	if v[0] <= 0 || v[1] <= 0 || v[0] > 20000 || v[1] > 20000 || v[2] != 255 {
		return 0, 0, fmt.Errorf("unsupported PPM %dx%d maxval %d", v[0], v[1], v[2])
	}
	return v[0], v[1], nil
}

// ppmInt reads one header number, skipping whitespace and # comments before it.
func ppmInt(br *bufio.Reader) (int, error) {
	var digits []byte
	for {
		c, err := br.ReadByte()
		if err != nil {
			return 0, err
		}
		switch {
		case c == '#' && len(digits) == 0:
			if _, err := br.ReadString('\n'); err != nil {
				return 0, err
			}
		case c >= '0' && c <= '9':
			digits = append(digits, c)
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			if len(digits) > 0 {
				return strconv.Atoi(string(digits))
			}
		default:
			return 0, fmt.Errorf("bad PPM header byte %q", c)
		}
	}
}

// writePNG writes an 8-bit RGB PNG to path through a temporary file. rows calls emit
// once per row, top to bottom, with 3*w bytes.
func writePNG(path string, w, h int, rows func(emit func([]byte) error) error) error {
	tmp := path + ".part"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	defer os.Remove(tmp) // no-op after the rename
	bw := bufio.NewWriterSize(f, 256<<10)
	bw.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], uint32(w))
	binary.BigEndian.PutUint32(ihdr[4:], uint32(h))
	ihdr[8], ihdr[9] = 8, 2 // bit depth 8, colour type RGB; no interlace
	pngChunk(bw, "IHDR", ihdr)
	idat := &idatWriter{w: bw}
	zw, _ := zlib.NewWriterLevel(idat, zlib.BestSpeed)
	filter := []byte{0} // filter type None: fastest, and white pages compress anyway
	err = rows(func(row []byte) error {
		zw.Write(filter)
		_, err := zw.Write(row)
		return err
	})
	if err == nil {
		err = zw.Close()
	}
	if err == nil {
		idat.flush()
		pngChunk(bw, "IEND", nil)
		err = bw.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// idatWriter cuts the zlib stream into IDAT chunks of up to 256 KiB.
type idatWriter struct {
	w   *bufio.Writer
	buf []byte
}

func (d *idatWriter) Write(p []byte) (int, error) {
	d.buf = append(d.buf, p...)
	if len(d.buf) >= 256<<10 {
		d.flush()
	}
	return len(p), nil
}

func (d *idatWriter) flush() {
	if len(d.buf) > 0 {
		pngChunk(d.w, "IDAT", d.buf)
		d.buf = d.buf[:0]
	}
}

// pngChunk writes length, type, data and CRC; errors surface at the final Flush.
func pngChunk(w *bufio.Writer, typ string, data []byte) {
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(data)))
	w.Write(n[:])
	crc := crc32.NewIEEE()
	crc.Write([]byte(typ))
	crc.Write(data)
	w.WriteString(typ)
	w.Write(data)
	binary.BigEndian.PutUint32(n[:], crc.Sum32())
	w.Write(n[:])
}
