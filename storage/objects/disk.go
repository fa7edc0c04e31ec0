package objects

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"siteinspect/domain"
	"strconv"
	"strings"
)

// Disk is the embedded default object store: objects are files under a
// directory. Multipart uploads keep their parts in a hidden folder and are
// joined into a temporary file that is renamed into place, so a reader never
// sees a half-written object.
type Disk struct {
	root string
}

// NewDisk returns a Disk rooted at dir, creating it if needed.
func NewDisk(dir string) (*Disk, error) {
	for _, d := range []string{dir, filepath.Join(dir, ".multipart"), filepath.Join(dir, ".tmp")} {
		if err := os.MkdirAll(d, 0o750); err != nil {
			return nil, fmt.Errorf("create object directory: %w", err)
		}
	}
	return &Disk{root: dir}, nil
}

func (d *Disk) path(key string) (string, error) {
	clean := filepath.Clean("/" + key)
	if key == "" || clean != "/"+key || strings.HasPrefix(key, ".") {
		return "", fmt.Errorf("object key %q: %w", key, domain.ErrInvalid)
	}
	return filepath.Join(d.root, filepath.FromSlash(key)), nil
}

func (d *Disk) multipartDir(uploadID string) (string, error) {
	if _, err := hex.DecodeString(uploadID); err != nil || uploadID == "" {
		return "", fmt.Errorf("multipart id %q: %w", uploadID, domain.ErrNotFound)
	}
	return filepath.Join(d.root, ".multipart", uploadID), nil
}

// CreateMultipart implements ObjectStore.
func (d *Disk) CreateMultipart(ctx context.Context, key, contentType string) (string, error) {
	if _, err := d.path(key); err != nil {
		return "", err
	}
	b := make([]byte, 16)
	rand.Read(b)
	id := hex.EncodeToString(b)
	if err := os.Mkdir(filepath.Join(d.root, ".multipart", id), 0o750); err != nil {
		return "", fmt.Errorf("create multipart %q: %w", key, err)
	}
	return id, nil
}

// PutPart implements ObjectStore.
func (d *Disk) PutPart(ctx context.Context, key, uploadID string, n int, r io.Reader, size int64) (string, error) {
	dir, err := d.multipartDir(uploadID)
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(dir); err != nil {
		return "", fmt.Errorf("multipart %s: %w", uploadID, domain.ErrNotFound)
	}
	tmp, err := os.CreateTemp(dir, "incoming-")
	if err != nil {
		return "", fmt.Errorf("put part %d of %q: %w", n, key, err)
	}
	defer os.Remove(tmp.Name())
	written, err := io.Copy(tmp, io.LimitReader(r, size))
	if err == nil && written != size {
		err = fmt.Errorf("part has %d bytes, want %d: %w", written, size, io.ErrUnexpectedEOF)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), filepath.Join(dir, strconv.Itoa(n)))
	}
	if err != nil {
		return "", fmt.Errorf("put part %d of %q: %w", n, key, err)
	}
	return fmt.Sprintf("%d-%d", n, size), nil
}

// CompleteMultipart implements ObjectStore.
func (d *Disk) CompleteMultipart(ctx context.Context, key, uploadID string, parts []Part) error {
	dst, err := d.path(key)
	if err != nil {
		return err
	}
	dir, err := d.multipartDir(uploadID)
	if err != nil {
		return err
	}
	if _, err := os.Stat(dir); err != nil {
		return fmt.Errorf("multipart %s: %w", uploadID, domain.ErrNotFound)
	}
	tmp, err := os.CreateTemp(filepath.Join(d.root, ".tmp"), "complete-")
	if err != nil {
		return fmt.Errorf("complete %q: %w", key, err)
	}
	defer os.Remove(tmp.Name())
	for _, p := range parts {
		if err := appendFile(tmp, filepath.Join(dir, strconv.Itoa(p.Number)), p.Size); err != nil {
			tmp.Close()
			return fmt.Errorf("complete %q part %d: %w", key, p.Number, err)
		}
	}
	if err := settle(tmp, dst, key); err != nil {
		return fmt.Errorf("complete %q: %w", key, err)
	}
	return os.RemoveAll(dir)
}

// settle makes the whole temporary file tmp the object key at dst: synced,
// closed, and renamed into place, so a reader never sees half an object.
// tmp is closed whatever happens.
//
// An original is never replaced: it is linked into place, which fails when
// the file exists (CodeOriginalLocked), and the caller's deferred remove of
// tmp drops the other name.
func settle(tmp *os.File, dst, key string) error {
	err := tmp.Sync()
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.MkdirAll(filepath.Dir(dst), 0o750)
	}
	if err != nil {
		return err
	}
	if IsOriginal(key) {
		if err := os.Link(tmp.Name(), dst); errors.Is(err, fs.ErrExist) {
			if sameFile(tmp.Name(), dst) {
				return nil // the same write, retried
			}
			return errOriginalLocked(key)
		} else if err != nil {
			return err
		}
		return nil
	}
	return os.Rename(tmp.Name(), dst)
}

