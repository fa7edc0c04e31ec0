package storage_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"siteinspect/domain"
)

// TestUploadCompanyQuota: a company's uploads of the last 24 hours, over
// all its cases, are bounded in bytes declared (64 GiB: eight of the
// largest videos) and in number (1000): past either, creating an upload is
// refused (413 upload_quota_exceeded) before anything is stored, so one
// applicant cannot fill the object store, whose originals stay locked for
// the retention period, nor the spool with open uploads. An upload
// terminated gives its share back; another company is not affected.
func TestUploadCompanyQuota(t *testing.T) {
	f := newFixture(t, "disk", nil)
	ctx := context.Background()
	video := func(cs *domain.Case, u *domain.User, n int) error {
		_, err := f.ups.CreateUpload(ctx, cs, u, 8<<30, map[string]string{"filename": fmt.Sprintf("v%d.mp4", n), "filetype": "video/mp4"}, "")
		return err
	}
	var last *domain.Upload
	for i := range 8 {
		if err := video(f.cs, f.user, i); err != nil {
			t.Fatalf("video %d of 8 GiB: %v", i+1, err)
		}
	}
	mustQuotaExceeded(t, "ninth 8 GiB video in a day", video(f.cs, f.user, 9))
	// Another case of the same company shares the quota.
	cs2, err := f.db.CreateCase(ctx, f.user, "binhai", "BH", time.UTC, domain.NewCase{PermitType: "hotel", SiteName: "s2", SiteAddress: "a"})
	if err != nil {
		t.Fatal(err)
	}
	if err := video(cs2, f.user, 10); !errors.Is(err, domain.ErrTooLarge) {
		t.Fatalf("the company's other case: got %v, want ErrTooLarge", err)
	}
	// Another company is not held by it.
	other, err := f.db.CreateUser(ctx, "other", "correct horse battery", domain.RoleApplicant, "", "Other Co")
	if err != nil {
		t.Fatal(err)
	}
	cs3, err := f.db.CreateCase(ctx, other, "binhai", "BH", time.UTC, domain.NewCase{PermitType: "hotel", SiteName: "s3", SiteAddress: "a"})
	if err != nil {
		t.Fatal(err)
	}
	if err := video(cs3, other, 11); err != nil {
		t.Fatalf("another company: %v", err)
	}
	// Terminating an upload gives its bytes back.
	last, err = f.ups.CreateUpload(ctx, cs3, other, 1, map[string]string{"filename": "x.jpg"}, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.ups.Terminate(ctx, last.ID); err != nil {
		t.Fatalf("terminate: %v", err)
	}
	// Count: small uploads up to 1000 a day.
	n := 0
	for ; n < 1100; n++ {
		if _, err = f.ups.CreateUpload(ctx, cs3, other, 1, map[string]string{"filename": "x.jpg"}, ""); err != nil {
			break
		}
	}
	if n != 999 {
		t.Fatalf("small uploads: %d created then %v, want 999 (1000 with the video)", n, err)
	}
	mustQuotaExceeded(t, "upload 1001", err)
}

// TestUploadQuotaDeferredLength: an upload of deferred length (a phone's
// recording while it is made) counts the bytes it has received, not the
// largest file, so recordings in progress (or abandoned by a phone that
// lost its signal) do not use up the company's day. Its bytes are held to
// what is left of the quota as they arrive: a body that runs past it keeps
// what came before and is refused for the rest (413 upload_quota_exceeded),
// as is a declared length past it.
func TestUploadQuotaDeferredLength(t *testing.T) {
	const limit = 2*partSize + 1000
	f := newFixture(t, "disk", func(c *domain.UploadConfig) { c.CompanyDailyBytes = limit })
	ctx := context.Background()
	var takes []*domain.Upload
	for i := range 8 {
		up, err := f.ups.Create(ctx, f.cs, f.user, domain.UploadSpec{DeferLength: true, Metadata: map[string]string{"filename": fmt.Sprintf("take%d.webm", i)}})
		if err != nil {
			t.Fatalf("recording %d of 8 in progress: %v", i+1, err)
		}
		takes = append(takes, up)
	}
	a, b := takes[0], takes[1]
	data := mp4Bytes(2*partSize, 7)
	if got, _, err := f.ups.Append(ctx, a.ID, 0, bytes.NewReader(data[:partSize]), nil); err != nil || got.Offset != partSize {
		t.Fatalf("first recording's bytes: got %+v, %v", got, err)
	}
	if _, err := f.ups.CreateUpload(ctx, f.cs, f.user, partSize, map[string]string{"filename": "v.mp4"}, ""); err != nil {
		t.Fatalf("a file that fits beside it: %v", err)
	}
	// 1000 bytes are left: the second recording keeps 1000 of its 4096.
	_, _, err := f.ups.Append(ctx, b.ID, 0, bytes.NewReader(data[:4096]), nil)
	mustQuotaExceeded(t, "bytes past the quota", err)
	if up, err := f.ups.Upload(ctx, b.ID); err != nil || up.Offset != 1000 {
		t.Fatalf("second recording after the refusal: got %+v (%v), want its first 1000 bytes kept", up, err)
	}
	_, err = f.ups.CreateUpload(ctx, f.cs, f.user, 1, map[string]string{"filename": "x.jpg"}, "")
	mustQuotaExceeded(t, "one more byte", err)
	_, err = f.ups.DeclareLength(ctx, a.ID, partSize+1)
	mustQuotaExceeded(t, "a declared length past the quota", err)
	if up, err := f.ups.DeclareLength(ctx, a.ID, partSize); err != nil || up.LengthDeferred {
		t.Fatalf("declaring the bytes received: got %+v, %v", up, err)
	}
	if _, ev, err := f.ups.Append(ctx, a.ID, partSize, bytes.NewReader(nil), nil); err != nil || ev == nil {
		t.Fatalf("completing the first recording: got %v, %v", ev, err)
	}
}

func mustQuotaExceeded(t *testing.T, what string, err error) {
	t.Helper()
	var de *domain.Error
	if !errors.Is(err, domain.ErrTooLarge) || !errors.As(err, &de) || de.Code != domain.CodeUploadQuotaExceeded {
		t.Fatalf("%s: got %v, want ErrTooLarge %s", what, err, domain.CodeUploadQuotaExceeded)
	}
}

// TestUploadQuotaRacing: requests of one company arriving together cannot
// spend the same bytes of its daily quota, on any database and however
// many run at once: creations of declared length, and PATCHes to uploads
// of deferred length, each read what is left and take their share under
// the company's lock. A PATCH holds the room for its body while it runs
// and gives back what it did not take.
func TestUploadQuotaRacing(t *testing.T) {
	const limit, racers = 3000, 6
	f := newFixture(t, "disk", func(c *domain.UploadConfig) { c.CompanyDailyBytes = limit })
	ctx := context.Background()

	// Creations: each declares 2000 bytes, so one fits. Each waits after
	// its quota check until all have checked (or 2 s passed), so that
	// creations not kept apart by the company's lock would all pass it.
	var wg sync.WaitGroup
	errs := make(chan error, racers)
	checked, allChecked := barrier(racers)
	f.ups.AfterQuotaCheck(func() {
		checked <- struct{}{}
		<-allChecked
	})
	defer f.ups.AfterQuotaCheck(nil)
	for i := range racers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := f.ups.CreateUpload(ctx, f.cs, f.user, 2000, map[string]string{"filename": fmt.Sprintf("p%d.jpg", i)}, "")
			errs <- err
		}()
	}
	wg.Wait()
	f.ups.AfterQuotaCheck(nil)
	close(errs)
	created := 0
	for err := range errs {
		if err == nil {
			created++
			continue
		}
		mustQuotaExceeded(t, "a creation past the quota", err)
	}
	if created != 1 {
		t.Fatalf("creations of 2000 bytes racing under a quota of %d: %d created, want 1", limit, created)
	}

	// PATCHes: a second company, so the first's creation leaves it alone.
	// Every body waits on its first read until all have started (or 2 s
	// passed), so that each PATCH has read the quota before any byte
	// lands.
	other, err := f.db.CreateUser(ctx, "racer", "correct horse battery", domain.RoleApplicant, "", "Racer Co")
	if err != nil {
		t.Fatal(err)
	}
	cs, err := f.db.CreateCase(ctx, other, "binhai", "BH", time.UTC, domain.NewCase{PermitType: "hotel", SiteName: "r", SiteAddress: "a"})
	if err != nil {
		t.Fatal(err)
	}
	var takes []*domain.Upload
	for i := range racers {
		up, err := f.ups.Create(ctx, cs, other, domain.UploadSpec{DeferLength: true, Metadata: map[string]string{"filename": fmt.Sprintf("take%d.webm", i)}})
		if err != nil {
			t.Fatal(err)
		}
		takes = append(takes, up)
	}
	started, all := barrier(racers)
	data := mp4Bytes(2000, 3)
	for _, up := range takes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := &barrierReader{r: bytes.NewReader(data), started: started, all: all}
			if _, _, err := f.ups.Append(ctx, up.ID, 0, domain.SizedBody{Reader: body, Size: int64(len(data))}, nil); err != nil {
				mustQuotaExceededAsync(t, "a PATCH past the quota", err)
			}
		}()
	}
	wg.Wait()
	var sum int64
	for _, up := range takes {
		got, err := f.ups.Upload(ctx, up.ID)
		if err != nil {
			t.Fatal(err)
		}
		sum += got.Offset
	}
	if sum != limit {
		t.Fatalf("bytes kept by %d PATCHes of 2000 racing under a quota of %d: %d, want %d", racers, limit, sum, limit)
	}

	// A PATCH whose body breaks off gives back the room it held: of the
	// 2000 bytes it held it keeps 500, and its company has the rest left.
	third, err := f.db.CreateUser(ctx, "breaker", "correct horse battery", domain.RoleApplicant, "", "Breaker Co")
	if err != nil {
		t.Fatal(err)
	}
	cs3, err := f.db.CreateCase(ctx, third, "binhai", "BH", time.UTC, domain.NewCase{PermitType: "hotel", SiteName: "b", SiteAddress: "a"})
	if err != nil {
		t.Fatal(err)
	}
	take, err := f.ups.Create(ctx, cs3, third, domain.UploadSpec{DeferLength: true, Metadata: map[string]string{"filename": "take.webm"}})
	if err != nil {
		t.Fatal(err)
	}
	broken := io.MultiReader(bytes.NewReader(data[:500]), iotest.ErrReader(errors.New("the phone lost its signal")))
	if _, _, err := f.ups.Append(ctx, take.ID, 0, domain.SizedBody{Reader: broken, Size: 2000}, nil); err == nil {
		t.Fatal("a body that broke off: got no error")
	}
	if got, err := f.ups.Upload(ctx, take.ID); err != nil || got.Offset != 500 {
		t.Fatalf("the broken PATCH's upload: got %+v (%v), want its 500 bytes kept", got, err)
	}
	if _, err := f.ups.CreateUpload(ctx, cs3, third, limit-500, map[string]string{"filename": "rest.jpg"}, ""); err != nil {
		t.Fatalf("a file of the %d bytes left after the broken PATCH: %v (its hold was not given back)", limit-500, err)
	}
}

