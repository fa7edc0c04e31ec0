package server_test

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"siteinspect/domain"
	"siteinspect/internal/testenv"
	"siteinspect/server"
	"siteinspect/storage"
	"siteinspect/storage/objects"
)

// TestBundleOf2GiBStreamsInFlatMemory: a case whose original is 2 GiB (a
// sparse file on the disk store, so the test costs no disk and little
// time) downloads as a bundle over real HTTP while the process's heap grows
// by less than 64 MiB: the bundle is streamed, never built in memory. The
// client hashes what arrives and checks the original's entry against the
// file's own SHA-256.
func TestBundleOf2GiBStreamsInFlatMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("streams 2 GiB")
	}
	const size = 2 << 30
	ctx := context.Background()
	db := testenv.NewDB(t)
	dir := filepath.Join(t.TempDir(), "objects")
	store, err := objects.NewDisk(dir)
	if err != nil {
		t.Fatal(err)
	}
	ups, err := storage.NewUploads(db, store, domain.UploadConfig{SpoolDir: t.TempDir(), PartSize: objects.MinPartSize})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Config{DB: db, Objects: store, Uploads: ups, Office: "binhai", NumberPrefix: "BH", Location: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	app, err := db.CreateUser(ctx, "app", "password-app", domain.RoleApplicant, "", "Acme")
	if err != nil {
		t.Fatal(err)
	}
	insp, err := db.CreateUser(ctx, "insp", "password-insp", domain.RoleInspector, "", "binhai")
	if err != nil {
		t.Fatal(err)
	}
	cs, err := db.CreateCase(ctx, app, "binhai", "BH", time.UTC, domain.NewCase{PermitType: "hotel", SiteName: "s", SiteAddress: "a"})
	if err != nil {
		t.Fatal(err)
	}
	small := video(3000)
	up, err := ups.CreateUpload(ctx, cs, app, int64(len(small)), map[string]string{"filename": "short.mp4"}, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := ups.Append(ctx, up.ID, 0, bytes.NewReader(small), nil); err != nil {
		t.Fatal(err)
	}
	if cs, err = db.Case(ctx, cs.ID); err != nil {
		t.Fatal(err)
	}
	if cs, err = db.SubmitCase(ctx, cs, app, time.UTC); err != nil {
		t.Fatal(err)
	}
	if cs, err = db.AssignCase(ctx, cs, insp, "", ""); err != nil {
		t.Fatal(err)
	}

	// The original: an MP4 header, then a 2 GiB hole.
	key := domain.EvidenceKey(cs.ID, "big")
	name := filepath.Join(dir, filepath.FromSlash(key))
	if err := os.MkdirAll(filepath.Dir(name), 0o750); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.Write(video(64))
	if err == nil {
		err = f.Truncate(size)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	want := fileSHA(t, name)
	ev, err := db.AddObjectEvidence(ctx, domain.NewObjectEvidence{CaseID: cs.ID, Kind: domain.KindVideo, Filename: "walk.mp4",
		ContentType: "video/mp4", ObjectKey: key, SHA256: want, Size: size, By: insp.ID})
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := db.CreateSession(ctx, insp.ID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}

	hs := httptest.NewServer(srv)
	defer hs.Close()
	req, _ := http.NewRequest("GET", hs.URL+"/api/v1/cases/"+cs.ID+"/bundle.zip", nil)
	req.Header.Set("Authorization", "Bearer "+tok)

	// Sample the heap while the bundle passes.
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	// The client keeps the archive on disk (a sparse copy would not do:
	// the zip's bytes are written), reading it back with archive/zip.
	out, err := os.Create(filepath.Join(t.TempDir(), "bundle.zip"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	n, err := io.Copy(out, resp.Body)
	resp.Body.Close()
	elapsed := time.Since(start)
	close(stop)
	wg.Wait()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("bundle: got %d after %d bytes, %v", resp.StatusCode, n, err)
	}
	growth := int64(peak.Load()) - int64(base.HeapInuse)
	t.Logf("bundle of %d bytes in %s (%.0f MiB/s); heap in use %d MiB before, peak %d MiB (growth %d MiB)",
		n, elapsed.Round(time.Millisecond), float64(n)/(1<<20)/elapsed.Seconds(), base.HeapInuse>>20, peak.Load()>>20, growth>>20)
	if n < size {
		t.Fatalf("bundle: got %d bytes, want more than the %d-byte original", n, size)
	}
	if growth >= 64<<20 {
		t.Errorf("heap grew by %d MiB while the bundle streamed, want under 64 MiB", growth>>20)
	}

	zr, err := zip.NewReader(out, n)
	if err != nil {
		t.Fatalf("bundle is not a zip: %v", err)
	}
	var m server.BundleManifest
	for _, zf := range zr.File {
		switch zf.Name {
		case "evidence/" + ev.ID + "-walk.mp4":
			rc, err := zf.Open()
			if err != nil {
				t.Fatal(err)
			}
			h := sha256.New()
			got, err := io.Copy(h, rc)
			rc.Close()
			if err != nil || got != size || hex.EncodeToString(h.Sum(nil)) != want {
				t.Errorf("original in the bundle: %d bytes %x (%v); want %d bytes %s", got, h.Sum(nil), err, int64(size), want)
			}
		case server.BundleManifestName:
			rc, _ := zf.Open()
			b, _ := io.ReadAll(rc)
			rc.Close()
			mustUnmarshal(t, b, &m)
		}
	}
	var entry *server.BundleFile
	for i := range m.Files {
		if m.Files[i].EvidenceID == ev.ID {
			entry = &m.Files[i]
		}
	}
	if entry == nil || entry.Size != size || entry.SHA256 != want {
		t.Errorf("manifest: got %+v, want the big original with %d bytes %s", m.Files, int64(size), want)
	}
}

func fileSHA(t *testing.T, name string) string {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}
