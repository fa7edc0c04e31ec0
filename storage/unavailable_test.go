package storage_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/minio/minio-go/v7"

	"siteinspect/domain"
	"siteinspect/internal/testenv"
	"siteinspect/storage"
)

// TestClassify: the failures of real dependencies, wrapped as the stores
// wrap them, become the kinds and codes the HTTP layer answers 503 or 507
// to; other errors stay as they are.
func TestClassify(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()

	// SQLite's own BUSY: a second connection wants the write lock the
	// first one holds, and waits for it not at all.
	dbPath := filepath.Join(dir, "busy.db")
	open := func() *sql.DB {
		db, err := sql.Open("sqlite", "file:"+dbPath+"?_pragma=busy_timeout(0)&_pragma=journal_mode(WAL)")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		db.SetMaxOpenConns(1)
		return db
	}
	holder, waiter := open(), open()
	if _, err := holder.Exec(`CREATE TABLE t (x INTEGER)`); err != nil {
		t.Fatal(err)
	}
	tx, err := holder.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.Exec(`INSERT INTO t VALUES (1)`); err != nil {
		t.Fatal(err)
	}
	_, busy := waiter.Exec(`INSERT INTO t VALUES (2)`)
	if busy == nil {
		t.Fatal("second writer: got no error, want SQLITE_BUSY")
	}

	// A refused connection, as minio-go meets it when the store is down.
	port := testenv.FreePort(t)
	_, refused := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if refused == nil {
		t.Fatalf("dial a closed port %d: got no error", port)
	}

	// A write to a full disk, as os.File reports it.
	full := &os.PathError{Op: "write", Path: "spool/1", Err: syscall.ENOSPC}

	for _, tt := range []struct {
		name     string
		err      error
		wantKind error
		wantCode string
	}{
		{"sqlite busy", fmt.Errorf("create case: %w", busy), domain.ErrUnavailable, domain.CodeDatabaseUnavailable},
		{"connection refused", fmt.Errorf("put part 2: %w", refused), domain.ErrUnavailable, domain.CodeStorageUnavailable},
		{"s3 503", fmt.Errorf("put part 2: %w", minio.ErrorResponse{Code: "XMinioServerNotInitialized", StatusCode: 503}), domain.ErrUnavailable, domain.CodeStorageUnavailable},
		{"disk full", fmt.Errorf("spool: %w", full), domain.ErrInsufficientStorage, domain.CodeDiskFull},
		{"s3 storage full", minio.ErrorResponse{Code: "XMinioStorageFull", StatusCode: 507}, domain.ErrInsufficientStorage, domain.CodeDiskFull},
		{"s3 access denied", minio.ErrorResponse{Code: "AccessDenied", StatusCode: 403}, nil, ""},
		{"a plain error", errors.New("hash state: bad length"), nil, ""},
		{"a kind already", errors.Join(&domain.Error{Kind: domain.ErrConflict, Message: "taken"}, busy), nil, ""},
	} {
		got := storage.Classify(tt.err)
		if tt.wantKind == nil {
			if got != tt.err {
				t.Errorf("%s: got %v, want the error unchanged", tt.name, got)
			}
			continue
		}
		var se *domain.Error
		if !errors.Is(got, tt.wantKind) || !errors.As(got, &se) || se.Code != tt.wantCode {
			t.Errorf("%s (%v): got %#v, want kind %v with code %q", tt.name, tt.err, got, tt.wantKind, tt.wantCode)
		}
	}
}