// barrier returns a channel that n parties send to as they arrive, and
// one closed once all n have arrived or 2 s have passed (when a lock keeps
// the others from arriving).
func barrier(n int) (chan<- struct{}, <-chan struct{}) {
	arrived, all := make(chan struct{}, n), make(chan struct{})
	go func() {
		defer close(all)
		timeout := time.After(2 * time.Second)
		for range n {
			select {
			case <-arrived:
			case <-timeout:
				return
			}
		}
	}()
	return arrived, all
}

// barrierReader is a body whose first Read tells started and waits for all.
type barrierReader struct {
	r       io.Reader
	started chan<- struct{}
	all     <-chan struct{}
	once    sync.Once
}

func (g *barrierReader) Read(p []byte) (int, error) {
	g.once.Do(func() {
		g.started <- struct{}{}
		<-g.all
	})
	return g.r.Read(p)
}

// mustQuotaExceededAsync is mustQuotaExceeded for a goroutine other than
// the test's: it reports with Errorf.
func mustQuotaExceededAsync(t *testing.T, what string, err error) {
	t.Helper()
	var de *domain.Error
	if !errors.Is(err, domain.ErrTooLarge) || !errors.As(err, &de) || de.Code != domain.CodeUploadQuotaExceeded {
		t.Errorf("%s: got %v, want ErrTooLarge %s", what, err, domain.CodeUploadQuotaExceeded)
	}
}