// Compose implements ObjectStore: the files are concatenated into a
// temporary file (copy_file_range, no bytes through us) renamed into place.
func (d *Disk) Compose(ctx context.Context, key string, srcs []string, contentType string) error {
	dst, err := d.path(key)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Join(d.root, ".tmp"), "compose-")
	if err != nil {
		return fmt.Errorf("compose %q: %w", key, err)
	}
	defer os.Remove(tmp.Name())
	for _, src := range srcs {
		name, err := d.path(src)
		if err == nil {
			var st os.FileInfo
			if st, err = os.Stat(name); err == nil {
				err = appendFile(tmp, name, st.Size())
			} else if errors.Is(err, fs.ErrNotExist) {
				err = fmt.Errorf("object %q: %w", src, domain.ErrNotFound)
			}
		}
		if err != nil {
			tmp.Close()
			return fmt.Errorf("compose %q: %w", key, err)
		}
	}
	if err := settle(tmp, dst, key); err != nil {
		return fmt.Errorf("compose %q: %w", key, err)
	}
	return nil
}

// appendFile copies the part file into dst; on Linux io.Copy between two
// files uses copy_file_range, so the bytes need not pass through us.
func appendFile(dst *os.File, name string, size int64) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	n, err := io.Copy(dst, f)
	if err == nil && n != size {
		err = fmt.Errorf("part has %d bytes, want %d", n, size)
	}
	return err
}

// Put implements ObjectStore.
func (d *Disk) Put(ctx context.Context, key string, r io.Reader, size int64, contentType string) error {
	dst, err := d.path(key)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Join(d.root, ".tmp"), "put-")
	if err != nil {
		return fmt.Errorf("put %q: %w", key, err)
	}
	defer os.Remove(tmp.Name())
	n, err := io.Copy(tmp, r)
	if err == nil && size >= 0 && n != size {
		err = fmt.Errorf("got %d bytes, want %d: %w", n, size, io.ErrUnexpectedEOF)
	}
	if err != nil {
		tmp.Close()
		return fmt.Errorf("put %q: %w", key, err)
	}
	if err := settle(tmp, dst, key); err != nil {
		return fmt.Errorf("put %q: %w", key, err)
	}
	return nil
}

// AbortMultipart implements ObjectStore.
func (d *Disk) AbortMultipart(ctx context.Context, key, uploadID string) error {
	dir, err := d.multipartDir(uploadID)
	if err != nil {
		return nil
	}
	return os.RemoveAll(dir)
}

// Open implements ObjectStore.
func (d *Disk) Open(ctx context.Context, key string) (Object, error) {
	p, err := d.path(key)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("object %q: %w", key, domain.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("open object %q: %w", key, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("stat object %q: %w", key, err)
	}
	return &diskObject{File: f, info: ObjectInfo{Size: st.Size(), ModTime: st.ModTime()}}, nil
}

type diskObject struct {
	*os.File
	info ObjectInfo
}

func (o *diskObject) Info() ObjectInfo { return o.info }

// Stat implements ObjectStore.
func (d *Disk) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	p, err := d.path(key)
	if err != nil {
		return ObjectInfo{}, err
	}
	st, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return ObjectInfo{}, fmt.Errorf("object %q: %w", key, domain.ErrNotFound)
	}
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("stat object %q: %w", key, err)
	}
	return ObjectInfo{Size: st.Size(), ModTime: st.ModTime()}, nil
}

// Delete implements ObjectStore. It refuses an original (ErrForbidden,
// CodeOriginalLocked): a file on a local disk cannot be made WORM (root
// can always remove it, docs/SECURITY.md), but siteinspect itself never
// deletes evidence except through Purge.
func (d *Disk) Delete(ctx context.Context, key string) error {
	p, err := d.path(key)
	if err != nil {
		return err
	}
	if IsOriginal(key) {
		return errOriginalLocked(key)
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete object %q: %w", key, err)
	}
	return nil
}

// Locate implements Locator: the object's file.
func (d *Disk) Locate(ctx context.Context, key string) (string, error) {
	p, err := d.path(key)
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("object %q: %w", key, domain.ErrNotFound)
	}
	return filepath.Abs(p)
}

// Ping implements ObjectStore.
func (d *Disk) Ping(ctx context.Context) error {
	_, err := os.Stat(d.root)
	return err
}

// Purge implements Purger: every file under prefix goes, originals
// included. A disk has no locks; the purge sweeper decides what is past its
// retention before it calls this.
func (d *Disk) Purge(ctx context.Context, prefix string) (PurgeResult, error) {
	var res PurgeResult
	p, err := d.path(strings.TrimSuffix(prefix, "/"))
	if err != nil {
		return res, err
	}
	err = filepath.WalkDir(p, func(name string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !e.IsDir() {
			if err := os.Remove(name); err != nil {
				return err
			}
			res.Removed++
		}
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		return res, nil
	}
	if err != nil {
		return res, fmt.Errorf("purge %q: %w", prefix, err)
	}
	if err := os.RemoveAll(p); err != nil {
		return res, fmt.Errorf("purge %q: %w", prefix, err)
	}
	return res, nil
}

// sameFile reports whether the files a and b hold the same bytes.
func sameFile(a, b string) bool {
	sum := func(name string) ([]byte, int64, bool) {
		f, err := os.Open(name)
		if err != nil {
			return nil, 0, false
		}
		defer f.Close()
		h := sha256.New()
		n, err := io.Copy(h, f)
		return h.Sum(nil), n, err == nil
	}
	ha, na, oka := sum(a)
	hb, nb, okb := sum(b)
	return oka && okb && na == nb && bytes.Equal(ha, hb)
}
