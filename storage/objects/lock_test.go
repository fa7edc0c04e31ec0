package objects_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"siteinspect/domain"
	"siteinspect/internal/testenv"
	"siteinspect/storage/objects"

	"github.com/minio/minio-go/v7"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// lockedStore opens a MinIO store on a fresh bucket (made with object
// locking) whose originals are retained for keep.
func lockedStore(t *testing.T, keep time.Duration, hold func(key string) bool) *objects.MinIO {
	t.Helper()
	cfg := testenv.MinIOConfig(t)
	cfg.Retention = func(ctx context.Context, key string) (objects.Lock, error) {
		return objects.Lock{Until: time.Now().Add(keep), Hold: hold != nil && hold(key)}, nil
	}
	m, err := objects.NewMinIO(context.Background(), cfg)
	if err != nil {
		t.Fatalf("open MinIO: %v", err)
	}
	if !m.Locking() || !m.WORM() {
		t.Fatalf("a new bucket: Locking %v, WORM %v; want both true", m.Locking(), m.WORM())
	}
	return m
}

func mustPut(t *testing.T, s objects.ObjectStore, key, body string) {
	t.Helper()
	if err := s.Put(context.Background(), key, strings.NewReader(body), int64(len(body)), "application/octet-stream"); err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
}

func read(t *testing.T, s objects.ObjectStore, key string) string {
	t.Helper()
	o, err := s.Open(context.Background(), key)
	if err != nil {
		t.Fatalf("open %s: %v", key, err)
	}
	defer o.Close()
	b, err := io.ReadAll(o)
	if err != nil {
		t.Fatalf("read %s: %v", key, err)
	}
	return string(b)
}

// isLocked checks err is the refusal of a locked original.
func isLocked(t *testing.T, what string, err error) {
	t.Helper()
	var de *domain.Error
	if !errors.As(err, &de) || de.Code != objects.CodeOriginalLocked || !errors.Is(err, domain.ErrForbidden) {
		t.Errorf("%s: got %v, want ErrForbidden with code %s", what, err, objects.CodeOriginalLocked)
	}
}

// versions lists every version and delete marker under prefix.
func versions(t *testing.T, m *objects.MinIO, prefix string) []minio.ObjectInfo {
	t.Helper()
	var out []minio.ObjectInfo
	for o := range m.Client().ListObjects(context.Background(), m.Bucket(), minio.ListObjectsOptions{Prefix: prefix, Recursive: true, WithVersions: true}) {
		if o.Err != nil {
			t.Fatalf("list versions: %v", o.Err)
		}
		out = append(out, o)
	}
	return out
}

