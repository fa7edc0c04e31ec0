package storage_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
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
	err := video(f.cs, f.user, 9)
	var de *domain.Error
	if !errors.Is(err, domain.ErrTooLarge) || !errors.As(err, &de) || de.Code != "upload_quota_exceeded" {
		t.Fatalf("ninth 8 GiB video in a day: got %v, want ErrTooLarge upload_quota_exceeded", err)
	}
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
	if n != 999 || !errors.As(err, &de) || de.Code != "upload_quota_exceeded" {
		t.Fatalf("small uploads: %d created then %v, want 999 (1000 with the video) then upload_quota_exceeded", n, err)
	}
}
