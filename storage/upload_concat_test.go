package storage_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"siteinspect/domain"
	"siteinspect/storage/objects"
)

// mustPartials uploads data as partial uploads of the given sizes, all at
// once, and returns their ids in order.
func (f *fixture) mustPartials(t *testing.T, data []byte, sizes ...int) []string {
	t.Helper()
	ctx := context.Background()
	ids := make([]string, len(sizes))
	errs := make([]error, len(sizes))
	var wg sync.WaitGroup
	off := 0
	for i, n := range sizes {
		up, err := f.ups.Create(ctx, f.cs, f.user, domain.UploadSpec{Length: int64(n), Partial: true})
		if err != nil {
			t.Fatalf("create partial %d: %v", i, err)
		}
		ids[i] = up.ID
		chunk := data[off : off+n]
		off += n
		wg.Add(1)
		go func() {
			defer wg.Done()
			var ev *domain.Evidence
			_, ev, errs[i] = f.ups.Append(ctx, up.ID, 0, bytes.NewReader(chunk), nil)
			if errs[i] == nil && ev != nil {
				errs[i] = fmt.Errorf("a partial upload became evidence %s", ev.ID)
			}
		}()
	}
	wg.Wait()
	if off != len(data) {
		t.Fatalf("partial sizes add up to %d, want %d", off, len(data))
	}
	for i, err := range errs {
		if err != nil {
			t.Fatalf("partial %d: %v", i, err)
		}
	}
	return ids
}

// objectKeys lists what the bucket holds.
func objectKeys(t *testing.T, m *objects.MinIO) []string {
	t.Helper()
	var keys []string
	for o := range m.Client().ListObjects(context.Background(), m.Bucket(), minio.ListObjectsOptions{Recursive: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		keys = append(keys, o.Key)
	}
	return keys
}

// TestConcatJoinsPartials: partial uploads sent at once and joined by a
// final upload give one evidence item whose bytes and SHA-256 are the
// source's, with S3's server-side compose (parts of 5 MiB and more) and
// with the streamed fallback (smaller parts), and on the disk store; the
// partial objects are gone afterwards, and the partial uploads cannot be
// joined again except by the same final POST, which gets the same upload.
func TestConcatJoinsPartials(t *testing.T) {
	for _, tt := range []struct {
		name, store string
		sizes       []int
	}{
		{"minio compose", "minio", []int{partSize + 17, 2*partSize + 1, 1000}},
		{"minio small parts", "minio", []int{1 << 20, 3<<20 + 5, 700 << 10}},
		{"disk", "disk", []int{partSize + 17, 1 << 20, 123}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.store, nil)
			ctx := context.Background()
			total := 0
			for _, n := range tt.sizes {
				total += n
			}
			data := mp4Bytes(total, uint64(total))
			ids := f.mustPartials(t, data, tt.sizes...)
			final, err := f.ups.CreateFinal(ctx, f.cs, f.user, ids, map[string]string{"filename": "walk.mp4"}, "")
			if err != nil {
				t.Fatalf("create final: %v", err)
			}
			if final.Length != int64(total) {
				t.Fatalf("final length: got %d, want %d", final.Length, total)
			}
			if _, err := f.ups.CreateFinal(ctx, f.cs, f.user, ids[1:], map[string]string{"filename": "again.mp4"}, ""); !errors.Is(err, domain.ErrConflict) {
				t.Fatalf("second final naming claimed partials: got %v, want ErrConflict", err)
			}
			up, ev, err := f.ups.Finish(ctx, final.ID)
			if err != nil || ev == nil {
				t.Fatalf("finish final: got %v, %v; want evidence", ev, err)
			}
			if ev.SHA256 != sha(data) || ev.Size != int64(total) || ev.Kind != domain.KindVideo || up.State != domain.UploadComplete {
				t.Fatalf("evidence: got sha %s size %d kind %s state %s, want sha %s size %d video complete", ev.SHA256, ev.Size, ev.Kind, up.State, sha(data), total)
			}
			if got := f.mustContent(t, ev); !bytes.Equal(got, data) {
				t.Fatalf("stored object: got %d bytes (sha %s), want the source's %d (sha %s)", len(got), sha(got), total, sha(data))
			}
			if f.minio != nil {
				if keys := objectKeys(t, f.minio); len(keys) != 1 || keys[0] != ev.ObjectKey {
					t.Errorf("bucket after the join: got %q, want only %q", keys, ev.ObjectKey)
				}
			}
			// The same final again (a lost answer) is the same upload; any
			// other use of the partials is refused.
			again, err := f.ups.CreateFinal(ctx, f.cs, f.user, ids, map[string]string{"filename": "again.mp4"}, "")
			if err != nil || again.ID != final.ID || again.EvidenceID != ev.ID || again.State != domain.UploadComplete {
				t.Fatalf("the same final again: got %+v, %v; want upload %s with evidence %s", again, err, final.ID, ev.ID)
			}
			if _, ev2, err := f.ups.Finish(ctx, again.ID); err != nil || ev2 != nil {
				t.Fatalf("finish of the replayed final: got %v, %v; want no new evidence", ev2, err)
			}
			if _, err := f.ups.CreateFinal(ctx, f.cs, f.user, []string{ids[1], ids[0]}, map[string]string{"filename": "again.mp4"}, ""); !errors.Is(err, domain.ErrConflict) {
				t.Fatalf("final naming used partials in another order: got %v, want ErrConflict", err)
			}
			if list, err := f.db.ListEvidence(ctx, f.cs.ID); err != nil || len(list) != 1 {
				t.Fatalf("evidence of the case: got %d items, %v; want 1", len(list), err)
			}
		})
	}
}

