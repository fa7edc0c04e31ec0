package objects_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"siteinspect/internal/testenv"
)

// BenchmarkPutPartFile sends 256 MiB as 8 MiB parts, each from its own
// spool-like file, to a local MinIO: "sendfile" is PutPart given the
// *os.File (a presigned PUT; net/http writes it with sendfile), "minio-go"
// the same file behind an io.ReadSeeker wrapper, which takes minio-go's
// PutObjectPart as every part did before (a copy through user space). The
// two alternate within each iteration; reported: this process's CPU
// seconds per GiB for each, and their ratio.
// Run: scripts/with-minio.sh go test ./storage/objects -run '^$' -bench PutPartFile -benchtime 3x
func BenchmarkPutPartFile(b *testing.B) {
	const partSize, parts = 8 << 20, 32
	m := testenv.NewMinIO(b)
	dir := b.TempDir()
	data := make([]byte, partSize)
	for i := range data {
		data[i] = byte(i*7 + i>>13)
	}
	paths := make([]string, parts)
	for i := range paths {
		paths[i] = filepath.Join(dir, fmt.Sprint(i))
		data[0] = byte(i)
		if err := os.WriteFile(paths[i], data, 0o600); err != nil {
			b.Fatal(err)
		}
	}
	ctx := context.Background()
	upload := func(b *testing.B, wrap bool) {
		key := fmt.Sprintf("bench/part-%t", wrap)
		id, err := m.CreateMultipart(ctx, key, "application/octet-stream")
		if err != nil {
			b.Fatal(err)
		}
		defer m.AbortMultipart(ctx, key, id)
		for i, p := range paths {
			f, err := os.Open(p)
			if err != nil {
				b.Fatal(err)
			}
			var r io.Reader = f
			if wrap {
				r = struct{ io.ReadSeeker }{f}
			}
			if _, err := m.PutPart(ctx, key, id, i+1, r, partSize); err != nil {
				b.Fatal(err)
			}
			f.Close()
		}
	}
	b.SetBytes(2 * partSize * parts)
	var cpu [2]float64
	var dur [2]time.Duration
	for b.Loop() {
		for k, wrap := range []bool{false, true} {
			c0, t0 := processCPU(), time.Now()
			upload(b, wrap)
			dur[k] += time.Since(t0)
			cpu[k] += processCPU() - c0
		}
	}
	gib := float64(b.N) * partSize * parts / (1 << 30)
	b.ReportMetric(cpu[0]/gib, "sendfile-CPU-s/GiB")
	b.ReportMetric(cpu[1]/gib, "minio-go-CPU-s/GiB")
	b.ReportMetric(dur[1].Seconds()/dur[0].Seconds(), "speedup")
}

// processCPU is this process's user+sys CPU time so far, in seconds.
func processCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}
