package objects

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"siteinspect/domain"

	"github.com/minio/minio-go/v7"
)

// CodeBucketNotLocked refuses a legal hold on a store whose bucket was made
// without object locking.
const CodeBucketNotLocked = "bucket_not_locked"

// bucketLocking reports whether the bucket has object locking enabled.
func (m *MinIO) bucketLocking(ctx context.Context) (bool, error) {
	enabled, _, _, _, err := m.core.Client.GetObjectLockConfig(ctx, m.bucket)
	if err != nil {
		resp := minio.ToErrorResponse(err)
		if resp.Code == "ObjectLockConfigurationNotFoundError" || resp.StatusCode == http.StatusNotFound {
			return false, nil
		}
		return false, translate(err, "object lock configuration of bucket "+m.bucket)
	}
	return enabled == "Enabled", nil
}

// Locking reports whether the bucket has object locking, so that originals
// are written in COMPLIANCE mode (when a Retention is configured) and legal
// holds can be set. A bucket made before siteinspect made them locked has
// none: the start-up warns, and docs/SECURITY.md tells how to move to a
// locked one.
func (m *MinIO) Locking() bool { return m.locking }

// WORM reports whether originals are written locked: the bucket has object
// locking and a Retention is configured.
func (m *MinIO) WORM() bool { return m.locking && m.retention != nil }

// lockOptions sets the lock of an original on opts: never overwritten
// (If-None-Match), and with a WORM store its COMPLIANCE retention and
// legal hold. Other keys are left alone.
func (m *MinIO) lockOptions(ctx context.Context, key string, opts *minio.PutObjectOptions) (Lock, error) {
	if !IsOriginal(key) {
		return Lock{}, nil
	}
	opts.SetMatchETagExcept("*")
	if !m.WORM() {
		return Lock{}, nil
	}
	l, err := m.retention(ctx, key)
	if err != nil {
		return Lock{}, fmt.Errorf("retention of %s: %w", key, err)
	}
	if !l.Until.IsZero() {
		opts.Mode, opts.RetainUntilDate = minio.Compliance, l.Until
	}
	if l.Hold {
		opts.LegalHold = minio.LegalHoldEnabled
	}
	return l, nil
}

// relock brings a just completed original's lock up to date: its retention
// counts from its completion, not from the start of a multipart upload
// that may have taken days, and a hold set on its case meanwhile holds it.
// A retention is only ever extended (COMPLIANCE cannot be shortened).
func (m *MinIO) relock(ctx context.Context, key string) error {
	if !IsOriginal(key) || !m.WORM() {
		return nil
	}
	l, err := m.retention(ctx, key)
	if err != nil {
		return fmt.Errorf("retention of %s: %w", key, err)
	}
	if !l.Until.IsZero() {
		_, until, err := m.core.Client.GetObjectRetention(ctx, m.bucket, key, "")
		if err != nil && minio.ToErrorResponse(err).StatusCode != http.StatusNotFound {
			return translate(err, "retention of "+key)
		}
		if until == nil || until.Before(l.Until.Truncate(time.Second)) {
			mode, at := minio.Compliance, l.Until
			err := m.core.Client.PutObjectRetention(ctx, m.bucket, key, minio.PutObjectRetentionOptions{Mode: &mode, RetainUntilDate: &at})
			if err != nil {
				return translate(err, "set retention of "+key)
			}
		}
	}
	if l.Hold {
		return m.SetLegalHold(ctx, key, true)
	}
	return nil
}

// translateWrite is translate for writes: an original that exists already
// (If-None-Match failed) or is locked is refused with CodeOriginalLocked.
func (m *MinIO) translateWrite(err error, key, what string) error {
	if err == nil {
		return nil
	}
	resp := minio.ToErrorResponse(err)
	if IsOriginal(key) && (resp.StatusCode == http.StatusPreconditionFailed || resp.Code == "PreconditionFailed" || lockRefusal(err)) {
		return fmt.Errorf("%s: %w", what, errOriginalLocked(key))
	}
	return translate(err, what)
}

// lockRefusal reports whether S3 refused a delete or overwrite because of
// an object lock: MinIO answers 400 InvalidRequest "Object is WORM
// protected and cannot be overwritten" (measured, RELEASE 2026-02), AWS
// 403 AccessDenied.
func lockRefusal(err error) bool {
	resp := minio.ToErrorResponse(err)
	return resp.StatusCode == http.StatusForbidden || resp.Code == "AccessDenied" || resp.Code == "ObjectLocked" ||
		strings.Contains(resp.Message, "WORM")
}

// SetLegalHold implements Holder. A bucket without object locking refuses
// it (ErrInvalidState, CodeBucketNotLocked).
func (m *MinIO) SetLegalHold(ctx context.Context, key string, on bool) error {
	if !m.locking {
		return domain.Coded(domain.ErrInvalidState, CodeBucketNotLocked,
			"the object store's bucket has no object locking, so it cannot hold objects (docs/SECURITY.md)")
	}
	status := minio.LegalHoldDisabled
	if on {
		status = minio.LegalHoldEnabled
	}
	err := m.core.Client.PutObjectLegalHold(ctx, m.bucket, key, minio.PutObjectLegalHoldOptions{Status: &status})
	return translate(err, fmt.Sprintf("legal hold %v on %s", on, key))
}

// LegalHold reports whether the current version of key is held.
func (m *MinIO) LegalHold(ctx context.Context, key string) (bool, error) {
	st, err := m.core.Client.GetObjectLegalHold(ctx, m.bucket, key, minio.GetObjectLegalHoldOptions{})
	if err != nil {
		if resp := minio.ToErrorResponse(err); resp.Code == "NoSuchObjectLockConfiguration" || resp.Code == "InvalidRequest" {
			return false, nil
		}
		return false, translate(err, "legal hold of "+key)
	}
	return st != nil && *st == minio.LegalHoldEnabled, nil
}

// RetainUntil is the end of the retention of key's current version, or the
// zero time when it has none.
func (m *MinIO) RetainUntil(ctx context.Context, key string) (time.Time, error) {
	_, until, err := m.core.Client.GetObjectRetention(ctx, m.bucket, key, "")
	if err != nil {
		if resp := minio.ToErrorResponse(err); resp.Code == "NoSuchObjectLockConfiguration" || resp.Code == "InvalidRequest" {
			return time.Time{}, nil
		}
		return time.Time{}, translate(err, "retention of "+key)
	}
	if until == nil {
		return time.Time{}, nil
	}
	return *until, nil
}

// Purge implements Purger: every version of every object under prefix, and
// every delete marker, is deleted by its version id; S3 refuses those whose
// retention has not passed or that are held, and they are kept.
func (m *MinIO) Purge(ctx context.Context, prefix string) (PurgeResult, error) {
	var res PurgeResult
	if prefix == "" {
		return res, fmt.Errorf("purge: empty prefix: %w", domain.ErrInvalid)
	}
	kept := map[string]bool{}
	for o := range m.core.Client.ListObjects(ctx, m.bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true, WithVersions: true}) {
		if o.Err != nil {
			return res, translate(o.Err, "list "+prefix)
		}
		err := m.core.Client.RemoveObject(ctx, m.bucket, o.Key, minio.RemoveObjectOptions{VersionID: o.VersionID})
		switch {
		case err == nil:
			res.Removed++
		case lockRefusal(err):
			if !kept[o.Key] {
				kept[o.Key] = true
				res.Kept = append(res.Kept, o.Key)
			}
		default:
			return res, translate(err, fmt.Sprintf("purge %s version %s", o.Key, o.VersionID))
		}
	}
	return res, nil
}
