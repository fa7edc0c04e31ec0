package storage_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"siteinspect/domain"
)

// BenchmarkUploadPatches uploads a 128 MiB file to MinIO in PATCHes of a
// given size, 8 MiB parts (the server's default): 32 MiB PATCHes, and
// 1 MiB ones as a phone's client sends, each of which ends with a tail.
// Each iteration uploads the file twice, alternated: with each PATCH body
// of declared length (domain.SizedBody, as the server passes a body with a
// Content-Length: parts it covers whole stream to MinIO while their bytes
// arrive) and, with the timer stopped, as a plain reader (the path before
// streaming: each part is sent from the spool once full). Then, with the
// timer stopped, the same bytes go to the same MinIO through a direct
// minio-go PutObject (its defaults), so that the ratios compare the three
// in one run. Reported besides MB/s: server-CPU-s/GiB (this process's
// user+sys time over the PATCHes, per GiB: the storage side of the server
// is all that runs in it) and ratio (ours/direct throughput, total times
// over all iterations), the same for the plain-reader path
// (unsized-CPU-s/GiB, unsized-ratio), and direct-CPU-s/GiB.
// Run: scripts/with-minio.sh go test ./storage/ -run '^$' -bench UploadPatches -benchtime 3x
func BenchmarkUploadPatches(b *testing.B) {
	const size = 128 << 20
	data := mp4Bytes(size, 31)
	for _, patch := range []int{32 << 20, 1 << 20} {
		b.Run(fmt.Sprintf("patch=%dMiB", patch>>20), func(b *testing.B) {
			f := newFixture(b, "minio", func(c *domain.UploadConfig) { c.PartSize = 8 << 20 })
			mc, bucket := f.minio.Client(), f.minio.Bucket()
			b.SetBytes(size)
			ctx := context.Background()
			var ours, unsized, direct time.Duration
			var oursCPU, unsizedCPU, directCPU float64
			upload := func(sizedBody bool) (time.Duration, float64) {
				c0, t0 := processCPU(), time.Now()
				up, err := f.ups.CreateUpload(ctx, f.cs, f.user, size, map[string]string{"filename": "bench.mp4"}, "")
				if err != nil {
					b.Fatal(err)
				}
				for off := 0; off < size; off += patch {
					var body io.Reader = bytes.NewReader(data[off : off+patch])
					if sizedBody {
						body = domain.SizedBody{Reader: body, Size: int64(patch)}
					}
					if _, _, err := f.ups.Append(ctx, up.ID, int64(off), body, nil); err != nil {
						b.Fatal(err)
					}
				}
				return time.Since(t0), processCPU() - c0
			}
			i := 0
			for b.Loop() {
				d, c := upload(true)
				ours, oursCPU = ours+d, oursCPU+c

				b.StopTimer()
				d, c = upload(false)
				unsized, unsizedCPU = unsized+d, unsizedCPU+c
				i++
				key := fmt.Sprintf("bench/direct-%d", i)
				c0, t0 := processCPU(), time.Now()
				if _, err := mc.PutObject(ctx, bucket, key, bytes.NewReader(data), size, minio.PutObjectOptions{ContentType: "video/mp4"}); err != nil {
					b.Fatal(err)
				}
				direct += time.Since(t0)
				directCPU += processCPU() - c0
				if err := mc.RemoveObject(ctx, bucket, key, minio.RemoveObjectOptions{}); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			gib := float64(i) * size / (1 << 30)
			b.ReportMetric(oursCPU/gib, "server-CPU-s/GiB")
			b.ReportMetric(unsizedCPU/gib, "unsized-CPU-s/GiB")
			b.ReportMetric(directCPU/gib, "direct-CPU-s/GiB")
			b.ReportMetric(direct.Seconds()/ours.Seconds(), "ratio")
			b.ReportMetric(direct.Seconds()/unsized.Seconds(), "unsized-ratio")
		})
	}
}

// processCPU is this process's user+sys CPU time so far, in seconds.
func processCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}