// TestLockedOriginalCannotBeDeletedOrReplaced: an original written to a
// locked bucket carries a COMPLIANCE retention; the store refuses to delete
// or replace it, and S3 itself refuses to delete its version even with the
// governance bypass an administrator could send. Derived files are not
// locked: they are replaced (reads get the newest version) and deleted.
func TestLockedOriginalCannotBeDeletedOrReplaced(t *testing.T) {
	ctx := context.Background()
	m := lockedStore(t, 4*time.Second, nil)
	orig := domain.EvidenceKey("c1", "e1")
	before := time.Now()
	mustPut(t, m, orig, "the footage")

	until, err := m.RetainUntil(ctx, orig)
	if err != nil {
		t.Fatal(err)
	}
	if lo, hi := before.Add(3*time.Second), time.Now().Add(5*time.Second); until.Before(lo) || until.After(hi) {
		t.Errorf("retain until %s; want between %s and %s", until, lo, hi)
	}
	mode, _, err := m.Client().GetObjectRetention(ctx, m.Bucket(), orig, "")
	if err != nil || mode == nil || *mode != minio.Compliance {
		t.Errorf("retention mode: got %v, %v; want COMPLIANCE", mode, err)
	}

	isLocked(t, "store delete", m.Delete(ctx, orig))
	isLocked(t, "store overwrite", m.Put(ctx, orig, strings.NewReader("forged"), 6, "video/mp4"))
	if got := read(t, m, orig); got != "the footage" {
		t.Errorf("original after the refused overwrite: got %q, want %q", got, "the footage")
	}
	// The same bytes again are a retry (a recording stored before its
	// record failed): accepted, and nothing new is written.
	mustPut(t, m, orig, "the footage")
	isLocked(t, "store overwrite with as many bytes", m.Put(ctx, orig, strings.NewReader("the fuotage"), 11, "video/mp4"))

	// Past the store, as an administrator with the S3 API: deleting the
	// version fails, bypass or not.
	vs := versions(t, m, orig)
	if len(vs) != 1 {
		t.Fatalf("versions of the original: got %d, want 1", len(vs))
	}
	for _, bypass := range []bool{false, true} {
		err := m.Client().RemoveObject(ctx, m.Bucket(), orig, minio.RemoveObjectOptions{VersionID: vs[0].VersionID, GovernanceBypass: bypass})
		if err == nil {
			t.Fatalf("S3 delete of the locked version (bypass %v) succeeded", bypass)
		}
		r := minio.ToErrorResponse(err)
		t.Logf("S3 delete of the locked version (bypass %v): %v (%d %s)", bypass, err, r.StatusCode, r.Code)
	}
	// Shortening a COMPLIANCE retention is refused too.
	short, mode2 := time.Now().Add(time.Second), minio.Compliance
	if err := m.Client().PutObjectRetention(ctx, m.Bucket(), orig, minio.PutObjectRetentionOptions{Mode: &mode2, RetainUntilDate: &short, GovernanceBypass: true}); err == nil {
		t.Errorf("shortening the retention succeeded")
	}
	// A plain S3 PUT over it makes a new version; the locked one stays
	// and is read back by its version id.
	if _, err := m.Client().PutObject(ctx, m.Bucket(), orig, strings.NewReader("forged"), 6, minio.PutObjectOptions{}); err != nil {
		t.Fatalf("raw S3 put: %v", err)
	}
	o, err := m.Client().GetObject(ctx, m.Bucket(), orig, minio.GetObjectOptions{VersionID: vs[0].VersionID})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(o)
	o.Close()
	if string(b) != "the footage" {
		t.Errorf("the locked version after a raw S3 put: got %q, want %q", b, "the footage")
	}

	// A multipart upload of an original is locked too, and a second
	// completion onto the same key is refused.
	key := domain.EvidenceKey("c1", "e2")
	part := bytes.Repeat([]byte("v"), objects.MinPartSize)
	complete := func() error {
		id, err := m.CreateMultipart(ctx, key, "video/mp4")
		if err != nil {
			return err
		}
		etag, err := m.PutPart(ctx, key, id, 1, bytes.NewReader(part), int64(len(part)))
		if err != nil {
			return err
		}
		err = m.CompleteMultipart(ctx, key, id, []objects.Part{{Number: 1, ETag: etag, Size: int64(len(part))}})
		if err != nil {
			m.AbortMultipart(ctx, key, id)
		}
		return err
	}
	if err := complete(); err != nil {
		t.Fatalf("multipart original: %v", err)
	}
	if until, err := m.RetainUntil(ctx, key); err != nil || until.Before(time.Now()) {
		t.Errorf("multipart original retained until %s (%v); want a future time", until, err)
	}
	isLocked(t, "second multipart completion", complete())

	// A tus concatenation (server-side compose) of an original is locked
	// too; the same join retried finds its result.
	joined := domain.EvidenceKey("c1", "e3")
	p1, p2 := domain.PartialKey("c1", "u1"), domain.PartialKey("c1", "u2")
	for _, k := range []string{p1, p2} {
		if err := m.Put(ctx, k, bytes.NewReader(part), int64(len(part)), ""); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 2 {
		if err := m.Compose(ctx, joined, []string{p1, p2}, "video/mp4"); err != nil {
			t.Fatalf("compose %d: %v", i+1, err)
		}
	}
	if until, err := m.RetainUntil(ctx, joined); err != nil || until.Before(time.Now()) {
		t.Errorf("composed original retained until %s (%v); want a future time", until, err)
	}
	if vs := versions(t, m, joined); len(vs) != 1 {
		t.Errorf("composed original: %d versions, want 1", len(vs))
	}
	isLocked(t, "compose over an original with other bytes", m.Compose(ctx, joined, []string{p1}, "video/mp4"))

	// Derived files: replaced, newest read back, deletable.
	poster := domain.DerivedKey("c1", "e1", domain.DerivedPoster)
	mustPut(t, m, poster, "poster v1")
	mustPut(t, m, poster, "poster v2")
	if got := read(t, m, poster); got != "poster v2" {
		t.Errorf("derived file after a rebuild: got %q, want %q", got, "poster v2")
	}
	if until, err := m.RetainUntil(ctx, poster); err != nil || !until.IsZero() {
		t.Errorf("derived file retained until %s (%v); want no retention", until, err)
	}
	if err := m.Delete(ctx, poster); err != nil {
		t.Fatalf("delete derived: %v", err)
	}
	if _, err := m.Stat(ctx, poster); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("derived file after delete: got %v, want ErrNotFound", err)
	}
	// Partial uploads are not originals either.
	partial := domain.PartialKey("c1", "u1")
	mustPut(t, m, partial, "half")
	if err := m.Delete(ctx, partial); err != nil {
		t.Errorf("delete partial upload: %v", err)
	}
}

