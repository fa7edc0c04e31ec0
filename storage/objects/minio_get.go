package objects

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
)

// OpenRange implements RangeOpener with one GET, ranged as asked; the
// size comes from its Content-Range or Content-Length. On plain HTTP the
// GET has a connection of its own, so that a relay can splice its body
// (Splicer). A range MinIO cannot satisfy (past the end) opens the object
// at its end instead.
func (m *MinIO) OpenRange(ctx context.Context, key string, r Range) (Object, error) {
	return m.openRange(ctx, key, r, true)
}

// openRange is OpenRange; spliceable asks for the connection of its own
// (rawGet), which is only worth it for a relay: Open (reports, bundles,
// joins of many parts) keeps minio-go's pooled connections.
func (m *MinIO) openRange(ctx context.Context, key string, r Range, spliceable bool) (Object, error) {
	var opts minio.GetObjectOptions
	switch {
	case r.Suffix > 0:
		opts.SetRange(0, -r.Suffix)
	case r.Length > 0:
		opts.SetRange(r.Start, r.Start+r.Length-1)
	case r.Start > 0:
		opts.SetRange(r.Start, 0)
	}
	var body io.ReadCloser
	var st minio.ObjectInfo
	var h http.Header
	var err error
	ok := false
	if spliceable {
		var rb *rawBody
		if rb, st, h, ok, err = m.rawGet(ctx, key, opts.Header().Get("Range")); ok {
			body = rb
		}
	}
	if !ok && err == nil {
		body, st, h, err = m.core.GetObject(ctx, m.bucket, key, opts)
	}
	if err != nil {
		if resp := minio.ToErrorResponse(err); resp.Code == "InvalidRange" || resp.StatusCode == http.StatusRequestedRangeNotSatisfiable {
			info, err := m.Stat(ctx, key)
			if err != nil {
				return nil, err
			}
			return &minioObject{m: m, ctx: ctx, key: key, info: info, off: info.Size}, nil
		}
		return nil, translate(err, "get object "+key)
	}
	o := &minioObject{m: m, ctx: ctx, key: key, info: ObjectInfo{Size: st.Size, ModTime: st.LastModified}, body: body, bodyEnd: st.Size}
	if cr := h.Get("Content-Range"); cr != "" {
		first, last, total, ok := parseContentRange(cr)
		if !ok {
			body.Close()
			return nil, fmt.Errorf("get object %s: unexpected Content-Range %q", key, cr)
		}
		o.info.Size, o.off, o.bodyOff, o.bodyEnd = total, first, first, last+1
	}
	return o, nil
}

// parseContentRange reads "bytes first-last/total".
func parseContentRange(s string) (first, last, total int64, ok bool) {
	s, found := strings.CutPrefix(s, "bytes ")
	rng, tot, found2 := strings.Cut(s, "/")
	a, b, found3 := strings.Cut(rng, "-")
	if !found || !found2 || !found3 {
		return 0, 0, 0, false
	}
	var err1, err2, err3 error
	first, err1 = strconv.ParseInt(a, 10, 64)
	last, err2 = strconv.ParseInt(b, 10, 64)
	total, err3 = strconv.ParseInt(tot, 10, 64)
	return first, last, total, err1 == nil && err2 == nil && err3 == nil && first <= last && last < total
}

// PresignGet implements Presigner with a presigned GET URL (SigV4 query
// signature) that answers with the headers h.
func (m *MinIO) PresignGet(ctx context.Context, key string, ttl time.Duration, h ResponseHeaders) (*url.URL, error) {
	params := url.Values{}
	for k, v := range map[string]string{"response-content-type": h.ContentType,
		"response-content-disposition": h.ContentDisposition, "response-cache-control": h.CacheControl} {
		if v != "" {
			params.Set(k, v)
		}
	}
	u, err := m.core.Client.PresignedGetObject(ctx, m.bucket, key, ttl, params)
	if err != nil {
		return nil, translate(err, "presign "+key)
	}
	return u, nil
}
