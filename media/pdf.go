package media

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// PDF limits and sizes.
const (
	// MaxPDFPages is the most pages ProbePDF accepts; more is *Unprocessable.
	MaxPDFPages = 2000
	pageMaxSide = 2000 // review PNG, long side px
	pageThumb   = 300  // thumbnail PNG, long side px
	renderChunk = 10   // pages per pdftoppm run: progress granularity vs re-parsing cost
)

// ProbePDF checks that path is a complete, readable PDF and counts its pages. An
// encrypted PDF that needs a password, a truncated one (no %%EOF in its last KiB), one
// poppler cannot parse, or one that exhausts the memory or time limits is
// *Unprocessable with a reason a user can act on. A PDF that is encrypted only
// against editing (empty user password) is fine: poppler opens it.
func (r Runner) ProbePDF(ctx context.Context, path string) (*Info, error) {
	if err := checkPDFEnvelope(path); err != nil {
		return nil, err
	}
	out, err := r.run(ctx, "pdfinfo", arg(path))
	if err != nil {
		return nil, pdfFailure(err, "read")
	}
	info := &Info{Container: "pdf"}
	for _, line := range strings.Split(string(out), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok && k == "Pages" {
			info.Pages, _ = strconv.Atoi(strings.TrimSpace(v))
		}
	}
	switch {
	case info.Pages <= 0:
		return nil, unprocessable("the PDF has no pages")
	case info.Pages > MaxPDFPages:
		return nil, unprocessable("the PDF has %d pages; at most %d are accepted", info.Pages, MaxPDFPages)
	}
	return info, nil
}

// Codes at the start of an *Unprocessable reason when a PDF exceeds the
// render limits (docs/ERRORS.md).
const (
	CodePDFTooSlow  = "pdf_too_slow"
	CodePDFTooLarge = "pdf_too_large"
)

// checkPDFEnvelope looks for the %PDF- header in the first KiB and %%EOF in the last
// KiB, which catches uploads cut short before poppler tries to repair them.
func checkPDFEnvelope(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("probe pdf: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("probe pdf: %w", err)
	}
	head := make([]byte, min(st.Size(), 1024))
	if _, err := io.ReadFull(f, head); err != nil {
		return fmt.Errorf("probe pdf: %w", err)
	}
	if !bytes.Contains(head, []byte("%PDF-")) {
		return unprocessable("the file is not a PDF")
	}
	tail := make([]byte, min(st.Size(), 1024))
	if _, err := f.ReadAt(tail, st.Size()-int64(len(tail))); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("probe pdf: %w", err)
	}
	if !bytes.Contains(tail, []byte("%%EOF")) {
		return unprocessable("the PDF is incomplete (it does not end with %%%%EOF); the upload may have been cut short")
	}
	return nil
}

// pdfFailure turns a failed poppler command into the reason a user sees. Only the
// caller's cancellation stays a plain error: everything else about a PDF is permanent.
func pdfFailure(err error, doing string) error {
	var ce *cmdError
	if !errors.As(err, &ce) {
		return err
	}
	stderr := ce.Stderr
	switch {
	case isTimeout(err):
		return unprocessable("%s: the PDF took too long to %s (%v); it may be built to exhaust the server", CodePDFTooSlow, doing, ce.Err)
	case strings.Contains(stderr, "Incorrect password"):
		return unprocessable("the PDF is password-protected; upload a copy without a password")
	case ce.Signaled || strings.Contains(stderr, "bad_alloc") || strings.Contains(stderr, "Out of memory"):
		return unprocessable("the PDF needs more memory or time than allowed to %s; it may be a decompression bomb", doing)
	}
	detail := firstErrorLine(stderr)
	if detail == "" {
		detail = ce.Err.Error()
	}
	return unprocessable("the PDF is damaged or malformed (%s)", detail)
}

// firstErrorLine picks the most telling line of poppler's stderr.
func firstErrorLine(stderr string) string {
	for _, l := range strings.Split(stderr, "\n") {
		if l = strings.TrimSpace(l); strings.Contains(l, "Error") {
			return truncate(l, 160)
		}
	}
	return truncate(lastLines(stderr, 1), 160)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}