// TestLegalHoldOutlivesRetention: a held original stays past its
// retention date (neither S3 nor Purge can remove it) until the hold is
// lifted; then Purge removes every version.
func TestLegalHoldOutlivesRetention(t *testing.T) {
	ctx := context.Background()
	m := lockedStore(t, 2*time.Second, nil)
	orig := domain.EvidenceKey("held", "e1")
	mustPut(t, m, orig, "appealed footage")
	if err := m.SetLegalHold(ctx, orig, true); err != nil {
		t.Fatalf("set hold: %v", err)
	}
	if on, err := m.LegalHold(ctx, orig); err != nil || !on {
		t.Fatalf("hold: got %v, %v; want on", on, err)
	}
	until, err := m.RetainUntil(ctx, orig)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Until(until) + 1500*time.Millisecond)

	vs := versions(t, m, orig)
	if err := m.Client().RemoveObject(ctx, m.Bucket(), orig, minio.RemoveObjectOptions{VersionID: vs[0].VersionID, GovernanceBypass: true}); err == nil {
		t.Fatalf("S3 delete of a held version past its retention succeeded")
	}
	res, err := m.Purge(ctx, objects.CasePrefix("held"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Removed != 0 || !slices.Equal(res.Kept, []string{orig}) {
		t.Errorf("purge while held: got %+v, want nothing removed and %s kept", res, orig)
	}
	if got := read(t, m, orig); got != "appealed footage" {
		t.Errorf("held original: got %q", got)
	}

	if err := m.SetLegalHold(ctx, orig, false); err != nil {
		t.Fatalf("lift hold: %v", err)
	}
	if res, err = m.Purge(ctx, objects.CasePrefix("held")); err != nil {
		t.Fatal(err)
	}
	if res.Removed != 1 || len(res.Kept) != 0 {
		t.Errorf("purge after the hold: got %+v, want 1 removed, none kept", res)
	}
	if vs := versions(t, m, objects.CasePrefix("held")); len(vs) != 0 {
		t.Errorf("versions left after the purge: %d", len(vs))
	}
}

// TestPurgeRemovesOnlyWhatItMay: before an original's retention passes,
// Purge removes the case's derived files (every version) but keeps the
// original; another case's objects are never touched; once the retention
// passes the original goes too.
func TestPurgeRemovesOnlyWhatItMay(t *testing.T) {
	ctx := context.Background()
	// 5 s: the first Purge must come before the retention passes even on
	// a machine starved by other tests.
	m := lockedStore(t, 5*time.Second, func(key string) bool { return objects.CaseOfKey(key) == "held" })
	a, other, held := domain.EvidenceKey("a", "e1"), domain.EvidenceKey("b", "e1"), domain.EvidenceKey("held", "e1")
	mustPut(t, m, a, "a footage")
	mustPut(t, m, other, "b footage")
	mustPut(t, m, held, "held footage")
	rec := "cases/a/live/l1/recording.webm"
	mustPut(t, m, rec, "a recording")
	for _, v := range []string{"v1", "v2"} {
		mustPut(t, m, domain.DerivedKey("a", "e1", domain.DerivedProxy), v)
		mustPut(t, m, domain.DerivedKey("b", "e1", domain.DerivedProxy), v)
	}

	res, err := m.Purge(ctx, objects.CasePrefix("a"))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(res.Kept)
	if want := []string{a, rec}; res.Removed != 2 || !slices.Equal(res.Kept, want) {
		t.Errorf("purge before the retention: got %+v, want 2 removed (the proxy's versions), kept %v", res, want)
	}
	// The recording was the last of case a's originals written.
	until, err := m.RetainUntil(ctx, rec)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Until(until) + 1500*time.Millisecond)
	if res, err = m.Purge(ctx, objects.CasePrefix("a")); err != nil {
		t.Fatal(err)
	}
	if res.Removed != 2 || len(res.Kept) != 0 {
		t.Errorf("purge after the retention: got %+v, want 2 removed, none kept", res)
	}
	if vs := versions(t, m, objects.CasePrefix("a")); len(vs) != 0 {
		t.Errorf("case a after the purge: %d versions left", len(vs))
	}
	if got := len(versions(t, m, objects.CasePrefix("b"))); got != 3 {
		t.Errorf("case b's versions after purging a: got %d, want 3", got)
	}
	if res, err = m.Purge(ctx, objects.CasePrefix("held")); err != nil || res.Removed != 0 || len(res.Kept) != 1 {
		t.Errorf("purge of the held case past retention: got %+v, %v; want its original kept", res, err)
	}
	if got := read(t, m, other); got != "b footage" {
		t.Errorf("case b's original: got %q", got)
	}
}

