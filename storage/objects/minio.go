package objects

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"siteinspect/domain"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// MinIOConfig says how to reach an S3-compatible server.
type MinIOConfig struct {
	// Endpoint is host:port, without a scheme.
	Endpoint string
	// AccessKey and SecretKey are the credentials.
	AccessKey, SecretKey string
	// Bucket holds every object; it is created if missing.
	Bucket string
	// TLS selects https. Without it, parts are sent unsigned-payload: we hash
	// every byte ourselves already, and a second SHA-256 per chunk for the
	// streaming signature would cost a core at upload speed.
	TLS bool
	// Retention locks each original as it is written (COMPLIANCE mode, and
	// a legal hold while its case is held); nil writes originals unlocked.
	// It needs a bucket with object locking: a bucket made here has it, an
	// older one without it is used unlocked and Locking reports false
	// (docs/SECURITY.md has the migration).
	Retention RetentionFunc
}

// MinIO is the production object store, any S3-compatible server reached
// through minio-go.
type MinIO struct {
	core      minio.Core
	bucket    string
	retention RetentionFunc
	// locking says the bucket has object locking (and so versioning).
	locking bool
	// partClient sends parts spooled to files (putPartFile), on the same
	// connection pool as minio-go; nil over TLS, where parts go through
	// minio-go.
	partClient *http.Client
	// presignHook, when set by a test, makes the part URLs instead of
	// presignPart.
	presignHook func(ctx context.Context, key, uploadID string, n int) (*url.URL, error)
}

