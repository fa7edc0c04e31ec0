package storage

import (
	"errors"
	"net"
	"net/http"
	"siteinspect/domain"
	"syscall"

	"github.com/minio/minio-go/v7"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Classify looks through the chain of an error that carries no kind for a
// dependency that failed for now: a full disk (ErrInsufficientStorage), a
// database that is locked, read-only or failing, or an object store that
// did not answer (ErrUnavailable). It returns an *Error with a message for
// the client and a stable code, or err unchanged when it is none of these.
// It matches error types and codes (errno, SQLite result codes, S3 status
// codes, net errors), never message text.
func Classify(err error) error {
	var se *domain.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &se):
		return err // it has a kind already
	case diskFull(err):
		return domain.Coded(domain.ErrInsufficientStorage, domain.CodeDiskFull, "the server's disk is full; retry after space is freed (what was acknowledged is kept)")
	case databaseDown(err):
		return domain.Coded(domain.ErrUnavailable, domain.CodeDatabaseUnavailable, "the database cannot take writes right now; retry shortly")
	case objectStoreDown(err):
		return domain.Coded(domain.ErrUnavailable, domain.CodeStorageUnavailable, "the file store is not answering; retry shortly (what was acknowledged is kept)")
	}
	return err
}

// sqliteCode is the primary SQLite result code in err's chain, or 0.
func sqliteCode(err error) int {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() & 0xff
	}
	return 0
}

func diskFull(err error) bool {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) || sqliteCode(err) == sqlite3.SQLITE_FULL {
		return true
	}
	var me minio.ErrorResponse
	return errors.As(err, &me) && (me.StatusCode == http.StatusInsufficientStorage || me.Code == "XMinioStorageFull")
}

func databaseDown(err error) bool {
	switch sqliteCode(err) {
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN:
		return true
	}
	return false
}

// objectStoreDown: the store refused the connection, reset it, timed out,
// or answered that it cannot serve now (503: starting up, slow down, no
// quorum). A network error on a request path is taken to be the object
// store's: it is the one remote dependency nearly every request has.
func objectStoreDown(err error) bool {
	var me minio.ErrorResponse
	if errors.As(err, &me) {
		return me.StatusCode == http.StatusServiceUnavailable || me.Code == "SlowDown" || me.Code == "XMinioServerNotInitialized"
	}
	var op *net.OpError
	var ne net.Error
	return errors.As(err, &op) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		(errors.As(err, &ne) && ne.Timeout())
}
