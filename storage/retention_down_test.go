package storage_test

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"siteinspect/domain"
	"siteinspect/internal/testenv"
	"siteinspect/storage"
	"siteinspect/storage/objects"
)

// storeFront forwards TCP connections to MinIO; stop closes them and the
// listener (the store's address refuses connections, as when MinIO is
// stopped) and start listens on the same address again.
type storeFront struct {
	t      *testing.T
	addr   string
	target string
	mu     sync.Mutex
	ln     net.Listener
	conns  []net.Conn
}

func newStoreFront(t *testing.T, target string) *storeFront {
	f := &storeFront{t: t, target: target, addr: "127.0.0.1:0"}
	f.start()
	f.addr = f.ln.Addr().String()
	t.Cleanup(f.stop)
	return f
}

func (f *storeFront) start() {
	ln, err := net.Listen("tcp", f.addr)
	if err != nil {
		f.t.Fatal(err)
	}
	f.mu.Lock()
	f.ln = ln
	f.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", f.target)
			if err != nil {
				c.Close()
				continue
			}
			f.mu.Lock()
			f.conns = append(f.conns, c, up)
			f.mu.Unlock()
			go func() { io.Copy(up, c); up.Close() }()
			go func() { io.Copy(c, up); c.Close() }()
		}
	}()
}

func (f *storeFront) stop() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ln.Close()
	for _, c := range f.conns {
		c.Close()
	}
	f.conns = nil
}

// TestLegalHoldLiftConvergesAfterStoreFailure: a lift whose release of the
// originals fails because the object store does not answer is recorded
// (the record goes first) and answers the store's error; the lift tried
// again once the store is back is refused as the case is not held, but
// releases the originals, which the failed one left held for good (no
// lift could reach them any more, and the purge waits on them forever).
func TestLegalHoldLiftConvergesAfterStoreFailure(t *testing.T) {
	ctx := context.Background()
	f := newRetentionFixture(t, time.Hour)
	cfg := testenv.MinIOConfig(t)
	cfg.Bucket = f.minio.Bucket()
	cfg.Retention = f.ret.Lock
	front := newStoreFront(t, cfg.Endpoint)
	cfg.Endpoint = front.addr
	viaFront, err := objects.NewMinIO(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	cs, ev := f.caseWithEvidence(t, true)
	ret := &storage.Retention{DB: f.db, Default: time.Hour, Objects: viaFront}
	if _, err := ret.SetLegalHold(ctx, cs, f.admin, true, "appeal 2026-3"); err != nil {
		t.Fatal(err)
	}
	front.stop()
	if _, err := ret.SetLegalHold(ctx, cs, f.admin, false, "appeal decided"); !errors.Is(storage.Classify(err), domain.ErrUnavailable) {
		t.Fatalf("lift with the store down: got %v, want the store's unavailability", err)
	}
	front.start()
	_, err = ret.SetLegalHold(ctx, cs, f.admin, false, "appeal decided")
	var se *domain.Error
	if !errors.As(err, &se) || se.Code != storage.CodeHoldNotSet {
		t.Fatalf("lift again with the store back: got %v, want %s", err, storage.CodeHoldNotSet)
	}
	if on, err := f.minio.LegalHold(ctx, ev.ObjectKey); err != nil || on {
		t.Errorf("original after the lift was tried again: legal hold %v (%v), want released", on, err)
	}
}