// TestConcatRefusesOthersPartials: a final upload may join only its own
// user's complete partial uploads of the same case.
func TestConcatRefusesOthersPartials(t *testing.T) {
	f := newFixture(t, "disk", nil)
	ctx := context.Background()
	other, err := f.db.CreateUser(ctx, "other", "correct horse battery", domain.RoleApplicant, "", "Other Co")
	if err != nil {
		t.Fatal(err)
	}
	otherCase, err := f.db.CreateCase(ctx, other, "binhai", "BH", time.UTC, domain.NewCase{PermitType: "hotel", SiteName: "o", SiteAddress: "b"})
	if err != nil {
		t.Fatal(err)
	}
	myOtherCase, err := f.db.CreateCase(ctx, f.user, "binhai", "BH", time.UTC, domain.NewCase{PermitType: "hotel", SiteName: "m", SiteAddress: "c"})
	if err != nil {
		t.Fatal(err)
	}
	data := mp4Bytes(2000, 9)
	mine := f.mustPartials(t, data, 1000, 1000)
	partial := func(c *domain.Case, u *domain.User, complete bool) string {
		up, err := f.ups.Create(ctx, c, u, domain.UploadSpec{Length: 1000, Partial: true})
		if err != nil {
			t.Fatal(err)
		}
		if complete {
			if _, _, err := f.ups.Append(ctx, up.ID, 0, bytes.NewReader(data[:1000]), nil); err != nil {
				t.Fatal(err)
			}
		}
		return up.ID
	}
	plain := f.create(t, "plain.mp4", 1000)
	for _, tt := range []struct {
		name     string
		id       string
		wantKind error
		wantCode string
	}{
		{"another user's", partial(otherCase, other, true), domain.ErrNotFound, domain.CodePartialNotFound},
		{"another case's", partial(myOtherCase, f.user, true), domain.ErrForbidden, domain.CodePartialOtherCase},
		{"incomplete", partial(f.cs, f.user, false), domain.ErrConflict, domain.CodePartialOpen},
		{"not partial", plain.ID, domain.ErrInvalid, domain.CodeNotPartial},
		{"missing", "no-such-upload", domain.ErrNotFound, domain.CodePartialNotFound},
	} {
		_, err := f.ups.CreateFinal(ctx, f.cs, f.user, []string{mine[0], tt.id, mine[1]}, map[string]string{"filename": "x.mp4"}, "")
		var se *domain.Error
		if !errors.Is(err, tt.wantKind) || !errors.As(err, &se) || se.Code != tt.wantCode {
			t.Errorf("%s partial: got %v, want %v with code %s", tt.name, err, tt.wantKind, tt.wantCode)
		}
	}
	// The refusals claimed nothing: my partials still join.
	final, err := f.ups.CreateFinal(ctx, f.cs, f.user, mine, map[string]string{"filename": "x.mp4"}, "")
	if err != nil {
		t.Fatalf("final of my own partials after the refusals: %v", err)
	}
	if _, ev, err := f.ups.Finish(ctx, final.ID); err != nil || ev == nil || ev.SHA256 != sha(data) {
		t.Fatalf("finish: got %+v, %v; want evidence with sha %s", ev, err, sha(data))
	}
}

