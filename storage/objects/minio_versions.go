package objects

import (
	"context"

	"github.com/minio/minio-go/v7"
)

// DeleteVersions removes key for good: on a bucket with object locking
// (which turns versioning on) a plain DELETE only hides an object behind a
// delete marker and keeps its bytes, so every version of key and its
// delete markers are removed by version id. For short-lived objects
// written often (an upload's tail segments), whose old versions would
// otherwise pile up. It refuses an original, as Delete does.
func (m *MinIO) DeleteVersions(ctx context.Context, key string) error {
	if IsOriginal(key) {
		return errOriginalLocked(key)
	}
	if !m.locking {
		return m.Delete(ctx, key)
	}
	for o := range m.core.Client.ListObjects(ctx, m.bucket, minio.ListObjectsOptions{Prefix: key, WithVersions: true}) {
		if o.Err != nil {
			return translate(o.Err, "list versions of "+key)
		}
		if o.Key != key {
			continue
		}
		if err := m.core.Client.RemoveObject(ctx, m.bucket, key, minio.RemoveObjectOptions{VersionID: o.VersionID}); err != nil {
			return translate(err, "delete object "+key+" version "+o.VersionID)
		}
	}
	return nil
}
