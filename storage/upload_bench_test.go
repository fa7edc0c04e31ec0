package storage_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"siteinspect/domain"
)

// BenchmarkUploadPatches uploads a 128 MiB file to MinIO in PATCHes of a
// given size, 8 MiB parts (the server's default): 32 MiB PATCHes, and
// 1 MiB ones as a phone's client sends, each of which ends with a tail.
// Run: scripts/with-minio.sh go test ./storage/ -run '^$' -bench UploadPatches -benchtime 3x
func BenchmarkUploadPatches(b *testing.B) {
	const size = 128 << 20
	data := mp4Bytes(size, 31)
	for _, patch := range []int{32 << 20, 1 << 20} {
		b.Run(fmt.Sprintf("patch=%dMiB", patch>>20), func(b *testing.B) {
			f := newFixture(b, "minio", func(c *domain.UploadConfig) { c.PartSize = 8 << 20 })
			b.SetBytes(size)
			ctx := context.Background()
			for b.Loop() {
				up, err := f.ups.CreateUpload(ctx, f.cs, f.user, size, map[string]string{"filename": "bench.mp4"}, "")
				if err != nil {
					b.Fatal(err)
				}
				for off := 0; off < size; off += patch {
					if _, _, err := f.ups.Append(ctx, up.ID, int64(off), bytes.NewReader(data[off:off+patch]), nil); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
