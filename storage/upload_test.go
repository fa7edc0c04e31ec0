package storage_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"siteinspect/domain"
	"siteinspect/internal/testenv"
	"siteinspect/storage"
	"siteinspect/storage/objects"
)

func TestMain(m *testing.M) { testenv.Main(m) }

const partSize = objects.MinPartSize

// fixture is a case owned by an applicant, ready to receive uploads.
type fixture struct {
	db      *storage.DB
	objects objects.ObjectStore
	minio   *objects.MinIO // nil for Disk
	ups     *storage.Uploads
	spool   string
	user    *domain.User
	cs      *domain.Case
}

func newFixture(t testing.TB, store string, tweak func(*domain.UploadConfig)) *fixture {
	t.Helper()
	ctx := context.Background()
	f := &fixture{db: testenv.NewDB(t), spool: filepath.Join(t.TempDir(), "spool")}
	switch store {
	case "minio":
		f.minio = testenv.NewMinIO(t)
		f.objects = f.minio
	case "disk":
		d, err := objects.NewDisk(filepath.Join(t.TempDir(), "objects"))
		if err != nil {
			t.Fatal(err)
		}
		f.objects = d
	}
	cfg := domain.UploadConfig{SpoolDir: f.spool, PartSize: partSize, PartConcurrency: 2}
	if tweak != nil {
		tweak(&cfg)
	}
	var err error
	if f.ups, err = storage.NewUploads(f.db, f.objects, cfg); err != nil {
		t.Fatal(err)
	}
	if f.user, err = f.db.CreateUser(ctx, "applicant", "correct horse battery", domain.RoleApplicant, "", "Acme"); err != nil {
		t.Fatal(err)
	}
	if f.cs, err = f.db.CreateCase(ctx, f.user, "binhai", "BH", time.UTC, domain.NewCase{PermitType: "hotel", SiteName: "s", SiteAddress: "a"}); err != nil {
		t.Fatal(err)
	}
	return f
}