// TestConcatTypeCheckedOnJoinedBytes: a partial upload's bytes are not
// checked on their own (the second part of a video is no video), but the
// joined file is; a refused one leaves nothing behind.
func TestConcatTypeCheckedOnJoinedBytes(t *testing.T) {
	f := newFixture(t, "minio", nil)
	ctx := context.Background()
	text := []byte(strings.Repeat("only a text file pretending to be a video\n", (partSize+1000)/42))
	ids := f.mustPartials(t, text, partSize, len(text)-partSize)
	final, err := f.ups.CreateFinal(ctx, f.cs, f.user, ids, map[string]string{"filename": "fake.mp4"}, "")
	if err != nil {
		t.Fatalf("create final: %v", err)
	}
	if _, _, err := f.ups.Finish(ctx, final.ID); !errors.Is(err, domain.ErrUnsupportedType) {
		t.Fatalf("finish: got %v, want ErrUnsupportedType", err)
	}
	bucketEmpty(t, f.minio)
	for _, id := range append(ids, final.ID) {
		if _, err := f.ups.Upload(ctx, id); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("upload %s after the refusal: got %v, want ErrNotFound", id, err)
		}
	}
}

// TestConcatPartialsExpire: partial uploads no final upload claimed expire
// like any upload, complete or not, their bytes removed; a final upload
// naming one then hears ErrGone.
func TestConcatPartialsExpire(t *testing.T) {
	// Long enough that the set-up below ends before it on a loaded machine.
	const ttl = 5 * time.Second
	f := newFixture(t, "minio", func(c *domain.UploadConfig) { c.TTL = ttl })
	ctx := context.Background()
	data := mp4Bytes(partSize+10, 11)
	done := f.mustPartials(t, data, partSize+10)
	open, err := f.ups.Create(ctx, f.cs, f.user, domain.UploadSpec{Length: 2 * partSize, Partial: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.ups.Append(ctx, open.ID, 0, bytes.NewReader(data[:partSize+5]), nil); err != nil {
		t.Fatal(err)
	}
	if n, err := f.ups.Sweep(ctx); err != nil || n != 0 {
		t.Fatalf("sweep before the TTL: got %d, %v; want 0 expired", n, err)
	}
	// The open one's 5 bytes past its full part wait in its tail object.
	if keys := objectKeys(t, f.minio); len(keys) != 2 || !strings.Contains(keys[0]+keys[1], open.ID+"/tail-") {
		t.Fatalf("bucket before expiry: got %q, want the complete partial's object and the open one's tail", keys)
	}
	time.Sleep(ttl + 100*time.Millisecond)
	if n, err := f.ups.Sweep(ctx); err != nil || n != 2 {
		t.Fatalf("sweep: got %d, %v; want 2 expired", n, err)
	}
	bucketEmpty(t, f.minio)
	for _, id := range []string{done[0], open.ID} {
		if up, err := f.ups.Upload(ctx, id); err != nil || up.State != domain.UploadExpired {
			t.Errorf("partial %s after the sweep: got %+v, %v; want state expired", id, up, err)
		}
	}
	if _, err := f.ups.CreateFinal(ctx, f.cs, f.user, done, map[string]string{"filename": "late.mp4"}, ""); !errors.Is(err, domain.ErrGone) {
		t.Fatalf("final naming an expired partial: got %v, want ErrGone", err)
	}

	// A final upload whose join never ran expires too, and takes its
	// partial uploads with it.
	claimed := f.mustPartials(t, data, partSize, 10)
	final, err := f.ups.CreateFinal(ctx, f.cs, f.user, claimed, map[string]string{"filename": "never.mp4"}, "")
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(ttl + 100*time.Millisecond)
	if n, err := f.ups.Sweep(ctx); err != nil || n != 1 {
		t.Fatalf("sweep of the final upload: got %d, %v; want 1 expired", n, err)
	}
	bucketEmpty(t, f.minio)
	for _, id := range claimed {
		if _, err := f.ups.Upload(ctx, id); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("partial %s of the expired final upload: got %v, want ErrNotFound", id, err)
		}
	}
	if up, err := f.ups.Upload(ctx, final.ID); err != nil || up.State != domain.UploadExpired {
		t.Fatalf("final upload after the sweep: got %+v, %v; want expired", up, err)
	}

	// Partial uploads a final upload joined are kept one TTL (for a
	// repeated final POST), then swept; the evidence stays.
	joined := f.mustPartials(t, data, partSize, 10)
	final, err = f.ups.CreateFinal(ctx, f.cs, f.user, joined, map[string]string{"filename": "kept.mp4"}, "")
	if err != nil {
		t.Fatal(err)
	}
	_, ev, err := f.ups.Finish(ctx, final.ID)
	if err != nil || ev == nil {
		t.Fatalf("finish: got %v, %v; want evidence", ev, err)
	}
	time.Sleep(ttl + 100*time.Millisecond)
	if _, err := f.ups.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	for _, id := range joined {
		if _, err := f.ups.Upload(ctx, id); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("joined partial %s a TTL later: got %v, want ErrNotFound", id, err)
		}
	}
	if keys := objectKeys(t, f.minio); len(keys) != 1 || keys[0] != ev.ObjectKey {
		t.Errorf("bucket: got %q, want only the evidence %q", keys, ev.ObjectKey)
	}
}