// TestBucketWithoutLocking: an existing bucket made without object locking
// is used as it is: Locking reports false (the start-up warns), originals
// are stored unlocked but still never replaced nor deleted by the store,
// and a legal hold is refused with its code.
func TestBucketWithoutLocking(t *testing.T) {
	ctx := context.Background()
	cfg := testenv.MinIOConfig(t)
	plain, err := objects.NewMinIO(ctx, objects.MinIOConfig{Endpoint: cfg.Endpoint, AccessKey: cfg.AccessKey, SecretKey: cfg.SecretKey, Bucket: "probe-" + cfg.Bucket})
	if err != nil {
		t.Fatal(err)
	}
	if err := plain.Client().MakeBucket(ctx, cfg.Bucket, minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	cfg.Retention = objects.FixedRetention(time.Hour)
	m, err := objects.NewMinIO(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if m.Locking() || m.WORM() {
		t.Fatalf("a bucket without locking: Locking %v, WORM %v; want false", m.Locking(), m.WORM())
	}
	orig := domain.EvidenceKey("c", "e")
	mustPut(t, m, orig, "footage")
	isLocked(t, "overwrite on an unlocked bucket", m.Put(ctx, orig, strings.NewReader("x"), 1, ""))
	isLocked(t, "delete on an unlocked bucket", m.Delete(ctx, orig))
	var de *domain.Error
	if err := m.SetLegalHold(ctx, orig, true); !errors.As(err, &de) || de.Code != objects.CodeBucketNotLocked {
		t.Errorf("legal hold on an unlocked bucket: got %v, want code %s", err, objects.CodeBucketNotLocked)
	}
}

// TestDiskRefusesDeletingOriginals: the disk store cannot be WORM, but it
// never deletes nor replaces an original itself; only Purge removes one.
func TestDiskRefusesDeletingOriginals(t *testing.T) {
	ctx := context.Background()
	d, err := objects.NewDisk(filepath.Join(t.TempDir(), "objects"))
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{domain.EvidenceKey("c", "e"), "cases/c/live/l/recording.webm", "cases/c/live/l/snapshots/s.jpg"} {
		mustPut(t, d, key, "footage")
		isLocked(t, "disk delete of "+key, d.Delete(ctx, key))
		isLocked(t, "disk overwrite of "+key, d.Put(ctx, key, strings.NewReader("forged"), 6, ""))
		mustPut(t, d, key, "footage") // the same write retried
		isLocked(t, "disk overwrite of "+key+" with as many bytes", d.Put(ctx, key, strings.NewReader("fuotage"), 7, ""))
		if got := read(t, d, key); got != "footage" {
			t.Errorf("%s after refusals: got %q", key, got)
		}
	}
	poster := domain.DerivedKey("c", "e", domain.DerivedPoster)
	mustPut(t, d, poster, "p1")
	mustPut(t, d, poster, "p2")
	if got := read(t, d, poster); got != "p2" {
		t.Errorf("derived after a rebuild: got %q, want p2", got)
	}
	mustPut(t, d, domain.EvidenceKey("other", "e"), "kept")
	res, err := d.Purge(ctx, objects.CasePrefix("c"))
	if err != nil || res.Removed != 4 {
		t.Fatalf("disk purge: got %+v, %v; want 4 removed", res, err)
	}
	if _, err := d.Stat(ctx, domain.EvidenceKey("c", "e")); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("original after purge: got %v, want ErrNotFound", err)
	}
	if got := read(t, d, domain.EvidenceKey("other", "e")); got != "kept" {
		t.Errorf("other case after purge: got %q", got)
	}
}

// TestIsOriginal pins which keys are evidence.
func TestIsOriginal(t *testing.T) {
	for key, want := range map[string]bool{
		domain.EvidenceKey("c", "e"):                              true,
		"cases/c/live/l/recording.webm":                           true,
		"cases/c/live/l/recording.mp4":                            true,
		"cases/c/live/l/snapshots/x.jpg":                          true,
		domain.DerivedKey("c", "e", domain.DerivedPoster):         false,
		domain.DerivedKey("c", "e", domain.DerivedPage(1, false)): false,
		domain.PartialKey("c", "u"):                               false,
		"cases/c/evidence/e/original/x":                           false,
		"reports/c/report.pdf":                                    false,
	} {
		if got := objects.IsOriginal(key); got != want {
			t.Errorf("IsOriginal(%q): got %v, want %v", key, got, want)
		}
	}
}
