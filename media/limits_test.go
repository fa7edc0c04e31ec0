package media

import (
	"bytes"
	"compress/zlib"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"image"
	"image/jpeg"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"siteinspect/internal/pdftest"
)

// TestVideoBombsRefused: a file of a few KB whose header claims ten hours of
// 1080p at 30 fps, or a frame larger than 8K, is refused by the probe with a
// stable code, before ffmpeg is asked to decode, scale or transcode it (the
// proxy of the first would duplicate its two frames into 1.08 million).
func TestVideoBombsRefused(t *testing.T) {
	mustTools(t, "ffmpeg", "ffprobe")
	dir := t.TempDir()
	tests := []struct {
		name, code string
		args       []string
	}{
		{"ten hours claimed", CodeVideoTooLong, []string{"-f", "lavfi", "-i", "color=s=1920x1080:r=30",
			"-frames:v", "2", "-vf", "setpts=N*36000/TB", "-c:v", "mjpeg", "-f", "matroska"}},
		// 39 frames 1/30 s apart, a fortieth ten hours on: the average rate
		// is tiny, but ffprobe's r_frame_rate (30) is the rate a proxy
		// would duplicate frames to.
		{"ten hours at a tiny average rate", CodeVideoTooLong, []string{"-f", "lavfi", "-i", "color=s=1920x1080:r=30",
			"-frames:v", "40", "-vf", "setpts='if(eq(N,39),36000/TB,N/(30*TB))'", "-fps_mode", "passthrough", "-c:v", "mjpeg", "-f", "mov"}},
		{"frame past 8K", CodeVideoTooLarge, []string{"-f", "lavfi", "-i", "color=s=8320x4400:r=1",
			"-frames:v", "1", "-c:v", "mjpeg", "-f", "matroska"}},
	}
	r := Runner{Timeout: time.Minute}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := mustFFmpeg(t, filepath.Join(dir, string(rune('a'+i))+"."+map[string]string{"matroska": "mkv", "mov": "mov"}[tc.args[len(tc.args)-1]]), tc.args...)
			info, err := r.ProbeVideo(context.Background(), in)
			var un *Unprocessable
			if !errors.As(err, &un) {
				t.Fatalf("ProbeVideo accepted it (%+v, err %v); want *Unprocessable %s", info, err, tc.code)
			}
			if !strings.HasPrefix(un.Reason, tc.code+": ") {
				t.Fatalf("reason %q, want it to start with %q", un.Reason, tc.code+": ")
			}
		})
	}
}

// writeBlackPNG writes a w×h RGB PNG of black rows through zlib, so that a
// picture of hundreds of megapixels takes under a megabyte and no memory.
func writeBlackPNG(tb testing.TB, path string, w, h int) {
	tb.Helper()
	var idat bytes.Buffer
	zw, _ := zlib.NewWriterLevel(&idat, zlib.BestCompression)
	row := make([]byte, 1+3*w)
	for y := 0; y < h; y++ {
		zw.Write(row)
	}
	zw.Close()
	var out bytes.Buffer
	out.WriteString("\x89PNG\r\n\x1a\n")
	chunk := func(typ string, data []byte) {
		binary.Write(&out, binary.BigEndian, uint32(len(data)))
		out.WriteString(typ)
		out.Write(data)
		binary.Write(&out, binary.BigEndian, crc32.ChecksumIEEE(append([]byte(typ), data...)))
	}
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr, uint32(w))
	binary.BigEndian.PutUint32(ihdr[4:], uint32(h))
	ihdr[8], ihdr[9] = 8, 2
	chunk("IHDR", ihdr)
	chunk("IDAT", idat.Bytes())
	chunk("IEND", nil)
	if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
		tb.Fatal(err)
	}
}

// writeClaimingJPEG writes a small JPEG whose frame header (SOF0) claims w×h.
func writeClaimingJPEG(tb testing.TB, path string, w, h int) {
	tb.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, image.NewGray(image.Rect(0, 0, 16, 16)), nil); err != nil {
		tb.Fatal(err)
	}
	data := b.Bytes()
	i := bytes.Index(data, []byte{0xFF, 0xC0})
	if i < 0 {
		tb.Fatal("no SOF0 in the JPEG")
	}
	binary.BigEndian.PutUint16(data[i+5:], uint16(h))
	binary.BigEndian.PutUint16(data[i+7:], uint16(w))
	if err := os.WriteFile(path, data, 0o644); err != nil {
		tb.Fatal(err)
	}
}

// TestImageBombsRefused: a PNG of 16000×16000 black pixels (under 1 MB)
// took ffmpeg a minute of both cores and 900 MB to preview; a JPEG of a
// few hundred bytes claiming 60000×60000 failed only inside ffmpeg. Both are
// refused from exiftool's reading of the header, with a stable code.
func TestImageBombsRefused(t *testing.T) {
	mustTools(t, "ffmpeg", "exiftool")
	dir := t.TempDir()
	png := filepath.Join(dir, "big.png")
	writeBlackPNG(t, png, 16000, 16000)
	jpg := filepath.Join(dir, "claims.jpg")
	writeClaimingJPEG(t, jpg, 60000, 60000)
	r := Runner{Timeout: time.Minute}
	for _, in := range []string{png, jpg} {
		t.Run(filepath.Base(in), func(t *testing.T) {
			info, err := r.ProbeImage(context.Background(), in)
			var un *Unprocessable
			if !errors.As(err, &un) || !strings.HasPrefix(un.Reason, "image_too_large: ") {
				t.Fatalf("ProbeImage = %+v, %v; want *Unprocessable image_too_large", info, err)
			}
			start := time.Now()
			err = r.ImagePreview(context.Background(), in, filepath.Join(dir, "p.jpg"), filepath.Join(dir, "t.jpg"))
			if !errors.As(err, &un) || !strings.HasPrefix(un.Reason, "image_too_large: ") {
				t.Fatalf("ImagePreview = %v; want *Unprocessable image_too_large", err)
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("the refusal took %v", d)
			}
		})
	}
}

