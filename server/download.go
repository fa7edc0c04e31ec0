package server

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"siteinspect/storage/objects"
)

// downloads serves stored files, originals and derived alike, after the
// handler has authorised (and audited) the request: relayed from the
// object store, or, with direct downloads on, as a redirect to a
// short-lived presigned URL of the store.
type downloads struct {
	objects objects.ObjectStore
	// presign is set when downloads redirect to the store; ttl is how
	// long each URL works.
	presign objects.Presigner
	ttl     time.Duration
	// bufs holds the copy buffers (*[]byte of copyBufSize), so memory
	// stays at one buffer per download in flight.
	bufs sync.Pool
}

// newDownloads relays every download when directTTL is 0 or the store
// cannot presign (the local directory); else it redirects, with URLs valid
// for directTTL.
func newDownloads(store objects.ObjectStore, directTTL time.Duration, log *slog.Logger) *downloads {
	d := &downloads{objects: store}
	d.bufs.New = func() any { b := make([]byte, copyBufSize); return &b }
	if directTTL <= 0 {
		return d
	}
	p, ok := store.(objects.Presigner)
	if !ok {
		if log != nil {
			log.Warn("direct downloads need an S3 store; relaying downloads instead")
		}
		return d
	}
	d.presign, d.ttl = p, directTTL
	return d
}

// serve answers with the object key: a redirect to the store when direct
// downloads are on, else the bytes. Headers the handler has set (Content-
// Disposition, …) go with the bytes; the redirect's URL carries the
// Content-Type, Content-Disposition and Cache-Control. etag names the
// bytes; fixedETag, when not empty, is that name known before the object
// is opened (an original's SHA-256), which lets a revalidation be answered
// without a request to the store.
func (d *downloads) serve(c echo.Context, key, contentType string, etag func(objects.ObjectInfo) string, fixedETag string) error {
	h := c.Response().Header()
	if d.presign != nil {
		u, err := d.presign.PresignGet(c.Request().Context(), key, d.ttl, objects.ResponseHeaders{
			ContentType: contentType, ContentDisposition: h.Get("Content-Disposition"), CacheControl: evidenceCacheControl})
		if err != nil {
			return err
		}
		// The URL expires: no cache may keep the redirect.
		h.Set("Cache-Control", "no-store")
		return c.Redirect(http.StatusTemporaryRedirect, u.String())
	}
	h.Set(echo.HeaderContentType, contentType)
	h.Set("Cache-Control", evidenceCacheControl)
	if fixedETag != "" {
		h.Set("ETag", `"`+fixedETag+`"`)
		if etagListHas(c.Request().Header.Get("If-None-Match"), fixedETag) {
			return c.NoContent(http.StatusNotModified)
		}
	}
	obj, err := objects.OpenRange(c.Request().Context(), d.objects, key, requestedRange(c.Request().Header.Get("Range")))
	if err != nil {
		return err
	}
	defer obj.Close()
	if fixedETag == "" {
		h.Set("ETag", `"`+etag(obj.Info())+`"`)
	}
	if preconditionFailed(c.Request(), h.Get("ETag"), obj.Info().ModTime) {
		// http.ServeContent would answer with no body, labelled as the
		// file's type.
		dropFileHeaders(h)
		return newError(http.StatusPreconditionFailed, "If-Match or If-Unmodified-Since names another version of this file")
	}
	if rng := c.Request().Header.Get("Range"); rng != "" && ifRangeHolds(c.Request(), h.Get("ETag"), obj.Info().ModTime) && !satisfiable(rng, obj.Info().Size) {
		// http.ServeContent would answer in plain text (and a suffix of
		// 0 bytes with a 206 whose Content-Range runs backwards).
		dropFileHeaders(h)
		h.Set("Content-Range", fmt.Sprintf("bytes */%d", obj.Info().Size))
		return newError(http.StatusRequestedRangeNotSatisfiable, "the Range header asks for no byte of this file ("+strconv.FormatInt(obj.Info().Size, 10)+" bytes) or cannot be read; ask for bytes=first-last within it")
	}
	// http.ServeContent answers Range (206, multi-range, 416), If-Range and
	// the other conditions; it copies through ReadFrom, which bufferedWriter
	// turns into copies of copyBufSize.
	http.ServeContent(bufferedWriter{c.Response(), &d.bufs}, c.Request(), "", obj.Info().ModTime, obj)
	return nil
}

// dropFileHeaders takes back the headers set for the file from a response
// that will carry an error instead.
func dropFileHeaders(h http.Header) {
	for _, k := range []string{"ETag", echo.HeaderContentType, "Cache-Control", "Content-Disposition"} {
		h.Del(k)
	}
}

// satisfiable says whether a Range header names, in a form http.ServeContent
// reads, at least one byte of a file of size bytes (RFC 9110 §14.1.2: a
// suffix of zero bytes names none).
func satisfiable(header string, size int64) bool {
	specs, ok := strings.CutPrefix(header, "bytes=")
	if !ok {
		return false
	}
	some := false
	for _, spec := range strings.Split(specs, ",") {
		spec = strings.TrimSpace(spec)
		if spec == "" {
			continue
		}
		first, last, ok := strings.Cut(spec, "-")
		if !ok {
			return false
		}
		first, last = strings.TrimSpace(first), strings.TrimSpace(last)
		if first == "" {
			n, err := strconv.ParseInt(last, 10, 64)
			if err != nil || n < 0 || last[0] == '-' {
				return false
			}
			some = some || (n > 0 && size > 0)
			continue
		}
		start, err := strconv.ParseInt(first, 10, 64)
		if err != nil || start < 0 {
			return false
		}
		if last != "" {
			end, err := strconv.ParseInt(last, 10, 64)
			if err != nil || end < start {
				return false
			}
		}
		some = some || start < size
	}
	return some
}

