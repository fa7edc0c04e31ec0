package storage_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"siteinspect/domain"
	"siteinspect/storage"
)

// replica is a second keeper of the fixture's uploads: the same database
// and object store, a spool of its own, as another server process behind
// the same load balancer would have.
func (f *fixture) replica(t *testing.T, tweak func(*domain.UploadConfig)) (*storage.Uploads, string) {
	t.Helper()
	spool := filepath.Join(t.TempDir(), "spool-b")
	cfg := domain.UploadConfig{SpoolDir: spool, PartSize: partSize, PartConcurrency: 2}
	if tweak != nil {
		tweak(&cfg)
	}
	ups, err := storage.NewUploads(f.db, f.objects, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return ups, spool
}

// tailKeys lists the upload's tail objects in the bucket.
func tailKeys(t *testing.T, f *fixture, id string) []string {
	t.Helper()
	var tails []string
	for _, k := range objectKeys(t, f.minio) {
		if strings.Contains(k, "/uploads/"+id+"/tail-") {
			tails = append(tails, k)
		}
	}
	return tails
}

// TestUploadReplicasContinue: an upload whose PATCHes alternate between two
// replicas, ending between part boundaries, is stored whole and exact,
// whether or not a replica kept its spool between its PATCHes; each
// acknowledged tail is in the object store, in at most 16 segments, and
// none is left once the upload is evidence.
func TestUploadReplicasContinue(t *testing.T) {
	chunks := []int{partSize + 777, 1 << 20, 3 << 20, 1, 2 * partSize, 1 << 20}
	for range 20 {
		chunks = append(chunks, 1000) // more segments than a tail keeps
	}
	for _, tc := range []struct {
		name      string
		dropSpool bool
	}{
		{"spools kept", false},
		{"spools deleted between PATCHes", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, "minio", nil)
			b, spoolB := f.replica(t, nil)
			ctx := context.Background()
			total := 0
			for _, c := range chunks {
				total += c
			}
			total += 12345
			data := mp4Bytes(total, 21)
			up := f.create(t, "replicas.mp4", int64(total))
			replicas := []struct {
				ups   *storage.Uploads
				spool string
			}{{f.ups, f.spool}, {b, spoolB}}
			off := 0
			var ev *domain.Evidence
			for i, c := range append(slices.Clone(chunks), 12345) {
				r := replicas[i%2]
				got, e, err := r.ups.Append(ctx, up.ID, int64(off), bytes.NewReader(data[off:off+c]), nil)
				if err != nil {
					t.Fatalf("PATCH %d (%d bytes at %d) on replica %d: %v", i, c, off, i%2, err)
				}
				off += c
				if got.Offset != int64(off) {
					t.Fatalf("PATCH %d: got offset %d, want %d", i, got.Offset, off)
				}
				ev = e
				if off == total {
					break
				}
				if i == 3 {
					// A replica that died between storing a segment and
					// committing it left this one, which no row names.
					orphan := "cases/" + f.cs.ID + "/uploads/" + up.ID + "/tail-orphan"
					if err := f.objects.Put(ctx, orphan, strings.NewReader("lost"), 4, "application/octet-stream"); err != nil {
						t.Fatal(err)
					}
					defer func() {
						if _, err := f.objects.Stat(ctx, orphan); !errors.Is(err, domain.ErrNotFound) {
							t.Errorf("uncommitted segment after completion: got %v, want ErrNotFound", err)
						}
					}()
				}
				tails := tailKeys(t, f, up.ID)
				var stored int64
				tails = slices.DeleteFunc(tails, func(k string) bool { return strings.HasSuffix(k, "tail-orphan") })
				for _, k := range tails {
					info, err := f.objects.Stat(ctx, k)
					if err != nil {
						t.Fatal(err)
					}
					stored += info.Size
				}
				if stored != int64(off%partSize) || len(tails) > 16 {
					t.Fatalf("after PATCH %d (offset %d): got %d tail segments of %d bytes, want at most 16 of %d", i, off, len(tails), stored, off%partSize)
				}
				if tc.dropSpool {
					if err := os.RemoveAll(r.spool); err != nil {
						t.Fatal(err)
					}
				}
			}
			if ev == nil {
				t.Fatal("the last PATCH made no evidence item")
			}
			if ev.SHA256 != sha(data) {
				t.Fatalf("evidence sha256: got %s, want %s", ev.SHA256, sha(data))
			}
			if got := f.mustContent(t, ev); sha(got) != sha(data) {
				t.Fatalf("stored object: got %d bytes with sha256 %s, want %d bytes with %s", len(got), sha(got), len(data), sha(data))
			}
			if keys := objectKeys(t, f.minio); len(keys) != 1 || keys[0] != ev.ObjectKey {
				t.Fatalf("bucket after completion: got %q, want only %s", keys, ev.ObjectKey)
			}
			// The bucket is locked, so versioned: no old segment is kept
			// as a noncurrent version either.
			var kept []string
			for o := range f.minio.Client().ListObjects(ctx, f.minio.Bucket(), minio.ListObjectsOptions{Prefix: "cases/" + f.cs.ID + "/uploads/", Recursive: true, WithVersions: true}) {
				if strings.Contains(o.Key, "/tail-") {
					kept = append(kept, o.Key+" "+o.VersionID)
				}
			}
			if !f.minio.Locking() || len(kept) != 0 {
				t.Fatalf("tail segment versions after completion (bucket locking %v): got %d (%q…), want none on a locked bucket", f.minio.Locking(), len(kept), kept[:min(len(kept), 2)])
			}
		})
	}
}