// mp4Bytes returns n bytes that sniff as an MP4: a real ftyp box, then
// pseudo-random bytes that will not compress or repeat by accident.
func mp4Bytes(n int, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	// ftyp, then an mdat box header: the sniffer wants a box after ftyp.
	copy(b, []byte("\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomavc1\x00\x00\x00\x00mdat"))
	return b
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func (f *fixture) create(t *testing.T, name string, size int64) *domain.Upload {
	t.Helper()
	up, err := f.ups.CreateUpload(context.Background(), f.cs, f.user, size, map[string]string{"filename": name}, "")
	if err != nil {
		t.Fatalf("create upload: %v", err)
	}
	return up
}

// mustContent reads an evidence item's object back whole.
func (f *fixture) mustContent(t *testing.T, ev *domain.Evidence) []byte {
	t.Helper()
	o, err := f.objects.Open(context.Background(), ev.ObjectKey)
	if err != nil {
		t.Fatalf("open %s: %v", ev.ObjectKey, err)
	}
	defer o.Close()
	b, err := io.ReadAll(o)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// brokenReader yields n bytes of r and then fails, as a dropped
// connection does.
type brokenReader struct {
	r io.Reader
	n int
}

func (b *brokenReader) Read(p []byte) (int, error) {
	if b.n <= 0 {
		return 0, io.ErrUnexpectedEOF
	}
	if len(p) > b.n {
		p = p[:b.n]
	}
	k, err := b.r.Read(p)
	b.n -= k
	return k, err
}

// TestUploadResumesAtAnyOffset breaks the body off at offsets around part
// boundaries and resumes from the committed offset each time: the result
// must be byte-identical with the right SHA-256 in both stores.
func TestUploadResumesAtAnyOffset(t *testing.T) {
	for _, store := range []string{"minio", "disk"} {
		t.Run(store, func(t *testing.T) {
			f := newFixture(t, store, nil)
			ctx := context.Background()
			data := mp4Bytes(3*partSize+12345, 1)
			up := f.create(t, "site.mp4", int64(len(data)))
			// Each break is where one request's body fails; the next resumes.
			breaks := []int{1, 4095, 4096, partSize - 1, partSize, partSize + 1, 2*partSize + 777, 3 * partSize}
			var off int64
			for _, b := range breaks {
				_, ev, err := f.ups.Append(ctx, up.ID, off, &brokenReader{r: bytes.NewReader(data[off:]), n: b - int(off)}, nil)
				if err == nil || ev != nil {
					t.Fatalf("append broken at %d: got err %v, evidence %v; want the read error", b, err, ev)
				}
				got, err := f.ups.Upload(ctx, up.ID)
				if err != nil {
					t.Fatal(err)
				}
				if got.Offset != int64(b) {
					t.Fatalf("offset after a break at %d: got %d, want %d (received bytes are kept)", b, got.Offset, b)
				}
				off = got.Offset
			}
			_, ev, err := f.ups.Append(ctx, up.ID, off, bytes.NewReader(data[off:]), nil)
			if err != nil || ev == nil {
				t.Fatalf("final append: got %v, %v; want evidence", ev, err)
			}
			if ev.SHA256 != sha(data) || ev.Size != int64(len(data)) || ev.Kind != domain.KindVideo || ev.ContentType != "video/mp4" {
				t.Fatalf("evidence: got %s %d %s %s, want %s %d video video/mp4", ev.SHA256, ev.Size, ev.Kind, ev.ContentType, sha(data), len(data))
			}
			if got := f.mustContent(t, ev); !bytes.Equal(got, data) {
				t.Fatalf("stored object differs from the upload (%d bytes vs %d)", len(got), len(data))
			}
			if _, err := os.Stat(filepath.Join(f.spool, up.ID)); !os.IsNotExist(err) {
				t.Fatalf("spool of a finished upload: got %v, want it removed", err)
			}
			if _, _, err := f.ups.Append(ctx, up.ID, int64(len(data)), bytes.NewReader(nil), nil); !errors.Is(err, domain.ErrConflict) {
				t.Fatalf("append to a complete upload: got %v, want ErrConflict", err)
			}
		})
	}
}

// TestUploadWrongOffset refuses a chunk that does not start where the
// upload stands (tus core: 409).
func TestUploadWrongOffset(t *testing.T) {
	f := newFixture(t, "disk", nil)
	data := mp4Bytes(10000, 2)
	up := f.create(t, "a.mp4", int64(len(data)))
	if _, _, err := f.ups.Append(context.Background(), up.ID, 5, bytes.NewReader(data[5:]), nil); !errors.Is(err, domain.ErrConflict) {
		t.Fatalf("got %v, want ErrConflict", err)
	}
}

// TestUploadChecksum appends a chunk whose sha256 matches and refuses one
// whose sha256 does not, keeping none of its bytes.
func TestUploadChecksum(t *testing.T) {
	f := newFixture(t, "minio", nil)
	ctx := context.Background()
	data := mp4Bytes(partSize+5000, 3)
	up := f.create(t, "a.mp4", int64(len(data)))
	first := data[:partSize+100]
	good := sha256.Sum256(first)
	bad := sha256.Sum256(data[:10])
	if _, _, err := f.ups.Append(ctx, up.ID, 0, bytes.NewReader(first), &domain.Checksum{Algorithm: "sha256", Sum: bad[:]}); !errors.Is(err, domain.ErrChecksumMismatch) {
		t.Fatalf("bad checksum: got %v, want ErrChecksumMismatch", err)
	}
	if got, _ := f.ups.Upload(ctx, up.ID); got.Offset != 0 {
		t.Fatalf("offset after a refused chunk: got %d, want 0", got.Offset)
	}
	if _, _, err := f.ups.Append(ctx, up.ID, 0, bytes.NewReader(first), &domain.Checksum{Algorithm: "sha256", Sum: good[:]}); err != nil {
		t.Fatalf("good checksum: %v", err)
	}
	rest := data[len(first):]
	restSum := sha256.Sum256(rest)
	_, ev, err := f.ups.Append(ctx, up.ID, int64(len(first)), bytes.NewReader(rest), &domain.Checksum{Algorithm: "sha256", Sum: restSum[:]})
	if err != nil || ev == nil || ev.SHA256 != sha(data) {
		t.Fatalf("final chunk: got %v, %v; want evidence with sha256 %s", ev, err, sha(data))
	}
	if got := f.mustContent(t, ev); !bytes.Equal(got, data) {
		t.Fatal("stored object differs from the upload")
	}
}

// bucketEmpty fails unless the bucket holds no objects and no unfinished
// multipart uploads.
func bucketEmpty(t *testing.T, m *objects.MinIO) {
	t.Helper()
	ctx := context.Background()
	for o := range m.Client().ListObjects(ctx, m.Bucket(), minio.ListObjectsOptions{Recursive: true}) {
		t.Errorf("object left in the bucket: %q (err %v)", o.Key, o.Err)
	}
	for u := range m.Client().ListIncompleteUploads(ctx, m.Bucket(), "", true) {
		t.Errorf("multipart upload left in the bucket: %q (err %v)", u.Key, u.Err)
	}
}

// TestUploadRefusesWhatIsNotMedia: a text file named .mp4 is refused when
// its first bytes arrive, and nothing of it stays anywhere — even when it
// is large enough to have filled parts.
func TestUploadRefusesWhatIsNotMedia(t *testing.T) {
	f := newFixture(t, "minio", nil)
	ctx := context.Background()
	text := bytes.Repeat([]byte("this is only a text file pretending to be a video\n"), (2*partSize)/50)
	up := f.create(t, "site-video.mp4", int64(len(text)))
	_, _, err := f.ups.Append(ctx, up.ID, 0, bytes.NewReader(text), nil)
	if !errors.Is(err, domain.ErrUnsupportedType) {
		t.Fatalf("got %v, want ErrUnsupportedType", err)
	}
	bucketEmpty(t, f.minio)
	if _, err := f.ups.Upload(ctx, up.ID); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("upload record after refusal: got %v, want ErrNotFound", err)
	}
	if _, err := os.Stat(filepath.Join(f.spool, up.ID)); !os.IsNotExist(err) {
		t.Fatalf("spool after refusal: got %v, want none", err)
	}
	if list, _ := f.db.ListEvidence(ctx, f.cs.ID); len(list) != 0 {
		t.Fatalf("evidence after refusal: got %d items, want 0", len(list))
	}
}

// TestUploadSizeLimits: a declared size over the kind's limit is refused
// before any byte; a file declared as a video that is really a large image
// is refused once its bytes show what it is.
func TestUploadSizeLimits(t *testing.T) {
	f := newFixture(t, "minio", func(c *domain.UploadConfig) {
		c.Limits = map[domain.Kind]int64{domain.KindVideo: 20 << 20, domain.KindImage: 1 << 20, domain.KindPDF: 2 << 20}
	})
	ctx := context.Background()
	for _, tt := range []struct {
		name, filetype string
		size           int64
	}{{"big.mp4", "video/mp4", 20<<20 + 1}, {"big.jpg", "", 1<<20 + 1}, {"big.pdf", "application/pdf", 2<<20 + 1}, {"unknown.bin", "", 20<<20 + 1}} {
		_, err := f.ups.CreateUpload(ctx, f.cs, f.user, tt.size, map[string]string{"filename": tt.name, "filetype": tt.filetype}, "")
		if !errors.Is(err, domain.ErrTooLarge) {
			t.Errorf("create %s of %d bytes: got %v, want ErrTooLarge", tt.name, tt.size, err)
		}
	}
	jpeg := append([]byte{0xFF, 0xD8, 0xFF, 0xE0}, mp4Bytes(2<<20, 4)...)
	up := f.create(t, "really-a-photo.mp4", int64(len(jpeg)))
	if _, _, err := f.ups.Append(ctx, up.ID, 0, bytes.NewReader(jpeg), nil); !errors.Is(err, domain.ErrTooLarge) {
		t.Fatalf("2 MiB JPEG named .mp4: got %v, want ErrTooLarge", err)
	}
	bucketEmpty(t, f.minio)
}

// TestUploadExpires: an abandoned upload's multipart upload is aborted in
// MinIO, its spool removed, and later requests hear ErrGone.
func TestUploadExpires(t *testing.T) {
	f := newFixture(t, "minio", func(c *domain.UploadConfig) { c.TTL = 300 * time.Millisecond })
	ctx := context.Background()
	data := mp4Bytes(partSize+1000, 5)
	up := f.create(t, "a.mp4", int64(len(data)))
	if _, _, err := f.ups.Append(ctx, up.ID, 0, &brokenReader{r: bytes.NewReader(data), n: partSize + 10}, nil); err == nil {
		t.Fatal("append: want the read error")
	}
	n := 0
	for u := range f.minio.Client().ListIncompleteUploads(ctx, f.minio.Bucket(), "", true) {
		if u.Err == nil {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("multipart uploads before expiry: got %d, want 1", n)
	}
	time.Sleep(400 * time.Millisecond)
	expired, err := f.ups.Sweep(ctx)
	if err != nil || expired != 1 {
		t.Fatalf("sweep: got %d, %v; want 1 expired", expired, err)
	}
	bucketEmpty(t, f.minio)
	if _, err := os.Stat(filepath.Join(f.spool, up.ID)); !os.IsNotExist(err) {
		t.Fatalf("spool after expiry: got %v, want none", err)
	}
	if _, _, err := f.ups.Append(ctx, up.ID, partSize+10, bytes.NewReader(data[partSize+10:]), nil); !errors.Is(err, domain.ErrGone) {
		t.Fatalf("append after expiry: got %v, want ErrGone", err)
	}
}

// TestUploadTerminate discards an unfinished upload and everything of it.
func TestUploadTerminate(t *testing.T) {
	f := newFixture(t, "minio", nil)
	ctx := context.Background()
	data := mp4Bytes(2*partSize+1, 6)
	up := f.create(t, "a.mp4", int64(len(data)))
	f.ups.Append(ctx, up.ID, 0, &brokenReader{r: bytes.NewReader(data), n: 2*partSize - 3}, nil)
	if err := f.ups.Terminate(ctx, up.ID); err != nil {
		t.Fatalf("terminate: %v", err)
	}
	bucketEmpty(t, f.minio)
	if _, err := f.ups.Upload(ctx, up.ID); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("after terminate: got %v, want ErrNotFound", err)
	}
}

// TestUploadConcurrentAppend: while one request writes, a second one on the
// same upload is refused with ErrLocked, told to retry once the lease could
// end, and corrupts nothing.
func TestUploadConcurrentAppend(t *testing.T) {
	f := newFixture(t, "disk", nil)
	ctx := context.Background()
	data := mp4Bytes(1<<20, 7)
	up := f.create(t, "a.mp4", int64(len(data)))
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		_, _, err := f.ups.Append(ctx, up.ID, 0, pr, nil)
		done <- err
	}()
	pw.Write(data[:1000]) // the first writer now holds the lease
	_, _, err := f.ups.Append(ctx, up.ID, 0, bytes.NewReader(data), nil)
	var de *domain.Error
	if !errors.Is(err, domain.ErrLocked) || !errors.As(err, &de) || de.Code != "upload_busy" || de.RetryAfter <= 0 || de.RetryAfter > storage.DefaultLeaseTTL+time.Millisecond {
		t.Fatalf("second writer: got %#v, want ErrLocked upload_busy with a RetryAfter in (0, %v]", err, storage.DefaultLeaseTTL)
	}
	pw.Write(data[1000:])
	pw.Close()
	if err := <-done; err != nil {
		t.Fatalf("first writer: %v", err)
	}
	list, _ := f.db.ListEvidence(ctx, f.cs.ID)
	if len(list) != 1 || list[0].SHA256 != sha(data) {
		t.Fatalf("evidence: got %d items, want one with sha256 %s", len(list), sha(data))
	}
}
