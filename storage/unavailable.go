package storage

import (
	"context"
	"errors"
	"siteinspect/domain"
	"siteinspect/storage/objects"
)

// Classify looks through the chain of an error that carries no kind for a
// dependency that failed for now: a full disk (ErrInsufficientStorage), a
// database that is locked, read-only or failing, or an object store that
// did not answer (ErrUnavailable); or text the database refused to store
// (ErrInvalid). It returns an *Error with a message for
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
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		// The request ended or ran out of time: no dependency is to blame
		// (a context error also passes for a net.Error timeout).
		return err
	case diskFull(err):
		return domain.Coded(domain.ErrInsufficientStorage, domain.CodeDiskFull, "the server's disk is full; retry after space is freed (what was acknowledged is kept)")
	case databaseDown(err):
		return domain.Coded(domain.ErrUnavailable, domain.CodeDatabaseUnavailable, "the database cannot take writes right now; retry shortly")
	case objects.Unavailable(err):
		return domain.Coded(domain.ErrUnavailable, domain.CodeStorageUnavailable, "the file store is not answering; retry shortly (what was acknowledged is kept)")
	case badText(err):
		// The HTTP layer refuses such text first; this catches any path
		// it does not see (a header's value, a file name).
		return domain.Coded(domain.ErrInvalid, domain.CodeTextInvalid, "the request holds a NUL character or bytes that are not UTF-8, which cannot be stored")
	}
	return err
}

// badText: the database refused text it cannot store.
func badText(err error) bool {
	for _, dl := range dialects {
		if dl.BadText(err) {
			return true
		}
	}
	return false
}

// diskFull: the database's disk, the object store's or the server's own
// (the upload spool) is full.
func diskFull(err error) bool {
	for _, dl := range dialects {
		if dl.DiskFull(err) {
			return true
		}
	}
	return objects.DiskFull(err)
}

// databaseDown: either database says it cannot answer for now.
func databaseDown(err error) bool {
	for _, dl := range dialects {
		if dl.Unavailable(err) {
			return true
		}
	}
	return false
}