// TestUploadReplicasBrokenPatch: a PATCH whose connection breaks on one
// replica keeps what arrived (its tail stored), and the other replica
// continues from the offset a HEAD would report.
func TestUploadReplicasBrokenPatch(t *testing.T) {
	f := newFixture(t, "minio", nil)
	b, _ := f.replica(t, nil)
	ctx := context.Background()
	data := mp4Bytes(2*partSize+999, 22)
	up := f.create(t, "broken.mp4", int64(len(data)))
	const sent = partSize + 4321
	if _, _, err := f.ups.Append(ctx, up.ID, 0, &brokenReader{r: bytes.NewReader(data), n: sent}, nil); !errors.Is(err, domain.ErrInvalid) {
		t.Fatalf("broken PATCH: got %v, want ErrInvalid (body broke off)", err)
	}
	os.RemoveAll(f.spool)
	head, err := b.Upload(ctx, up.ID)
	if err != nil || head.Offset != sent {
		t.Fatalf("offset after the break: got %v (err %v), want %d", head, err, sent)
	}
	_, ev, err := b.Append(ctx, up.ID, head.Offset, bytes.NewReader(data[head.Offset:]), nil)
	if err != nil || ev == nil {
		t.Fatalf("resume on replica B: got %v, %v; want evidence", ev, err)
	}
	if got := f.mustContent(t, ev); ev.SHA256 != sha(data) || sha(got) != sha(data) {
		t.Fatalf("stored object: got sha256 %s (recorded %s), want %s", sha(got), ev.SHA256, sha(data))
	}
}