// RenderPDF writes dir/N.png (long side 2000 px) and dir/thumbs/N.png (300 px) for
// pages 1..pages, calling progress with the number of pages done after each batch of
// ten. pdftoppm (under the Runner's limits) streams each batch as PPM through a pipe;
// Go writes both PNGs from it in one pass while pdftoppm renders the next page, so
// nothing large touches the disk and both cores work. A batch that fails makes the
// PDF *Unprocessable, as in ProbePDF. So does a document that takes more than three
// command timeouts in all (pdf_too_slow) or whose pictures pass PDFRenderBytes
// (pdf_too_large): each batch has a timeout of its own, and 200 batches that each
// stay under it would otherwise hold the queue for days.
func (r Runner) RenderPDF(ctx context.Context, in, dir string, pages int, progress func(done int)) error {
	if pages <= 0 {
		return fmt.Errorf("render pdf: pages = %d", pages)
	}
	thumbs := filepath.Join(dir, "thumbs")
	if err := os.MkdirAll(thumbs, 0o755); err != nil {
		return fmt.Errorf("render pdf: %w", err)
	}
	budget := pdfBudgetTimeouts * r.timeout()
	dctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	written := &pdfBytes{max: r.pdfRenderBytes()}
	for first := 1; first <= pages; first += renderChunk {
		last := min(first+renderChunk-1, pages)
		if err := r.renderBatch(dctx, in, dir, thumbs, first, last, written); err != nil {
			if dctx.Err() != nil && ctx.Err() == nil {
				return unprocessable("%s: the PDF took more than %v to render (%d of %d pages done); it may be built to exhaust the server",
					CodePDFTooSlow, budget, first-1, pages)
			}
			return err
		}
		if progress != nil {
			progress(last)
		}
	}
	return nil
}

// pdfBytes counts the bytes of pictures one document's pages made.
type pdfBytes struct{ n, max int64 }

// add counts the files at paths and refuses the document once past max.
func (b *pdfBytes) add(paths ...string) error {
	for _, p := range paths {
		if st, err := os.Stat(p); err == nil {
			b.n += st.Size()
		}
	}
	if b.n > b.max {
		return unprocessable("%s: the PDF's pages make more than %d MiB of pictures; split it or reduce its pages", CodePDFTooLarge, b.max>>20)
	}
	return nil
}

// renderBatch renders pages first..last. The encoder cancels pdftoppm if it fails,
// and pdftoppm's failure reaches the encoder through the pipe.
func (r Runner) renderBatch(ctx context.Context, in, dir, thumbs string, first, last int, written *pdfBytes) error {
	bctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// An OS pipe handed to pdftoppm as its stdout: no copying goroutine in between.
	pr, pw, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("render pdf: %w", err)
	}
	defer pr.Close()
	encoded := make(chan error, 1)
	go func() {
		err := encodePages(bufio.NewReaderSize(pr, 1<<20), first, last, dir, thumbs, written)
		if err != nil {
			cancel() // pdftoppm may be blocked writing to a pipe nobody reads
		}
		encoded <- err
	}()
	cmdErr := r.stream(bctx, pw, r.limits(), "pdftoppm", "-scale-to", strconv.Itoa(pageMaxSide),
		"-f", strconv.Itoa(first), "-l", strconv.Itoa(last), arg(in))
	encoderFailed := bctx.Err() != nil && ctx.Err() == nil // it cancelled pdftoppm
	pw.Close()                                             // the last writer gone: the encoder sees EOF
	encErr := <-encoded
	if cmdErr != nil {
		if encoderFailed && encErr != nil {
			return encErr // the encoder failed first and stopped pdftoppm
		}
		return pdfFailure(cmdErr, "render")
	}
	return encErr
}

// encodePages reads the concatenated PPMs of pages first..last and writes each as
// dir/N.png and thumbs/N.png.
func encodePages(br *bufio.Reader, first, last int, dir, thumbs string, written *pdfBytes) error {
	for n := first; n <= last; n++ {
		if _, err := br.Peek(1); err == io.EOF {
			return unprocessable("page %d of the PDF could not be rendered", n)
		}
		name := strconv.Itoa(n) + ".png"
		review, thumb := filepath.Join(dir, name), filepath.Join(thumbs, name)
		if err := ppmToPNG(br, review, thumb, pageThumb); err != nil {
			return fmt.Errorf("render pdf page %d: %w", n, err)
		}
		if err := written.add(review, thumb); err != nil {
			return err
		}
	}
	return nil
}

// PDFText extracts the text of each page (in reading order, UTF-8) for search,
// returning exactly pages strings; a scanned page without a text layer gives "".
func (r Runner) PDFText(ctx context.Context, in string, pages int) ([]string, error) {
	out, err := r.run(ctx, "pdftotext", "-enc", "UTF-8", "-eol", "unix", "-l", strconv.Itoa(pages), arg(in), "-")
	if err != nil {
		return nil, pdfFailure(err, "extract text from")
	}
	// pdftotext ends every page with a form feed.
	parts := strings.Split(strings.ToValidUTF8(string(out), "\uFFFD"), "\f")
	texts := make([]string, pages)
	for i := range texts {
		if i < len(parts) {
			texts[i] = strings.TrimSpace(parts[i])
		}
	}
	return texts, nil
}