// TestDeferLengthGrowingFile: an upload created without a length takes the
// bytes of a file as it grows, over part boundaries, and completes when a
// later call declares the length, which cannot change afterwards.
func TestDeferLengthGrowingFile(t *testing.T) {
	for _, total := range []int{2*partSize + 4321, 2 * partSize} {
		t.Run(fmt.Sprint(total), func(t *testing.T) {
			f := newFixture(t, "minio", nil)
			ctx := context.Background()
			data := mp4Bytes(total, uint64(total))
			up, err := f.ups.Create(ctx, f.cs, f.user, domain.UploadSpec{DeferLength: true, Metadata: map[string]string{"filename": "rec.webm"}})
			if err != nil {
				t.Fatal(err)
			}
			// The file grows in uneven steps; each step is sent as it appears.
			for off, step := 0, 0; off < total; off += step {
				step = min(total-off, partSize/3+off%7)
				got, ev, err := f.ups.Append(ctx, up.ID, int64(off), bytes.NewReader(data[off:off+step]), nil)
				if err != nil || ev != nil || got.Offset != int64(off+step) {
					t.Fatalf("append at %d: got offset %d, evidence %v, %v; want offset %d and no evidence", off, got.Offset, ev, err, off+step)
				}
			}
			if _, err := f.ups.DeclareLength(ctx, up.ID, int64(total)-1); !errors.Is(err, domain.ErrInvalid) {
				t.Fatalf("length below the bytes received: got %v, want ErrInvalid", err)
			}
			got, err := f.ups.DeclareLength(ctx, up.ID, int64(total))
			if err != nil || got.Length != int64(total) || got.LengthDeferred {
				t.Fatalf("declare: got %+v, %v; want length %d", got, err, total)
			}
			if _, err := f.ups.DeclareLength(ctx, up.ID, int64(total)+1); !errors.Is(err, domain.ErrInvalid) {
				t.Fatalf("declaring another length: got %v, want ErrInvalid", err)
			}
			_, ev, err := f.ups.Append(ctx, up.ID, int64(total), bytes.NewReader(nil), nil)
			if err != nil || ev == nil {
				t.Fatalf("final empty append: got %v, %v; want evidence", ev, err)
			}
			if ev.Size != int64(total) || ev.SHA256 != sha(data) {
				t.Fatalf("evidence: got size %d sha %s, want %d %s", ev.Size, ev.SHA256, total, sha(data))
			}
			if content := f.mustContent(t, ev); !bytes.Equal(content, data) {
				t.Fatalf("stored object: got %d bytes, want the source's %d", len(content), total)
			}
		})
	}
}