// TestUploadReplicasConcurrentPatch: PATCHes of one upload sent at once to
// two replicas: exactly one writes; the other is refused with ErrLocked
// and a Retry-After, and nothing it carried is kept.
func TestUploadReplicasConcurrentPatch(t *testing.T) {
	f := newFixture(t, "minio", nil)
	b, _ := f.replica(t, nil)
	ctx := context.Background()
	data := mp4Bytes(partSize+5000, 23)
	up := f.create(t, "race.mp4", int64(len(data)))
	type result struct {
		side int
		ev   *domain.Evidence
		err  error
	}
	results := make(chan result, 2)
	var pipes [2]*io.PipeWriter
	for i, ups := range []*storage.Uploads{f.ups, b} {
		pr, pw := io.Pipe()
		pipes[i] = pw
		go func() {
			_, ev, err := ups.Append(ctx, up.ID, 0, pr, nil)
			pr.CloseWithError(err)
			results <- result{i, ev, err}
		}()
	}
	// The loser answers at once, without reading its body.
	loser := <-results
	var de *domain.Error
	if !errors.Is(loser.err, domain.ErrLocked) || !errors.As(loser.err, &de) || de.RetryAfter <= 0 {
		t.Fatalf("the PATCH that lost the race (replica %d): got %v, want ErrLocked with a RetryAfter", loser.side, loser.err)
	}
	pipes[loser.side].Close()
	w := pipes[1-loser.side]
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	w.Close()
	winner := <-results
	if winner.err != nil || winner.ev == nil || winner.ev.SHA256 != sha(data) {
		t.Fatalf("the PATCH that won (replica %d): got %+v, %v; want evidence with sha256 %s", winner.side, winner.ev, winner.err, sha(data))
	}
	list, err := f.db.ListEvidence(ctx, f.cs.ID)
	if err != nil || len(list) != 1 {
		t.Fatalf("evidence: got %d items (err %v), want 1", len(list), err)
	}
}

// TestUploadReplicaDeadLease: a replica that died holding an upload's lease
// blocks it until the lease runs out (ErrLocked, RetryAfter at most the
// lease's length); then the other replica continues from the committed
// offset and the stored object is exact.
func TestUploadReplicaDeadLease(t *testing.T) {
	const lease = 1500 * time.Millisecond
	f := newFixture(t, "minio", func(c *domain.UploadConfig) { c.LeaseTTL = lease })
	b, _ := f.replica(t, func(c *domain.UploadConfig) { c.LeaseTTL = lease })
	ctx := context.Background()
	data := mp4Bytes(2*partSize+3, 24)
	up := f.create(t, "dead.mp4", int64(len(data)))
	const first = partSize + 100
	if _, _, err := f.ups.Append(ctx, up.ID, 0, bytes.NewReader(data[:first]), nil); err != nil {
		t.Fatal(err)
	}
	if err := f.ups.TakeLease(ctx, up.ID); err != nil { // replica A dies mid-PATCH
		t.Fatal(err)
	}
	killed := time.Now()
	os.RemoveAll(f.spool)
	_, _, err := b.Append(ctx, up.ID, first, bytes.NewReader(data[first:]), nil)
	var de *domain.Error
	if !errors.Is(err, domain.ErrLocked) || !errors.As(err, &de) || de.RetryAfter <= 0 || de.RetryAfter > lease+time.Millisecond {
		t.Fatalf("PATCH on B while A's lease lives: got %v, want ErrLocked with RetryAfter in (0, %v]", err, lease)
	}
	time.Sleep(de.RetryAfter)
	head, err := b.Upload(ctx, up.ID)
	if err != nil || head.Offset != first {
		t.Fatalf("offset on B: got %v (err %v), want %d", head, err, first)
	}
	_, ev, err := b.Append(ctx, up.ID, head.Offset, bytes.NewReader(data[head.Offset:]), nil)
	if err != nil || ev == nil {
		t.Fatalf("PATCH on B after the lease ran out (%v after A died): got %v, %v; want evidence", time.Since(killed), ev, err)
	}
	if since := time.Since(killed); since > lease+time.Second {
		t.Errorf("B continued %v after A died, want within the lease (%v)", since, lease)
	}
	if got := f.mustContent(t, ev); ev.SHA256 != sha(data) || sha(got) != sha(data) {
		t.Fatalf("stored object: got sha256 %s (recorded %s), want %s", sha(got), ev.SHA256, sha(data))
	}
}
