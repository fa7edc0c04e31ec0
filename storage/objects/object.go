package objects

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"time"
)

// ObjectStore is the object storage siteinspect needs: whole objects for
// reading, and multipart uploads for writing large files in parts so that no
// file ever has to sit in memory or on local disk whole. MinIO implements it
// for production and Disk for the embedded default.
type ObjectStore interface {
	// CreateMultipart starts a multipart upload for key and returns its id.
	CreateMultipart(ctx context.Context, key, contentType string) (string, error)
	// PutPart stores part number n (1-based) of size bytes read from r and
	// returns its ETag. Every part but the last must be at least MinPartSize.
	PutPart(ctx context.Context, key, uploadID string, n int, r io.Reader, size int64) (string, error)
	// CompleteMultipart joins the parts into the object key. It returns
	// ErrNotFound when the multipart upload no longer exists.
	CompleteMultipart(ctx context.Context, key, uploadID string, parts []Part) error
	// AbortMultipart discards a multipart upload and its parts. Aborting one
	// that does not exist is not an error.
	AbortMultipart(ctx context.Context, key, uploadID string) error
	// Compose joins the objects srcs, in order, into the object key,
	// replacing any object there; the sources are kept. Readers never see
	// a partial object. It returns ErrNotFound when a source is missing.
	Compose(ctx context.Context, key string, srcs []string, contentType string) error
	// Put stores a whole object of size bytes from r, replacing any object
	// at key. Readers never see a partial object.
	Put(ctx context.Context, key string, r io.Reader, size int64, contentType string) error
	// Open returns the object for reading and seeking. It returns ErrNotFound
	// when the key does not exist.
	Open(ctx context.Context, key string) (Object, error)
	// Stat returns the object's size and modification time, or ErrNotFound.
	Stat(ctx context.Context, key string) (ObjectInfo, error)
	// Delete removes the object; deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error
	// Ping checks that the store is reachable.
	Ping(ctx context.Context) error
}

// MinPartSize is S3's smallest allowed size for every part but the last.
const MinPartSize = 5 << 20

// Part is one stored part of a multipart upload.
type Part struct {
	Number int
	ETag   string
	Size   int64
}

// Object is an open stored object. Seek lets http.ServeContent answer Range
// requests without reading what it skips.
type Object interface {
	io.ReadSeekCloser
	Info() ObjectInfo
}

// ObjectInfo describes a stored object.
type ObjectInfo struct {
	Size    int64
	ModTime time.Time
}

// Locator is implemented by stores whose objects a local tool (ffmpeg) can
// read in place, seeking as it needs, instead of a full download: a file
// path for Disk, a short-lived presigned URL for MinIO.
type Locator interface {
	Locate(ctx context.Context, key string) (string, error)
}

// PutFile stores the file at path under key, streaming it and hashing it on
// the way, and returns its size and SHA-256 (hex).
func PutFile(ctx context.Context, objects ObjectStore, key, path, contentType string) (int64, string, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, "", err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, "", err
	}
	h := sha256.New()
	if err := objects.Put(ctx, key, io.TeeReader(f, h), fi.Size(), contentType); err != nil {
		return 0, "", fmt.Errorf("store %s: %w", key, err)
	}
	return fi.Size(), hex.EncodeToString(h.Sum(nil)), nil
}

// Concat returns a reader of the objects keys of store one after another,
// opening each only when the previous one ends, so at most one is open at a
// time. Close it after use.
func Concat(ctx context.Context, store ObjectStore, keys []string) io.ReadCloser {
	return &concatReader{ctx: ctx, objects: store, keys: keys}
}

// concatReader reads the objects keys one after another, opening each only
// when the previous one ends, so at most one is open at a time.
type concatReader struct {
	ctx     context.Context
	objects ObjectStore
	keys    []string
	cur     Object
}

func (r *concatReader) Read(p []byte) (int, error) {
	for {
		if r.cur == nil {
			if len(r.keys) == 0 {
				return 0, io.EOF
			}
			obj, err := r.objects.Open(r.ctx, r.keys[0])
			if err != nil {
				return 0, err
			}
			r.cur, r.keys = obj, r.keys[1:]
		}
		n, err := r.cur.Read(p)
		if err == io.EOF {
			r.cur.Close()
			r.cur = nil
			if n == 0 {
				continue
			}
			err = nil
		}
		return n, err
	}
}

// Close closes the object being read, if any.
func (r *concatReader) Close() error {
	if r.cur != nil {
		return r.cur.Close()
	}
	return nil
}