// etagListHas says whether an If-None-Match value names the strong ETag
// tag (or is "*"); a weak match is a match for If-None-Match.
func etagListHas(list, tag string) bool {
	for _, t := range strings.Split(list, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == "*" || t == `"`+tag+`"` {
			return true
		}
	}
	return false
}

// preconditionFailed says whether If-Match (strong comparison with etag,
// quoted) or, without it, If-Unmodified-Since refuses the file stored at
// modtime, as RFC 9110 §13.2.2 (and http.ServeContent) evaluate them.
func preconditionFailed(r *http.Request, etag string, modtime time.Time) bool {
	if im := r.Header.Get("If-Match"); im != "" {
		for _, t := range strings.Split(im, ",") {
			if t = strings.TrimSpace(t); t == "*" || t == etag {
				return false
			}
		}
		return true
	}
	ius, err := http.ParseTime(r.Header.Get("If-Unmodified-Since"))
	return err == nil && !modtime.IsZero() && modtime.Truncate(time.Second).After(ius)
}

// ifRangeHolds says whether the Range header applies: there is no
// If-Range, or it names this file by etag (strong comparison, quoted) or
// by its time to the second, as http.ServeContent decides. When it does
// not hold the whole file is sent, and no Range is refused.
func ifRangeHolds(r *http.Request, etag string, modtime time.Time) bool {
	ir := strings.TrimSpace(r.Header.Get("If-Range"))
	if ir == "" {
		return true
	}
	if strings.HasPrefix(ir, `"`) || strings.HasPrefix(ir, "W/") {
		return ir == etag
	}
	t, err := http.ParseTime(ir)
	return err == nil && !modtime.IsZero() && t.Unix() == modtime.Unix()
}

// requestedRange is the range a Range header starts with, so that the
// object is opened there with one request; anything else (no header, one
// we do not parse) opens the whole object, and http.ServeContent seeks
// where it needs. Opening at the wrong place only costs a request.
func requestedRange(header string) objects.Range {
	spec, ok := strings.CutPrefix(header, "bytes=")
	if !ok {
		return objects.Range{}
	}
	spec, _, _ = strings.Cut(spec, ",")
	first, last, ok := strings.Cut(strings.TrimSpace(spec), "-")
	if !ok {
		return objects.Range{}
	}
	if first == "" {
		n, err := strconv.ParseInt(last, 10, 64)
		if err != nil || n <= 0 {
			return objects.Range{}
		}
		return objects.Range{Suffix: n}
	}
	start, err := strconv.ParseInt(first, 10, 64)
	if err != nil || start < 0 {
		return objects.Range{}
	}
	if last == "" || strings.Contains(header, ",") {
		return objects.Range{Start: start}
	}
	end, err := strconv.ParseInt(last, 10, 64)
	if err != nil || end < start {
		return objects.Range{Start: start}
	}
	return objects.Range{Start: start, Length: end - start + 1}
}

// copyBufSize is the size of each buffer of a relayed download: at a
// gigabyte a second, 32 KiB copies (io.Copy's) are 32,000 system call
// pairs a second.
const copyBufSize = 1 << 20

// copyFill is how much a read from the store gathers before the writer may
// send it on: a read from a socket returns what has arrived, often a few
// tens of KiB.
const copyFill = copyBufSize / 4

// bufferedWriter is a response whose ReadFrom copies through a pooled
// copyBufSize buffer, each write waiting for at least copyFill bytes.
// Neither side may offer its own ReadFrom or WriteTo, which would pick a
// smaller buffer. (Reading the next buffer in another goroutine while the
// last is written cost more CPU and was no faster on a loaded 2-core
// machine: docs/BENCHMARKS.md.)
type bufferedWriter struct {
	http.ResponseWriter
	bufs *sync.Pool
}

// ReadFrom implements io.ReaderFrom. When r is a range of an object that
// can splice (objects.Splicer: MinIO on plain HTTP), the bytes go from the
// store's socket to the client's without a copy through user space.
func (w bufferedWriter) ReadFrom(r io.Reader) (int64, error) {
	if lr, ok := r.(*io.LimitedReader); ok {
		if s, ok := lr.R.(objects.Splicer); ok {
			var dst io.Writer = w.ResponseWriter
			er, isEcho := w.ResponseWriter.(*echo.Response)
			if isEcho {
				dst = er.Writer // its ReadFrom (net/http's) splices
			}
			n, ok, err := s.SpliceTo(dst, lr.N)
			if ok {
				lr.N -= n
				if isEcho {
					er.Size += n
				}
				return n, err
			}
		}
	}
	bp := w.bufs.Get().(*[]byte)
	defer w.bufs.Put(bp)
	var written int64
	for {
		n, rerr := fill(r, *bp, copyFill)
		if n > 0 {
			m, err := w.ResponseWriter.Write((*bp)[:n])
			written += int64(m)
			if err == nil && m < n {
				err = io.ErrShortWrite
			}
			if err != nil {
				return written, err
			}
		}
		if rerr == io.EOF {
			return written, nil
		}
		if rerr != nil {
			return written, rerr
		}
	}
}

// fill reads into p until it holds at least min bytes, p is full, or r
// fails.
func fill(r io.Reader, p []byte, min int) (n int, err error) {
	for n < min && err == nil {
		var k int
		k, err = r.Read(p[n:])
		n += k
	}
	return n, err
}