// NewMinIO connects to the server and makes sure the bucket exists.
func NewMinIO(ctx context.Context, cfg MinIOConfig) (*MinIO, error) {
	if cfg.Endpoint == "" || cfg.Bucket == "" {
		return nil, fmt.Errorf("minio: endpoint and bucket are required: %w", domain.ErrInvalid)
	}
	tr, err := minio.DefaultTransport(cfg.TLS)
	if err != nil {
		return nil, fmt.Errorf("minio transport: %w", err)
	}
	c, err := minio.New(cfg.Endpoint, &minio.Options{
		Creds:     credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure:    cfg.TLS,
		Transport: tr,
	})
	if err != nil {
		return nil, fmt.Errorf("minio client: %w", err)
	}
	ok, err := c.BucketExists(ctx, cfg.Bucket)
	if err != nil {
		return nil, fmt.Errorf("minio bucket %q: %w", cfg.Bucket, err)
	}
	if !ok {
		// Object locking can only be chosen when a bucket is made; it
		// turns versioning on for good.
		if err := c.MakeBucket(ctx, cfg.Bucket, minio.MakeBucketOptions{ObjectLocking: true}); err != nil {
			// Another replica may have made it meanwhile.
			if ok, err2 := c.BucketExists(ctx, cfg.Bucket); err2 != nil || !ok {
				return nil, fmt.Errorf("make bucket %q: %w", cfg.Bucket, err)
			}
		}
	}
	m := &MinIO{core: minio.Core{Client: c}, bucket: cfg.Bucket, retention: cfg.Retention}
	if !cfg.TLS {
		m.partClient = &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if m.locking, err = m.bucketLocking(ctx); err != nil {
		return nil, err
	}
	return m, nil
}

// Client exposes the underlying minio-go client for tests and benchmarks
// that compare against direct access.
func (m *MinIO) Client() *minio.Client { return m.core.Client }

// Bucket is the bucket this store writes to.
func (m *MinIO) Bucket() string { return m.bucket }

// translate maps minio-go's errors to our kinds.
func translate(err error, what string) error {
	if err == nil {
		return nil
	}
	resp := minio.ToErrorResponse(err)
	switch resp.Code {
	case "NoSuchKey", "NoSuchUpload", "NoSuchBucket":
		return fmt.Errorf("%s: %s: %w", what, resp.Message, domain.ErrNotFound)
	}
	if resp.StatusCode == http.StatusNotFound {
		return fmt.Errorf("%s: %w", what, domain.ErrNotFound)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// CreateMultipart implements ObjectStore.
func (m *MinIO) CreateMultipart(ctx context.Context, key, contentType string) (string, error) {
	opts := minio.PutObjectOptions{ContentType: contentType}
	if _, err := m.lockOptions(ctx, key, &opts); err != nil {
		return "", err
	}
	id, err := m.core.NewMultipartUpload(ctx, m.bucket, key, opts)
	return id, m.translateWrite(err, key, "create multipart "+key)
}

// PutPart implements ObjectStore. A part read from a regular file (the
// upload spool) is sent with sendfile through a presigned URL
// (putPartFile); any other reader through minio-go.
func (m *MinIO) PutPart(ctx context.Context, key, uploadID string, n int, r io.Reader, size int64) (string, error) {
	if f, ok := m.sendsFile(r); ok {
		return m.putPartFile(ctx, key, uploadID, n, f, size)
	}
	p, err := m.core.PutObjectPart(ctx, m.bucket, key, uploadID, n, r, size, minio.PutObjectPartOptions{DisableContentSha256: true})
	if err != nil {
		return "", translate(err, fmt.Sprintf("put part %d of %s", n, key))
	}
	return p.ETag, nil
}

// CompleteMultipart implements ObjectStore.
func (m *MinIO) CompleteMultipart(ctx context.Context, key, uploadID string, parts []Part) error {
	cp := make([]minio.CompletePart, len(parts))
	for i, p := range parts {
		cp[i] = minio.CompletePart{PartNumber: p.Number, ETag: p.ETag}
	}
	var opts minio.PutObjectOptions
	if IsOriginal(key) {
		opts.SetMatchETagExcept("*")
	}
	_, err := m.core.CompleteMultipartUpload(ctx, m.bucket, key, uploadID, cp, opts)
	if err != nil {
		return m.translateWrite(err, key, "complete multipart "+key)
	}
	// The upload may have taken days: the retention counts from now.
	return m.relock(ctx, key)
}

// Compose implements ObjectStore with S3's server-side multipart copy
// (minio-go ComposeObject), so no byte passes through us. S3 refuses a
// copied part under MinPartSize unless it is the last, so when a source but
// the last is smaller the objects are streamed through a plain Put instead.
func (m *MinIO) Compose(ctx context.Context, key string, srcs []string, contentType string) error {
	if len(srcs) == 0 {
		return fmt.Errorf("compose %s: no sources: %w", key, domain.ErrInvalid)
	}
	var total int64
	small := false
	for i, src := range srcs {
		info, err := m.Stat(ctx, src)
		if err != nil {
			return fmt.Errorf("compose %s: %w", key, err)
		}
		total += info.Size
		if i < len(srcs)-1 && info.Size < MinPartSize {
			small = true
		}
	}
	if small || len(srcs) == 1 && total < MinPartSize {
		r := &concatReader{ctx: ctx, objects: m, keys: srcs}
		defer r.Close()
		return m.Put(ctx, key, r, total, contentType)
	}
	if IsOriginal(key) {
		// ComposeObject sends no If-None-Match; an original is written
		// by its one upload, so a look first is enough to keep it whole.
		// The same join retried finds its own result (the caller hashes
		// what is stored).
		if info, err := m.Stat(ctx, key); err == nil {
			if info.Size == total {
				return nil
			}
			return errOriginalLocked(key)
		} else if !errors.Is(err, domain.ErrNotFound) {
			return fmt.Errorf("compose %s: %w", key, err)
		}
	}
	cs := make([]minio.CopySrcOptions, len(srcs))
	for i, src := range srcs {
		cs[i] = minio.CopySrcOptions{Bucket: m.bucket, Object: src}
	}
	dst := minio.CopyDestOptions{Bucket: m.bucket, Object: key}
	if contentType != "" {
		dst.ReplaceMetadata = true
		dst.UserMetadata = map[string]string{"Content-Type": contentType}
	}
	var lockOpts minio.PutObjectOptions
	if _, err := m.lockOptions(ctx, key, &lockOpts); err != nil {
		return err
	}
	dst.Mode, dst.RetainUntilDate, dst.LegalHold = lockOpts.Mode, lockOpts.RetainUntilDate, lockOpts.LegalHold
	_, err := m.core.Client.ComposeObject(ctx, dst, cs...)
	return translate(err, "compose "+key)
}

// Put implements ObjectStore.
func (m *MinIO) Put(ctx context.Context, key string, r io.Reader, size int64, contentType string) error {
	opts := minio.PutObjectOptions{ContentType: contentType}
	if _, err := m.lockOptions(ctx, key, &opts); err != nil {
		return err
	}
	if !IsOriginal(key) {
		_, err := m.core.Client.PutObject(ctx, m.bucket, key, r, size, opts)
		return translate(err, "put object "+key)
	}
	// Every byte read from r passes through h once, so that a refused
	// write can still tell whether it was a retry of the same bytes.
	h := sha256.New()
	_, err := m.core.Client.PutObject(ctx, m.bucket, key, io.TeeReader(r, h), size, opts)
	err = m.translateWrite(err, key, "put object "+key)
	if errors.Is(err, domain.ErrForbidden) {
		if _, cerr := io.Copy(h, r); cerr == nil && sameContent(ctx, m, key, size, h.Sum(nil)) {
			return nil
		}
	}
	return err
}

// AbortMultipart implements ObjectStore.
func (m *MinIO) AbortMultipart(ctx context.Context, key, uploadID string) error {
	err := translate(m.core.AbortMultipartUpload(ctx, m.bucket, key, uploadID), "abort multipart "+key)
	if errors.Is(err, domain.ErrNotFound) {
		return nil
	}
	return err
}

// Open implements ObjectStore with one GET of the whole object on
// minio-go's pooled connections, and no Stat before it. The object reads straight from the response body
// (minio-go's own Object hands every Read to a goroutine, which costs a
// third of the throughput at a gigabyte a second); a Read away from where
// the body is asks for a new ranged GET from there.
func (m *MinIO) Open(ctx context.Context, key string) (Object, error) {
	return m.openRange(ctx, key, Range{}, false)
}

type minioObject struct {
	m    *MinIO
	ctx  context.Context
	key  string
	info ObjectInfo
	off  int64
	// body, when open, yields the bytes from bodyOff up to bodyEnd.
	body             io.ReadCloser
	bodyOff, bodyEnd int64
}

func (o *minioObject) Info() ObjectInfo { return o.info }

func (o *minioObject) Read(p []byte) (int, error) {
	if o.off >= o.info.Size {
		return 0, io.EOF
	}
	if o.body != nil && (o.bodyOff != o.off || o.bodyOff >= o.bodyEnd) {
		o.body.Close()
		o.body = nil
	}
	if o.body == nil {
		var opts minio.GetObjectOptions
		if o.off > 0 {
			opts.SetRange(o.off, 0)
		}
		body, _, _, err := o.m.core.GetObject(o.ctx, o.m.bucket, o.key, opts)
		if err != nil {
			return 0, translate(err, "get object "+o.key)
		}
		o.body, o.bodyOff, o.bodyEnd = body, o.off, o.info.Size
	}
	n, err := o.body.Read(p)
	o.off += int64(n)
	o.bodyOff = o.off
	if err == io.EOF {
		if o.off < o.bodyEnd {
			return n, io.ErrUnexpectedEOF
		}
		if o.off < o.info.Size {
			err = nil // the range ended; the next Read asks for more
		}
	}
	return n, err
}

// Seek only moves the offset; the next Read asks for the bytes from there
// unless the open body is already there (http.ServeContent seeks to the
// end and back before it reads).
func (o *minioObject) Seek(offset int64, whence int) (int64, error) {
	abs := offset
	switch whence {
	case io.SeekCurrent:
		abs += o.off
	case io.SeekEnd:
		abs += o.info.Size
	}
	if abs < 0 {
		return o.off, fmt.Errorf("seek to %d: %w", abs, domain.ErrInvalid)
	}
	o.off = abs
	return abs, nil
}

func (o *minioObject) Close() error {
	if o.body != nil {
		return o.body.Close()
	}
	return nil
}

// Stat implements ObjectStore.
func (m *MinIO) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	st, err := m.core.Client.StatObject(ctx, m.bucket, key, minio.StatObjectOptions{})
	if err != nil {
		return ObjectInfo{}, translate(err, "stat object "+key)
	}
	return ObjectInfo{Size: st.Size, ModTime: st.LastModified}, nil
}

// Delete implements ObjectStore. It refuses an original (ErrForbidden,
// CodeOriginalLocked) whatever the bucket: on a locked bucket a plain
// DELETE would only hide it behind a delete marker, which reads as gone.
// Only Purge removes originals, once their lock allows.
func (m *MinIO) Delete(ctx context.Context, key string) error {
	if IsOriginal(key) {
		return errOriginalLocked(key)
	}
	return translate(m.core.Client.RemoveObject(ctx, m.bucket, key, minio.RemoveObjectOptions{}), "delete object "+key)
}

// Locate implements Locator: a presigned GET URL valid for an hour, which
// ffmpeg reads with Range requests.
func (m *MinIO) Locate(ctx context.Context, key string) (string, error) {
	u, err := m.core.Client.PresignedGetObject(ctx, m.bucket, key, time.Hour, nil)
	if err != nil {
		return "", translate(err, "presign "+key)
	}
	return u.String(), nil
}

// Ping implements ObjectStore.
func (m *MinIO) Ping(ctx context.Context) error {
	_, err := m.core.Client.BucketExists(ctx, m.bucket)
	return translate(err, "ping bucket")
}