// makeSlowPDF writes a PDF of n pages that each draw the same w×w image of
// zero bytes (one small Flate stream), so that each page costs poppler some
// time to render while the file stays a few KB.
func makeSlowPDF(tb testing.TB, n, w int) []byte {
	tb.Helper()
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	zw.Write(make([]byte, w*w*3))
	zw.Close()
	content := "q 612 0 0 792 0 0 cm /Im1 Do Q"
	kids := make([]string, n)
	objs := []string{"<< /Type /Catalog /Pages 2 0 R >>", "",
		fmt.Sprintf("<< /Length %d >>\nstream\n%s\nendstream", len(content), content),
		fmt.Sprintf("<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceRGB "+
			"/BitsPerComponent 8 /Filter /FlateDecode /Length %d >>\nstream\n%s\nendstream", w, w, z.Len(), z.String())}
	for i := range kids {
		objs = append(objs, "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /XObject << /Im1 4 0 R >> >> /Contents 3 0 R >>")
		kids[i] = fmt.Sprintf("%d 0 R", len(objs))
	}
	objs[1] = fmt.Sprintf("<< /Type /Pages /Kids [%s] /Count %d >>", strings.Join(kids, " "), n)
	return pdftest.PDF(objs, "")
}

// TestPDFRenderBudget: each batch of ten pages runs under the command
// timeout, but a PDF of up to 2000 pages whose every batch stays just
// under it ran for 200 timeouts; and its pages, each up to 2000×2000 px of
// PNG, all filled the work folder before being stored. RenderPDF now stops
// a document past three command timeouts (pdf_too_slow) or past
// PDFRenderBytes of pictures (pdf_too_large).
func TestPDFRenderBudget(t *testing.T) {
	mustTools(t, "pdfinfo", "pdftoppm")
	t.Run("time", func(t *testing.T) {
		in := mustWrite(t, "slow.pdf", makeSlowPDF(t, 600, 800))
		r := Runner{Timeout: 10 * time.Second}
		start := time.Now()
		err := r.RenderPDF(context.Background(), in, t.TempDir(), 600, nil)
		took := time.Since(start)
		var un *Unprocessable
		if !errors.As(err, &un) || !strings.HasPrefix(un.Reason, "pdf_too_slow: ") {
			t.Fatalf("RenderPDF = %v after %v; want *Unprocessable pdf_too_slow", err, took)
		}
		t.Logf("after %v: %s", took, un.Reason)
		if took > 45*time.Second {
			t.Errorf("refused after %v, want about 30 s (three timeouts)", took)
		}
	})
	t.Run("bytes", func(t *testing.T) {
		pages := make([]testPage, 40)
		for i := range pages {
			pages[i] = testPage{Latin: fmt.Sprintf("Page %d", i+1)}
		}
		in := mustWrite(t, "many.pdf", makePDF(pages, pdfOptions{}))
		r := Runner{PDFRenderBytes: 200 << 10}
		err := r.RenderPDF(context.Background(), in, t.TempDir(), 40, nil)
		var un *Unprocessable
		if !errors.As(err, &un) || !strings.HasPrefix(un.Reason, "pdf_too_large: ") {
			t.Fatalf("RenderPDF = %v; want *Unprocessable pdf_too_large", err)
		}
	})
}

// TestVideoWorkBound: the office's bound (serve --video-work-gpx) is the
// one the probe holds a video to. Two seconds of 640×360 at 30 fps ask
// 13.8 million pixels: under the default, over a bound of 10 million.
func TestVideoWorkBound(t *testing.T) {
	mustTools(t, "ffmpeg", "ffprobe")
	in := mustFFmpeg(t, filepath.Join(t.TempDir(), "walk.mp4"), "-f", "lavfi", "-i", "testsrc2=s=640x360:r=30",
		"-t", "2", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-f", "mp4")
	if _, err := (Runner{Timeout: time.Minute}).ProbeVideo(context.Background(), in); err != nil {
		t.Fatalf("under the default bound: %v, want it accepted", err)
	}
	_, err := (Runner{Timeout: time.Minute, VideoWork: 10e6}).ProbeVideo(context.Background(), in)
	var un *Unprocessable
	if !errors.As(err, &un) || !strings.HasPrefix(un.Reason, CodeVideoTooLong+": ") {
		t.Fatalf("over a bound of 10^7 pixels: got %v, want *Unprocessable %s", err, CodeVideoTooLong)
	}
	// The reason says what the bound is in a phone's videos.
	if !strings.Contains(un.Reason, "at most 0.01×10^9: about 4.5e-05 hours of 1080p") {
		t.Errorf("reason %q, want the bound, also in hours of 1080p", un.Reason)
	}
}
